"""The render cache: each component's kustomize output, keyed by a digest of everything that determines it.

The key covers the generated kustomization (paths, overlay, overrides), the content of every source tree it
reads (the release, the project's kustomize components, the mirrored copies it is pointed at), and the
kustomize binary and version. A component whose build fetches from the network is never cached: what a URL
serves can change. Entries are written to a temporary file and renamed, so a reader sees a whole entry or
none, and carry a digest of their body, so a damaged one is a miss. The cache is bounded: after a run that
wrote to it, the least recently used entries go until it is under its size limit.

Hashing a release's ~1,000 files takes about half a second; a tree's content digest is kept beside the
entries under a fingerprint of its files' names, sizes and modification times, so an unchanged tree costs
one directory walk (a touched but unchanged file costs a re-hash, never a wrong hit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kfctl.platform.catalog import PROJECT_PREFIX
from kfctl.platform.locations import write_atomically
from kfctl.render.kustomize import Kustomize

if TYPE_CHECKING:
    from kfctl.render.resolve import ResolvedComponent

FORMAT = "kfctl-render-cache/1"
NO_CACHE_ENV = "KFCTL_NO_CACHE"
MAX_SIZE_ENV = "KFCTL_CACHE_MAX_MB"
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
_HEADER = "# kfctl-render-cache sha256="
KEY_AT = Path("/kfctl-render-cache")  # where the kustomization is "written" for the key: paths stay absolute-stable


def cache_root() -> Path:
    """$KFCTL_CACHE_DIR, else ~/.cache/kfctl (downloads, mirrored copies and renders live under it)."""
    return Path(os.environ.get("KFCTL_CACHE_DIR") or Path.home() / ".cache" / "kfctl")


def cache_disabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") not in ("", "0")


def max_bytes() -> int:
    configured = os.environ.get(MAX_SIZE_ENV, "")
    return int(configured) * 1024 * 1024 if configured.isdigit() else DEFAULT_MAX_BYTES


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file under `root` (following symlinks, as kustomize does: mirrored folders are links), sorted."""
    if root.is_file():
        yield root.name, root
        return
    seen: set[str] = set()
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:  # a link cycle: walked once
            subdirectories[:] = []
            continue
        seen.add(real)
        subdirectories.sort()
        for name in sorted(files):
            path = Path(directory, name)
            yield path.relative_to(root).as_posix(), path


