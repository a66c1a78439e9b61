"""Remote resources inside kustomizations: what kustomize would fetch at build time, where a mirror holds
each one, and a copy of a source tree with those entries pointed at their mirrors.

Mirror layout (a mirror entry `https://HOST/: LOCATION`):
  git target  `https://HOST/ORG/REPO[//]PATH?ref=REF`  ->  LOCATION/ORG/REPO@REF/PATH
  plain file  `https://HOST/PATH`                       ->  LOCATION/PATH
One folder per repository and ref, like a Go module cache entry, so two refs of one repository never collide.
A mirror entry whose prefix names a repository itself (`https://HOST/ORG/REPO`) maps it to that one
folder, whatever the ref. A mirror value that is a URL (another server) gets the rest of the entry appended.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs

import yaml
from ruamel.yaml import YAML

from kfctl.errors import SourceError
from kfctl.plain_yaml import load_plain_yaml
from kfctl.platform.locations import (
    REMOTE_PREFIXES,
    as_local_path,
    copy_tree,
    looks_like_host_path,
    make_dir,
    redact_url,
    strip_userinfo,
    write_atomically,
)

# In the order kustomize looks for them in a folder.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# `bases` is the deprecated spelling of `resources`; kustomize v5 still builds it.
_ENTRY_FIELDS = ("resources", "components", "bases")
_PLAIN_SCALAR = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:@%?&=+~-]*")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_LIKE = re.compile(r"[^/@:]+@([^/:]+):")  # git@github.com:org/repo
_MIRRORED_DIR = "_mirrored"


# --- what a remote entry names ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteTarget:
    """One remote entry, parsed the way kustomize reads it.

    kind:  "git" (a repository folder at a ref) or "file" (one file fetched over HTTP)
    host:  e.g. "github.com" (with a port when the entry has one)
    repo:  "ORG/REPO" for git targets (no `.git`), "" for files
    ref:   `?ref=` (or `?version=`); None: the default branch
    path:  the folder inside the repository, or the file's URL path; no leading slash
    port:  what kustomize (git, or its HTTP client) connects to
    """

    entry: str
    kind: Literal["git", "file"]
    host: str
    repo: str
    ref: str | None
    path: str
    port: int

    @property
    def url(self) -> str:
        """The entry fit to print: no credentials."""
        forced = "git::" if self.entry.startswith("git::") else ""
        return forced + redact_url(self.entry.removeprefix(forced)) if "://" in self.entry else self.entry

    @property
    def canonical(self) -> str:
        """HOST/ORG/REPO/PATH or HOST/PATH, the string mirror prefixes are matched against (scheme left out)."""
        return "/".join(part for part in (self.host, self.repo, self.path) if part)

    @property
    def layout(self) -> str:
        """Where the mirror layout keeps it, relative to the mirror's root: HOST/ORG/REPO@REF/PATH or HOST/PATH."""
        if self.kind == "file":
            return self.canonical
        repo = f"{self.repo}@{self.ref}" if self.ref else self.repo
        return "/".join(part for part in (self.host, repo, self.path) if part)

    @property
    def hostname(self) -> str:
        return self.host.rpartition(":")[0] if re.search(r":\d+$", self.host) else self.host


def parse_remote(entry: str) -> RemoteTarget:
    """Kustomize's forms: https://HOST/ORG/REPO/PATH?ref=R, https://HOST/ORG/REPO//PATH?ref=R, git::URL,
    git@HOST:ORG/REPO.git//PATH, ssh://, and the scheme-less HOST/ORG/REPO/PATH shorthand (always git)."""
    text = entry.strip()
    git = text.lower().startswith("git::")
    text = text[5:] if git else text
    if match := _SCHEME.match(text):
        scheme, rest = match.group(1).lower(), text[match.end() :]
    elif match := _SCP_LIKE.match(text):
        scheme, rest, git = "ssh", match.group(1) + "/" + text[match.end() :], True
    else:
        scheme, rest, git = "https", text, True
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    host = netloc.rpartition("@")[2].lower()
    params = parse_qs(query)
    refs = params.get("ref") or params.get("version")
    ref = refs[0] if refs else None
    dot_git = re.search(r"\.git(/|$)", path)
    git = git or ref is not None or "//" in path or scheme in ("ssh", "git") or dot_git is not None
    explicit_port = re.search(r":(\d+)$", host)
    port = int(explicit_port.group(1)) if explicit_port else {"ssh": 22, "git": 9418, "http": 80}.get(scheme, 443)
    if not git:
        return RemoteTarget(entry, "file", host, "", None, path.strip("/"), port)
    # Where the repository ends: kustomize's `//`, else a `.git` suffix, else the first two segments.
    if "//" in path:
        repo, _, inside = path.partition("//")
    elif dot_git:
        repo, inside = path[: dot_git.start()], path[dot_git.end() :]
    else:
        segments = path.split("/")
        repo, inside = "/".join(segments[:2]), "/".join(segments[2:])
    return RemoteTarget(entry, "git", host, repo.strip("/").removesuffix(".git"), ref, inside.strip("/"), port)


# --- which mirror covers it -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Where the mirrors put one remote entry.

    prefix:    the mirrors key that matched; None: no mirror entry covers it (kustomize would fetch it)
    location:  the local path or URL it maps to (for a local path: also when that path does not exist)
    local:     `location` as a local path, None when it is a URL
    """

    target: RemoteTarget
    prefix: str | None = None
    location: str | None = None
    local: Path | None = None

    @property
    def covered(self) -> bool:
        return self.prefix is not None and (self.local is None or self.local.exists())

    @property
    def missing(self) -> bool:
        """A mirror entry maps it to a local path that does not exist."""
        return self.local is not None and not self.local.exists()


def locate(target: RemoteTarget, mirrors: Mapping[str, str]) -> Coverage:
    """The longest mirror prefix that covers `target` (at a path-segment boundary), and where it maps."""
    best: tuple[int, str, str] | None = None  # length of the normalised prefix, key, normalised key
    for key in mirrors:
        normal = _normal_prefix(key)
        if normal and _covers(normal, target.canonical) and (best is None or len(normal) > best[0]):
            best = (len(normal), key, normal)
    if best is None:
        return Coverage(target)
    _, key, normal = best
    value = mirrors[key]
    local = as_local_path(value)
    repository = "/".join(part for part in (target.host, target.repo) if part)
    if local is not None:
        # The layout's @REF goes after the repository's name, so a prefix naming the repository itself has none.
        names_repo = target.kind == "git" and len(normal.rstrip("/")) >= len(repository)
        rest = (target.canonical if names_repo or target.kind == "file" else target.layout)[len(normal) :]
        path = Path(os.path.normpath(local / rest.strip("/"))) if rest.strip("/") else local
        return Coverage(target, key, str(path), path)
    forced = "git::" if target.entry.startswith("git::") else ""
    raw = strip_userinfo(target.entry.removeprefix(forced)) if "://" in target.entry else target.entry
    if raw.startswith(key):
        return Coverage(target, key, forced + _join(value, raw[len(key) :]))
    # Another spelling of the same target (shorthand, ssh): rebuilt in kustomize's `//` form.
    if target.kind == "git":
        inside = f"{repository[len(normal) :]}//{target.path}" if len(normal) <= len(repository) else ""
        rest = inside or target.canonical[len(normal) :]
        return Coverage(target, key, _join(value, rest + (f"?ref={target.ref}" if target.ref else "")))
    return Coverage(target, key, _join(value, target.canonical[len(normal) :]))


def _normal_prefix(key: str) -> str:
    """A mirrors key as HOST/PATH: scheme, `git::`, user and scp-style `host:` spelled alike."""
    text = key.strip().removeprefix("git::")
    if match := _SCHEME.match(text):
        text = text[match.end() :]
    elif match := _SCP_LIKE.match(text):
        text = match.group(1) + "/" + text[match.end() :]
    netloc, slash, path = text.partition("/")
    return netloc.rpartition("@")[2].lower() + slash + path.replace("//", "/")


def _covers(prefix: str, canonical: str) -> bool:
    return canonical.startswith(prefix) and (
        prefix.endswith("/") or len(canonical) == len(prefix) or canonical[len(prefix)] == "/"
    )


def _join(base: str, rest: str) -> str:
    if not rest:
        return base
    return base.rstrip("/") + "/" + rest.lstrip("/")


# --- finding remote entries -------------------------------------------------------------------------------------


def find_remote_resources(tree: Path) -> list[tuple[Path, str]]:
    """Every (kustomization file, entry) under `tree` whose `resources`/`components` entry kustomize would fetch.

    Kustomizations that do not parse are skipped: kustomize reports them if anything builds them.
    """
    found: list[tuple[Path, str]] = []
    for kustomization in _kustomization_files(tree):
        for _field, _index, entry in _listed_entries(_load_quietly(kustomization)):
            if is_remote_entry(entry, kustomization.parent):
                found.append((kustomization, entry))
    return found


def remote_resources_of(directories: Iterable[Path]) -> list[tuple[Path, str]]:
    """Every (kustomization file, entry) kustomize would fetch building `directories`: their kustomizations and
    every local kustomization those name through resources/components/bases, recursively, each once, in the
    order kustomize reaches them (depth first, in listing order)."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def visit(directory: Path) -> None:
        if (key := directory.resolve()) in seen:
            return
        seen.add(key)
        kustomization = kustomization_file(directory)
        if kustomization is None:
            return
        for _field, _index, entry in _listed_entries(_load_quietly(kustomization)):
            if is_remote_entry(entry, directory):
                found.append((kustomization, entry))
            elif (directory / entry).is_dir():
                visit(Path(os.path.normpath(directory / entry)))

    for directory in directories:
        visit(Path(os.path.normpath(directory)))
    return found


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()), None)


