"""URLs, local paths and small file helpers shared by sources.py (archives) and remote.py (remote resources)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from kfctl.errors import SourceError

# Query parameters that carry credentials in signed or tokenised URLs (S3, GCS, GitLab, ...).
_SENSITIVE_QUERY_KEY = re.compile(r"token|sig|secret|passw|credential|auth|key", re.IGNORECASE)
REMOTE_PREFIXES = ("http://", "https://", "git::", "git@", "git://", "ssh://")
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}(?::\d+)?", re.IGNORECASE)


def looks_like_host_path(entry: str) -> bool:
    """`github.com/org/repo/path?ref=v1`: kustomize's scheme-less remote target."""
    host, slash, _ = entry.partition("/")
    return bool(slash) and _HOST.fullmatch(host) is not None


def apply_mirror(location: str, mirrors: dict[str, str]) -> str | None:
    """`location` with its longest mirrored prefix replaced, or None when no mirror covers it."""
    prefixes = [prefix for prefix in mirrors if prefix and location.startswith(prefix)]
    if not prefixes:
        return None
    prefix = max(prefixes, key=len)
    return mirrors[prefix] + location[len(prefix) :]


def as_local_path(location: str, base: Path | None = None) -> Path | None:
    """The local path a mirror value names (a plain path or file://), or None for a URL or remote target.

    `base`: what a relative path is relative to (the config's directory); None: as given.
    """
    parts = urlsplit(location)
    if parts.scheme.lower() == "file":
        return Path(unquote(parts.path))
    if parts.scheme or location.lower().startswith(REMOTE_PREFIXES):
        return None
    path = Path(location).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    if looks_like_host_path(location) and not path.exists():
        return None
    return path


def redact_url(url: str) -> str:
    """`url` fit to print or store: no `user:pass@`, no credential-like query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SENSITIVE_QUERY_KEY.search(key) for key, _ in pairs):
        query = urlencode([(k, "REDACTED" if _SENSITIVE_QUERY_KEY.search(k) else v) for k, v in pairs])
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2], query=query))


def strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def scrub(text: str, url: str) -> str:
    """`text` (a library's error message) without the secrets `url` carries."""
    parts = urlsplit(url)
    text = text.replace(url, redact_url(url))
    secrets = [parts.netloc.rpartition("@")[0], parts.password or ""]
    secrets += [v for k, v in parse_qsl(parts.query) if _SENSITIVE_QUERY_KEY.search(k)]
    for secret in secrets:
        if len(secret) >= 4:  # shorter ones would garble the message and reveal little
            text = text.replace(secret, "***")
    return text


def make_dir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SourceError(
            f"cannot create the {what} {path}: {e.strerror}; fix its permissions or choose another"
        ) from e


def write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(name, path)
    except OSError as e:
        Path(name).unlink(missing_ok=True)
        raise SourceError(f"cannot write {path}: {e.strerror}; fix its permissions") from e


def copy_tree(tree: Path, dest: Path, shown_dest: Path) -> None:
    """Copy `tree` into `dest` with writable folders: upstream trees are often read-only."""
    try:
        shutil.copytree(tree, dest, copy_function=shutil.copyfile, ignore_dangling_symlinks=True, dirs_exist_ok=True)
        for dirpath, _dirnames, _filenames in os.walk(dest):
            os.chmod(dirpath, os.stat(dirpath).st_mode | stat.S_IRWXU)
    except (OSError, shutil.Error) as e:
        raise SourceError(
            f"cannot copy {tree} to {shown_dest}: {first_line(e)}; check free space and permissions"
        ) from e


def first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
