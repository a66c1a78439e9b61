"""Where a platform's manifests come from: a local directory, a remote archive, or a mirror.

Interface: `resolve_source` turns a source into a local directory. The remote resources kustomizations
list themselves (fetched by kustomize at build time) are kfctl.platform.remote's.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from kfctl.errors import SourceError
from kfctl.http import httpx
from kfctl.platform.locations import apply_mirror as _apply_mirror
from kfctl.platform.locations import as_local_path as _as_local_path
from kfctl.platform.locations import first_line as _first_line
from kfctl.platform.locations import make_dir as _make_dir
from kfctl.platform.locations import redact_url as _redact_url
from kfctl.platform.locations import scrub as _scrub
from kfctl.platform.locations import strip_userinfo as _strip_userinfo
from kfctl.platform.locations import write_atomically as _write_atomically


@dataclass(frozen=True)
class SourceSpec:
    """One manifest source as the catalog, the app config or the command line states it.

    name:          the catalog's key for it (e.g. "kubeflow-manifests", "kfp-tekton")
    dir_name:      the folder name a manifests directory holds it under (e.g. "kubeflow-manifests-v1.10.2")
    path:          a local directory (absolute, or relative to the config file's directory, already resolved)
    url:           a remote .tar.gz / .tgz / .zip archive (http or https)
    sha256:        the archive's pinned digest (hex); None: recorded in the lock file on first download
    strip_prefix:  a top folder inside the archive to strip (e.g. "manifests-1.10.2"); None: auto
                   (strip the single top-level folder when there is exactly one)
    """

    name: str
    dir_name: str
    path: Path | None = None
    url: str | None = None
    sha256: str | None = None
    strip_prefix: str | None = None


@dataclass
class SourceContext:
    """What resolving needs beyond the spec.

    manifests_dir: --manifests-dir or $KFCTL_MANIFESTS_DIR: a directory that either IS the source
                   (used when it is the only source) or holds it as <manifests_dir>/<dir_name>
    cache_dir:     where downloaded archives are unpacked, content-addressed by digest
    lock_file:     YAML file recording url -> sha256 for sources without a pinned digest
    mirrors:       prefix map: a URL that starts with a key is fetched from the value instead
                   (another URL, or a local file/directory path) — for air-gapped clusters
    """

    cache_dir: Path
    lock_file: Path | None = None
    manifests_dir: Path | None = None
    mirrors: dict[str, str] = field(default_factory=dict)


# Per chunk, not for the whole body: a big archive on a slow link still finishes.
_DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_CHUNK_SIZE = 1 << 16
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# Sources may be resolved from several threads; the lock file is read-modify-written.
_LOCK_FILE_GUARD = threading.Lock()


# --- resolving a source -----------------------------------------------------------------------------------------


def resolve_source(spec: SourceSpec, context: SourceContext, *, only_source: bool = False) -> Path:
    """Return a local directory holding the source's manifests tree.

    Precedence: --manifests-dir, then the spec's local path, then its URL (mirrored, digest-checked, cached).
    `only_source`: the run needs no other source, so --manifests-dir may be the source itself.
    """
    if context.manifests_dir is not None:
        return _from_manifests_dir(spec, context.manifests_dir, only_source=only_source)
    if spec.path is not None:
        if not spec.path.is_dir():
            raise SourceError(
                f"source {spec.name!r}: path {spec.path} is not a directory; "
                "fix `path:` under `source:` in the config, or pass --manifests-dir"
            )
        return spec.path
    if spec.url is not None:
        return _from_url(spec, spec.url, context)
    raise SourceError(
        f"source {spec.name!r} has no path or url; set `source:` (path or url) in the config, "
        f"or point --manifests-dir (or KFCTL_MANIFESTS_DIR) at a folder holding {spec.dir_name}"
    )


def _from_manifests_dir(spec: SourceSpec, manifests_dir: Path, *, only_source: bool) -> Path:
    nested = manifests_dir / spec.dir_name
    if nested.is_dir():
        return nested
    if only_source and manifests_dir.is_dir():
        return manifests_dir
    fix = f"point it at a folder holding {spec.dir_name}" + (", or at that folder itself" if only_source else "")
    if not manifests_dir.is_dir():
        raise SourceError(f"--manifests-dir {manifests_dir} is not a directory; {fix}")
    raise SourceError(f"--manifests-dir {manifests_dir}: {nested} does not exist; {fix}")


def _from_url(spec: SourceSpec, url: str, context: SourceContext) -> Path:
    shown = _redact_url(url)
    expected, origin, accept = _expected_digest(spec, context.lock_file, shown)

    fetch: str | Path = url
    mirrored = _apply_mirror(_strip_userinfo(url), context.mirrors)
    if mirrored is not None:
        local = _as_local_path(mirrored)
        if local is None:
            fetch = mirrored
        elif local.is_dir():
            return local  # an unpacked mirror: no archive to digest, whoever filled the mirror vouches for it
        elif local.is_file():
            fetch = local
        else:
            raise SourceError(f"{shown}: its mirror {local} does not exist; fix the mirrors entry that maps this URL")

    # The digest names the cache folder: a hit needs neither the network nor re-hashing.
    if expected is not None and (context.cache_dir / expected).is_dir():
        return _tree_root(context.cache_dir / expected, spec, shown)

    _make_dir(context.cache_dir, "cache dir")
    with _archive(fetch, context.cache_dir) as (archive, actual):
        if expected is not None and actual != expected:
            via = "" if fetch == url else f" (fetched from mirror {_redact_url(str(fetch))})"
            raise SourceError(
                f"{shown}{via}: sha256 mismatch: expected {expected} ({origin}), got {actual}; "
                f"tampered or changed archive. If the new archive is intended, {accept}"
            )
        unpacked = _unpack_into_cache(archive, actual, context.cache_dir, shown)
    if expected is None and context.lock_file is not None:
        _record_digest(context.lock_file, shown, actual)
    return _tree_root(unpacked, spec, shown)


def _expected_digest(spec: SourceSpec, lock_file: Path | None, shown: str) -> tuple[str | None, str, str]:
    """The digest the archive must have, where it was stated, and how to accept a changed archive."""
    if spec.sha256:
        digest = spec.sha256.strip().lower().removeprefix("sha256:")
        if not _HEX_DIGEST.fullmatch(digest):
            raise SourceError(
                f"source {spec.name!r}: sha256 {spec.sha256!r} is not a 64-digit hex digest; "
                "fix `sha256:` under `source:` in the config"
            )
        return digest, "pinned in the config", "update `sha256:` under `source:` in the config"
    if lock_file is not None:
        locked = _read_lock(lock_file).get(shown)
        if locked is not None:
            return locked, f"lock file {lock_file}", f"delete its entry from {lock_file}"
    return None, "", ""


@contextmanager
def _archive(fetch: str | Path, cache_dir: Path) -> Iterator[tuple[Path, str]]:
    """The archive as a local file and its sha256; a download lives in `cache_dir` until the block ends."""
    if isinstance(fetch, Path):
        yield fetch, _sha256_of(fetch)
        return
    part, digest = _download(fetch, cache_dir)
    try:
        yield part, digest
    finally:
        part.unlink(missing_ok=True)


def _download(url: str, into: Path) -> tuple[Path, str]:
    """Stream `url` to a temporary file in `into`, hashing as it arrives."""
    shown = _redact_url(url)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"{shown}: unsupported URL scheme {scheme!r}; use an http(s) URL, or map it to a mirror")
    fd, name = tempfile.mkstemp(dir=into, prefix=".download-", suffix=".part")
    part = Path(name)
    digest = hashlib.sha256()
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.Client(timeout=_DOWNLOAD_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise SourceError(
                    f"{shown}: download failed with HTTP {response.status_code} {response.reason_phrase}; "
                    "check the URL and its credentials, or map it to a mirror"
                )
            for chunk in response.iter_bytes(_CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
    except SourceError:
        part.unlink(missing_ok=True)
        raise
    except httpx.InvalidURL:
        part.unlink(missing_ok=True)
        raise SourceError(f"{shown} is not a valid URL; fix `url:` under `source:` in the config") from None
    except httpx.HTTPError as e:
        part.unlink(missing_ok=True)
        reason = _scrub(str(e), url) or type(e).__name__
        raise SourceError(
            f"{shown}: download failed ({type(e).__name__}: {reason}); check the network and the URL, "
            "or map it to a reachable mirror"
        ) from e
    except OSError as e:
        part.unlink(missing_ok=True)
        raise SourceError(
            f"cannot write the download of {shown} to {into}: {e.strerror}; free space or fix permissions"
        ) from e
    return part, digest.hexdigest()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK_SIZE):
                digest.update(chunk)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror}; fix its permissions or the mirrors entry") from e
    return digest.hexdigest()


# --- the lock file ----------------------------------------------------------------------------------------------


def _read_lock(lock_file: Path) -> dict[str, str]:
    if not lock_file.exists():
        return {}
    try:
        document = yaml.safe_load(lock_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SourceError(f"lock file {lock_file} cannot be read ({_first_line(e)}); fix or delete it") from e
    if document is None:
        return {}
    sources = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(sources, dict | None):
        raise SourceError(f"lock file {lock_file}: expected a mapping `sources: {{url: sha256}}`; fix or delete it")
    if sources is None:
        return {}
    for url, digest in sources.items():
        if not isinstance(url, str) or not isinstance(digest, str) or not _HEX_DIGEST.fullmatch(digest):
            raise SourceError(
                f"lock file {lock_file}: entry {url!r} is not `url: <64-digit hex sha256>`; fix or delete that entry"
            )
    return sources


def _record_digest(lock_file: Path, shown: str, digest: str) -> None:
    """Add `shown: digest` under `sources:`, keeping the other entries and any comments."""
    rt = YAML()
    with _LOCK_FILE_GUARD:
        _read_lock(lock_file)  # validates the shape before it is edited
        try:
            document = rt.load(lock_file.read_text(encoding="utf-8")) if lock_file.exists() else None
        except (OSError, RuamelYAMLError) as e:
            raise SourceError(f"lock file {lock_file} cannot be read ({_first_line(e)}); fix or delete it") from e
        if document is None:
            document = CommentedMap()
        if document.get("sources") is None:
            document["sources"] = CommentedMap()
        document["sources"][shown] = digest
        _make_dir(lock_file.parent, "lock file's folder")
        text = StringIO()
        rt.dump(document, text)
        _write_atomically(lock_file, text.getvalue())


# --- unpacking --------------------------------------------------------------------------------------------------


def _unpack_into_cache(archive: Path, digest: str, cache_dir: Path, shown: str) -> Path:
    """Unpack into `cache_dir/<digest>` all at once: a folder there is always complete."""
    final = cache_dir / digest
    if final.is_dir():
        return final  # an earlier run unpacked the same bytes
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".unpack-{digest[:12]}-"))
    try:
        _extract(archive, staging, shown)
        try:
            staging.rename(final)
        except OSError as e:
            if not final.is_dir():
                raise SourceError(f"cannot write {final}: {e.strerror}; fix the cache dir's permissions") from e
            shutil.rmtree(staging, ignore_errors=True)  # a concurrent run renamed the same bytes first
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _extract(archive: Path, dest: Path, shown: str) -> None:
    # tar first: a zip's marker sits at the end of the file, so a tar ending in a zip member would pass as one.
    if _is_tar(archive):
        try:
            with tarfile.open(archive, "r:*") as tar:
                _extract_tar(tar, dest, shown)
        except (tarfile.TarError, EOFError, zlib.error) as e:  # truncated or corrupt after a valid start
            raise _unreadable(shown, e) from e
        except OSError as e:
            raise _cannot_unpack(dest, e) from e
        return
    if not zipfile.is_zipfile(archive):
        raise _unreadable(shown, "neither a tar nor a zip archive")
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if not names:
                raise _unreadable(shown, "no members")
            for name in names:
                _check_member_name(name, shown)
            zf.extractall(dest)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
        raise _unreadable(shown, e) from e
    except OSError as e:
        raise _cannot_unpack(dest, e) from e


def _is_tar(archive: Path) -> bool:
    try:
        with tarfile.open(archive, "r:*"):
            return True
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        return False


def _extract_tar(tar: tarfile.TarFile, dest: Path, shown: str) -> None:
    members = tar.getmembers()
    if not members:
        raise _unreadable(shown, "no members")
    for member in members:
        _check_member_name(member.name, shown)
        if member.issym():
            target = posixpath.join(posixpath.dirname(member.name), member.linkname)
            if member.linkname.startswith("/") or _escapes(target):
                raise _unsafe(shown, f"symlink {member.name!r} -> {member.linkname!r} points outside it")
        elif member.islnk():
            if member.linkname.startswith("/") or _escapes(member.linkname):
                raise _unsafe(shown, f"hard link {member.name!r} -> {member.linkname!r} points outside it")
        elif not (member.isfile() or member.isdir()):
            raise _unsafe(shown, f"member {member.name!r} is a device or fifo")
    if hasattr(tarfile, "data_filter"):
        # The "data" filter also resolves links already on disk, which catches chains the checks above cannot see.
        try:
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as e:
            raise _unsafe(shown, str(e)) from e
    else:  # Python < 3.11.4: the member checks above are the guard
        tar.extractall(dest)


def _check_member_name(name: str, shown: str) -> None:
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise _unsafe(shown, f"member {name!r} has an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise _unsafe(shown, f"member {name!r} climbs out of it with '..' (path traversal)")


def _escapes(relative: str) -> bool:
    normal = posixpath.normpath(relative)
    return normal == ".." or normal.startswith("../")


def _unsafe(shown: str, what: str) -> SourceError:
    return SourceError(f"{shown}: unsafe archive: {what}; refusing to unpack it, check where the archive comes from")


def _cannot_unpack(dest: Path, error: OSError) -> SourceError:
    return SourceError(f"cannot unpack into {dest.parent}: {error.strerror or error}; free space or fix permissions")


def _unreadable(shown: str, why: object) -> SourceError:
    return SourceError(
        f"{shown}: not a readable .tar.gz, .tgz, .tar or .zip archive ({_first_line(why)}); "
        "check that the URL points at an archive"
    )


def _tree_root(unpacked: Path, spec: SourceSpec, shown: str) -> Path:
    """Strip `strip_prefix`, or the single top folder archives of a repository usually have."""
    if spec.strip_prefix:
        prefix = spec.strip_prefix.strip("/")
        root = unpacked / prefix
        if prefix.startswith("\\") or _escapes(prefix) or not root.is_dir():
            top = ", ".join(sorted(p.name for p in unpacked.iterdir())) or "nothing"
            raise SourceError(
                f"source {spec.name!r}: {shown} has no folder {spec.strip_prefix!r} (its top level holds {top}); "
                "fix `strip_prefix:` under `source:` in the config"
            )
        return root
    # macOS archivers add __MACOSX beside the real top folder.
    entries = [p for p in unpacked.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked
