"""Runs the real kustomize: `kustomize` on PATH, else `kubectl kustomize`, or --kustomize-bin."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from kfctl.errors import RenderError, SourceError

MINIMUM_VERSION = Version("5.0.0")
# Deprecation warnings (upstream still uses vars, bases, patchesJson6902) are not errors.
NOISE = re.compile(r"^(# Warning: |.*well-defined vars that were never replaced)")


@dataclass(frozen=True)
class Kustomize:
    """A resolved kustomize command: argv prefix and version."""

    command: tuple[str, ...]
    version: Version

    @property
    def label(self) -> str:
        return f"{' '.join(self.command)} (kustomize v{self.version})"

    def build(self, directory: Path, label: str | None = None) -> str:
        """`kustomize build DIR`; a failure names `label` (or DIR) and kustomize's innermost error."""
        what = label or str(directory)
        try:
            result = subprocess.run(
                [*self.command, str(directory)],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env=build_environment(),
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"{what}: kustomize build did not finish in 300s") from None
        if result.returncode != 0:
            raise RenderError(
                f"{what}: kustomize build failed: {_first_error(result.stderr)}",
                hint="fix the kustomization (or the component's overrides) and retry",
            )
        return result.stdout


def build_environment() -> dict[str, str]:
    """kustomize is a short-lived, allocation-heavy process: a lazier garbage collector (GOGC=400)
    cuts its CPU time by about a third at the cost of some memory. The user's GOGC wins."""
    return {"GOGC": "400", **os.environ}


def _first_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not NOISE.match(line.strip())]
    text = " ".join(lines) or "no error output"
    text = re.sub(r"^E\d{4} [\d:.]+\s+\d+ \S+\] ", "", text)
    text = text.replace('"command failed" err=', "").removeprefix("Error: ").strip('"')
    # kustomize nests its errors ("accumulating resources from ...: ..."); the cause comes last.
    return text if len(text) <= 400 else "…" + text[-400:]


def find_kustomize(explicit: str | None = None, *, use_cache: bool = False) -> Kustomize:
    """The kustomize to use: explicit bin, $KFCTL_KUSTOMIZE_BIN, `kustomize`, else `kubectl kustomize`.
    `use_cache`: the version found for the same binary (path, size, mtime) on an earlier run is reused,
    so a render served from the cache runs no kustomize at all."""
    explicit = explicit or os.environ.get("KFCTL_KUSTOMIZE_BIN")
    if explicit:
        path = shutil.which(explicit)
        if not path:
            raise RenderError(
                f"--kustomize-bin {explicit}: not found or not executable",
                hint="pass the path of a kustomize or kubectl binary",
            )
        return _probe_cached(path) if use_cache else _probe(path)
    for candidate in ("kustomize", "kubectl"):
        path = shutil.which(candidate)
        if path:
            return _probe_cached(path) if use_cache else _probe(path)
    raise RenderError(
        "kustomize not found: neither `kustomize` nor `kubectl` is on PATH",
        hint=f"install kustomize >= v{MINIMUM_VERSION} or kubectl >= 1.27, or pass --kustomize-bin",
    )


def _versions_file() -> Path:
    from kfctl.render.cache import cache_root

    return cache_root() / "kustomize-versions.json"


def _probe_cached(path: str) -> Kustomize:
    """_probe, remembered on disk per binary (a file write is atomic: a rename)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return _probe(path)
    identity = f"{stat.st_size}:{stat.st_mtime_ns}"
    file = _versions_file()
    try:
        known = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    entry = known.get(path) if isinstance(known, dict) else None
    if isinstance(entry, dict) and entry.get("identity") == identity:
        try:
            return Kustomize(tuple(entry["command"]), Version(entry["version"]))
        except (KeyError, TypeError, InvalidVersion):
            pass
    found = _probe(path)
    known = known if isinstance(known, dict) else {}
    known[path] = {"identity": identity, "command": list(found.command), "version": str(found.version)}
    from kfctl.platform.locations import write_atomically

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(file, json.dumps(known, sort_keys=True))
    except (OSError, SourceError):
        pass  # an unwritable cache only costs the probe next time
    return found


@cache
def _probe(path: str) -> Kustomize:
    name = Path(path).name
    if "kubectl" in name:
        command: tuple[str, ...] = (path, "kustomize")
        output = _run([path, "version", "--client", "-o", "json"], path)
        try:
            text = json.loads(output).get("kustomizeVersion", "")
        except json.JSONDecodeError:
            text = ""
    else:
        command = (path, "build")
        text = _run([path, "version"], path)
    match = re.search(r"v?(\d+\.\d+\.\d+)", text)
    if not match:
        raise RenderError(
            f"{path}: cannot tell the kustomize version from {text.strip()[:80]!r}",
            hint=f"use kustomize >= v{MINIMUM_VERSION} (--kustomize-bin)",
        )
    try:
        version = Version(match.group(1))
    except InvalidVersion:
        raise RenderError(f"{path}: unreadable kustomize version {match.group(1)!r}") from None
    if version < MINIMUM_VERSION:
        raise RenderError(
            f"{path}: kustomize v{version} is too old; kfctl needs v{MINIMUM_VERSION} or newer",
            hint="upgrade kustomize or kubectl, or pass --kustomize-bin",
        )
    return Kustomize(command, version)


def _run(argv: list[str], path: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RenderError(
            f"{path}: cannot run it: {error}", hint="pass a working binary with --kustomize-bin"
        ) from None
    if result.returncode != 0:
        raise RenderError(
            f"{path}: `{' '.join(argv[1:])}` failed: {_first_error(result.stderr)}",
            hint="pass a working kustomize with --kustomize-bin",
        )
    return result.stdout