class TreeDigests:
    """Content digests of source trees, remembered on disk under the trees' stat fingerprints."""

    def __init__(self, index_file: Path) -> None:
        self.index_file = index_file
        self._memo: dict[str, str] = {}
        self._lock = threading.Lock()
        self._changed = False
        try:
            self._index: dict[str, dict[str, str]] = json.loads(index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._index = {}

    def digest(self, root: Path) -> str:
        key = str(root)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
            files = list(_files(root))
            fingerprint = hashlib.sha256()
            for relative, path in files:
                stat = path.stat()
                fingerprint.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\n".encode())
            known = self._index.get(key, {})
            if known.get("fingerprint") == fingerprint.hexdigest():
                content = known["content"]
            else:
                hasher = hashlib.sha256()
                for relative, path in files:
                    hasher.update(f"{relative}\0".encode())
                    hasher.update(hashlib.sha256(path.read_bytes()).digest())
                content = hasher.hexdigest()
                self._index[key] = {"fingerprint": fingerprint.hexdigest(), "content": content}
                self._changed = True
            self._memo[key] = content
            return content

    def save(self) -> None:
        with self._lock:
            if self._changed:
                # Trees that are gone (a deleted checkout, a test's copy) leave the index with them.
                kept = {root: known for root, known in self._index.items() if os.path.exists(root)}
                _atomic_write(self.index_file, json.dumps(kept, sort_keys=True))
                self._changed = False


@dataclass
class RenderCache:
    """One run's view of the cache; thread-safe (components render in parallel)."""

    directory: Path
    kustomize: Kustomize
    limit: int = DEFAULT_MAX_BYTES
    hits: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trees = TreeDigests(self.directory / "trees.json")
        self._lock = threading.Lock()
        binary = Path(self.kustomize.command[0])
        try:
            stat = binary.stat()
            self._binary = f"{binary}\0{stat.st_size}\0{stat.st_mtime_ns}"
        except OSError:
            self._binary = str(binary)

    @classmethod
    def open(cls, kustomize: Kustomize) -> RenderCache:
        return cls(cache_root() / "render", kustomize, max_bytes())

    def key(
        self, component: ResolvedComponent, kustomization: dict[str, Any], remote: list[tuple[bool, Path | None]]
    ) -> str | None:
        """The entry's key; None when the build fetches from the network (never cached).
        `remote`: (covered, local copy) of each remote entry the component's build reaches."""
        if any(not covered for covered, _local in remote):
            return None
        trees = {str(component.source_root): self.trees.digest(component.source_root)}
        if component.project_root is not None and any(p.startswith(PROJECT_PREFIX) for p in component.paths):
            trees[str(component.project_root)] = self.trees.digest(component.project_root)
        for _covered, local in remote:
            if local is not None and local.exists():
                trees[str(local)] = self.trees.digest(local)
        material = {
            "format": FORMAT,
            "kustomize": [list(self.kustomize.command), str(self.kustomize.version), self._binary],
            "component": component.name,
            "kustomization": kustomization,
            "trees": trees,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.yaml"

    def get(self, key: str, name: str) -> str | None:
        path = self._path(key)
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            self._count(self.misses, name)
            return None
        header, _newline, body = raw.partition("\n")
        if header != _HEADER + hashlib.sha256(body.encode()).hexdigest():
            path.unlink(missing_ok=True)  # damaged: rebuilt and rewritten
            self._count(self.misses, name)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        self._count(self.hits, name)
        return body

    def put(self, key: str, text: str) -> None:
        _atomic_write(self._path(key), f"{_HEADER}{hashlib.sha256(text.encode()).hexdigest()}\n{text}")

    # The parsed objects beside an entry, as JSON: reading them back costs a tenth of parsing the YAML
    # again, which is most of what a no-op apply would spend. Written once a run has parsed them all.

    def _parsed_path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def parsed(self, key: str, text: str, count: int) -> list[dict[str, Any]] | None:
        """The parsed objects (in output order) stored for the entry whose body is `text`; None when missing
        or not matching."""
        try:
            stored = json.loads(self._parsed_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("body") != hashlib.sha256(text.encode()).hexdigest():
            return None
        objects = stored.get("objects")
        return objects if isinstance(objects, list) and len(objects) == count else None

    def put_parsed(self, key: str, text: str, objects: list[dict[str, Any]]) -> None:
        """Kept only when JSON holds them exactly (YAML can load dates and non-string keys JSON cannot)."""
        try:
            encoded = json.dumps({"body": hashlib.sha256(text.encode()).hexdigest(), "objects": objects})
        except (TypeError, ValueError):
            return
        if json.loads(encoded)["objects"] != objects:
            return
        _atomic_write(self._parsed_path(key), encoded)

    def _count(self, where: list[str], name: str) -> None:
        with self._lock:
            where.append(name)

    def finish(self) -> None:
        """Save tree digests; prune when this run wrote entries."""
        self.trees.save()
        if self.misses:
            prune(self.directory, self.limit)

    def summary(self) -> dict[str, object]:
        return {"hits": len(self.hits), "misses": len(self.misses)}


def entries(directory: Path) -> list[tuple[Path, os.stat_result]]:
    """The rendered entries (their parsed objects, `.json` beside them, go with them)."""
    found = []
    for path in directory.glob("??/*.yaml"):
        try:
            found.append((path, path.stat()))
        except OSError:
            continue  # removed by a concurrent run
    return found


def prune(directory: Path, limit: int) -> int:
    """Remove least recently used entries until the cache holds at most `limit` bytes; returns how many went."""
    found = sorted(entries(directory), key=lambda item: item[1].st_mtime)
    total = sum(stat.st_size for _path, stat in found)
    removed = 0
    for path, stat in found:
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        total -= stat.st_size
        removed += 1
    return removed


def clean(root: Path) -> dict[str, int]:
    """`kfctl cache clean`: every rendered entry, tree digest and mirrored copy (all rebuilt offline when
    needed). Downloaded release archives stay: fetching them again needs the network."""
    import shutil

    removed = {"renders": 0, "mirroredTrees": 0, "bytes": 0}
    render = root / "render"
    for path, stat in entries(render):
        path.unlink(missing_ok=True)
        removed["renders"] += 1
        removed["bytes"] += stat.st_size
    if render.is_dir():
        shutil.rmtree(render, ignore_errors=True)
    mirrored = root / "mirrored"
    if mirrored.is_dir():
        for tree in mirrored.iterdir():
            removed["bytes"] += sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
            shutil.rmtree(tree, ignore_errors=True)
            removed["mirroredTrees"] += 1
    (root / "kustomize-versions.json").unlink(missing_ok=True)
    return removed