def is_remote_entry(entry: str, kustomization_dir: Path) -> bool:
    if entry.lower().startswith(REMOTE_PREFIXES):
        return True
    # kustomize tries an entry as a local file or folder first, so `github.com-sa.yaml` stays local.
    return looks_like_host_path(entry) and not (kustomization_dir / entry).exists()


def _kustomization_files(tree: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames):
            if name in KUSTOMIZATION_FILES:
                yield Path(dirpath) / name


def _load_quietly(path: Path) -> object:
    try:
        return load_plain_yaml(path.read_text(encoding="utf-8"))  # whole upstream trees are scanned
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _listed_entries(document: object) -> Iterator[tuple[str, int, str]]:
    """(field, index, entry) for each string entry of the fields that list resources."""
    if not isinstance(document, dict):
        return
    for field_name in _ENTRY_FIELDS:
        items = document.get(field_name)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, str):
                    yield field_name, index, item


# --- rewriting a tree to its mirrors ----------------------------------------------------------------------------


def plan_rewrite(
    tree: Path, mirrors: Mapping[str, str], entries: Iterable[tuple[Path, str]] | None = None
) -> dict[Path, dict[str, Coverage]]:
    """{kustomization relative to `tree`: {remote entry: its mirror}} for the covered entries of `entries`
    (default: every remote entry under `tree`). Entries no mirror entry covers are left to kustomize; one
    a mirror entry maps to a local path that does not exist is a SourceError."""
    planned: dict[Path, dict[str, Coverage]] = {}
    for kustomization, entry in find_remote_resources(tree) if entries is None else entries:
        coverage = locate(parse_remote(entry), mirrors)
        if coverage.missing:
            raise SourceError(
                f"{kustomization}: the mirror of {coverage.target.url} is {coverage.location}, which does not exist; "
                "fix the mirrors entry that maps it, or copy it there"
            )
        if coverage.prefix is not None:
            planned.setdefault(kustomization.relative_to(tree), {})[entry] = coverage
    return planned


def rewrite_remote_resources(
    tree: Path,
    mirrors: Mapping[str, str],
    out_dir: Path,
    *,
    planned: dict[Path, dict[str, Coverage]] | None = None,
) -> Path:
    """Point the remote resources of `tree`'s kustomizations at their mirrors; return the tree to render.

    `planned`: what plan_rewrite returned (default: plan every remote entry under `tree`). Returns `tree` itself
    when nothing is planned. Otherwise copies `tree` to `out_dir` (which must be missing or empty: the caller names
    it by content) and edits the copies. A mirrored file is copied under `_mirrored/` beside its kustomization,
    because kustomize's load restrictor only reads files inside the kustomization's root. A mirrored folder gets
    a symlink there: kustomize refuses absolute paths and resolves symlinks (so the folder's own `../` entries
    reach its repository), and a relative path out of the copy would break once `kfctl generate` vendors it.
    """
    if planned is None:
        planned = plan_rewrite(tree, mirrors)
    if not planned:
        return tree
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SourceError(f"{out_dir} exists and is not an empty folder; remove it, or give another output folder")
    make_dir(out_dir.parent, "output folder's parent")
    # Edited in a sibling staging folder and renamed, so `out_dir` never holds a half-written tree.
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    try:
        copy_tree(tree, staging, out_dir)
        for relative, coverage_by_entry in sorted(planned.items()):
            replacements = _mirror_entries(staging / relative.parent, coverage_by_entry)
            _replace_entries(staging / relative, replacements)
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _mirror_entries(staged_dir: Path, coverage_by_entry: dict[str, Coverage]) -> dict[str, str]:
    """The new value of each remote entry of one kustomization; mirrored files and folders go next to it."""
    replacements: dict[str, str] = {}
    placed: dict[str, Path] = {}  # name under _mirrored/ -> the mirror file or folder it holds
    for entry, coverage in coverage_by_entry.items():
        local = coverage.local
        assert coverage.location is not None
        if local is None:
            replacements[entry] = coverage.location  # another URL: kustomize fetches from the mirror
            continue
        name = _free_name(local, placed)
        placed[name] = local
        target = staged_dir / _MIRRORED_DIR / name
        make_dir(target.parent, "mirror copy folder")
        try:
            if local.is_dir():
                target.symlink_to(local.resolve(), target_is_directory=True)
            else:
                shutil.copyfile(local, target)
        except OSError as e:
            raise SourceError(f"cannot place mirror {local} at {target}: {e.strerror}; fix permissions") from e
        replacements[entry] = f"{_MIRRORED_DIR}/{name}"
    return replacements


def _free_name(source: Path, taken: dict[str, Path]) -> str:
    """`manifests.yaml`, then `manifests-2.yaml`: JobSet v0.6.0 and v0.10.1 share a file name (and many
    mirrored folders are called `default`)."""
    name, n = source.name, 1
    while name in taken and taken[name] != source:
        n += 1
        name = f"{source.stem}-{n}{source.suffix}"
    return name


def _replace_entries(kustomization: Path, replacements: dict[str, str]) -> None:
    """Swap entries in place in the file's text, so every other byte (comments, layout) stays as it was.

    ruamel's round-trip loader gives each entry's line and column. A full round-trip dump would reflow
    upstream files: comments before a `---` are dropped and indentation is normalised.
    """
    text = kustomization.read_text(encoding="utf-8")
    document = YAML().load(text)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # line, start column, end column, new token
    spliceable = True
    for field_name, index, entry in _listed_entries(document):
        if entry not in replacements:
            continue
        line, column = document[field_name].lc.item(index)
        end = _token_end(lines[line], column, entry)
        if end is None:
            spliceable = False
            break
        edits.append((line, column, end, _yaml_scalar(replacements[entry])))
    if spliceable:
        for line, column, end, token in sorted(edits, reverse=True):
            lines[line] = lines[line][:column] + token + lines[line][end:]
        spliced = "".join(lines)
        if _entries_after(spliced) == _expected_entries(document, replacements):
            write_atomically(kustomization, spliced)
            return
    # The entry's source text was not recognisable (escapes, multi-line scalar): let ruamel write the file.
    for field_name, index, entry in _listed_entries(document):
        if entry in replacements:
            document[field_name][index] = replacements[entry]
    rt = YAML()
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    out = StringIO()
    rt.dump(document, out)
    write_atomically(kustomization, out.getvalue())


def _token_end(line: str, column: int, entry: str) -> int | None:
    for token in (entry, "'" + entry.replace("'", "''") + "'", json.dumps(entry)):
        if line.startswith(token, column):
            return column + len(token)
    return None


def _yaml_scalar(value: str) -> str:
    if _PLAIN_SCALAR.fullmatch(value) and not value.endswith(":"):
        return value
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def _entries_after(text: str) -> list[tuple[str, int, str]] | None:
    try:
        return list(_listed_entries(load_plain_yaml(text)))
    except yaml.YAMLError:
        return None


def _expected_entries(document: object, replacements: dict[str, str]) -> list[tuple[str, int, str]]:
    return [(f, i, replacements.get(entry, entry)) for f, i, entry in _listed_entries(document)]
