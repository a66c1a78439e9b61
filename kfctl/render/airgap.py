"""The remote resources the enabled components would fetch at build time: which mirror covers each, the
report `kfctl sources remote` prints, and the refusal to render when one is uncovered and no network is
reachable (one line naming all of them, instead of kustomize's 40-line git error after seconds of work)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfctl.errors import SourceError
from kfctl.platform.locations import as_local_path, redact_url
from kfctl.platform.network import OFFLINE_ENV, offline_mode, unreachable
from kfctl.platform.remote import Coverage, RemoteTarget, locate, parse_remote, remote_resources_of

LAYOUT_HINT = "HOST/ORG/REPO@REF/PATH for git targets, HOST/PATH for files"


@dataclass(frozen=True)
class RemoteUse:
    """One remote entry of one kustomization that an enabled component builds."""

    source: str  # the catalog's source name
    root: Path  # that source's tree
    kustomization: Path  # the kustomization file that names the entry
    coverage: Coverage
    components: tuple[str, ...]  # the enabled components whose build reaches it

    @property
    def target(self) -> RemoteTarget:
        return self.coverage.target

    @property
    def where(self) -> str:
        """The kustomization, relative to its source's root."""
        return Path(os.path.relpath(self.kustomization, self.root)).as_posix()

    @property
    def reason(self) -> str | None:
        """Why it is uncovered; None when a mirror covers it."""
        if self.coverage.missing:
            return f"not in the mirror: looked for {self.coverage.location}"
        return None if self.coverage.covered else "no mirror entry covers it"

    def as_dict(self) -> dict[str, Any]:
        target = self.target
        location = self.coverage.location
        return {
            "url": target.url,
            "kind": target.kind,
            "ref": target.ref,
            "repository": f"{target.host}/{target.repo}" if target.kind == "git" else None,
            "path": target.path,
            "source": self.source,
            "kustomization": self.where,
            "components": list(self.components),
            "covered": self.coverage.covered,
            "mirror": redact_url(self.coverage.prefix) if self.coverage.prefix else None,
            "location": location if location is None or self.coverage.local else redact_url(location),
            "reason": self.reason,
        }


def merged_mirrors(
    from_config: Mapping[str, str], config_dir: Path, from_flags: Mapping[str, str], cwd: Path
) -> dict[str, str]:
    """The config's `mirrors:` with --mirror over them (the flag wins for the same prefix); relative local
    paths made absolute: the config's against its directory, the flag's against the working directory."""
    merged = {key: _absolute(value, config_dir) for key, value in from_config.items()}
    merged.update({key: _absolute(value, cwd) for key, value in from_flags.items()})
    return merged


def _absolute(value: str, base: Path) -> str:
    local = as_local_path(value, base)
    if local is None or Path(value).expanduser().is_absolute() or value.lower().startswith("file:"):
        return value
    # Archive mirrors append the rest of the URL to the value as text: keep a trailing slash.
    return str(local) + ("/" if value.endswith("/") else "")


def remote_uses(walks: Iterable[tuple[str, str, Path, list[Path]]], mirrors: Mapping[str, str]) -> list[RemoteUse]:
    """Every remote entry reached from (component, source name, source root, its directories), each
    (kustomization, entry) once, with the components that reach it, in the order first reached."""
    found: dict[tuple[Path, str], tuple[str, Path, list[str]]] = {}
    for component, source, root, directories in walks:
        for kustomization, entry in remote_resources_of(directories):
            names = found.setdefault((kustomization, entry), (source, root, []))[2]
            if component not in names:
                names.append(component)
    return [
        RemoteUse(source, root, kustomization, locate(parse_remote(entry), mirrors), tuple(names))
        for (kustomization, entry), (source, root, names) in found.items()
    ]


def refuse_uncovered(uses: list[RemoteUse]) -> None:
    """Raise one SourceError naming every entry the render cannot get: those a mirror entry maps to a path
    that does not exist, and, when no network is reachable ($KFCTL_OFFLINE=1, or the hosts do not answer a
    TCP connect), those no mirror covers. With the network reachable, kustomize fetches the latter as usual."""
    missing = [use for use in uses if use.coverage.missing]
    unmapped = [use for use in uses if use.coverage.prefix is None]
    offline = offline_mode()  # read even when unneeded: a bad value is reported, not ignored
    why = f"{OFFLINE_ENV}=1"
    if offline is None and unmapped:
        cut = unreachable({(use.target.hostname, use.target.port) for use in unmapped})
        unmapped = [use for use in unmapped if (use.target.hostname, use.target.port) in cut]
        why = "; ".join(f"{host}:{port}: {reason}" for (host, port), reason in sorted(cut.items()))
    elif not offline:
        unmapped = []
    if not missing and not unmapped:
        return
    grouped = _by_url(missing + unmapped)
    listed = ", ".join(_named(url, group) for url, group in grouped.items())
    several = len(grouped) > 1
    count = f"{len(grouped)} remote resource{'s' if several else ''} the enabled components need"
    count += " are" if several else " is"
    network = f" and no network is reachable ({why})" if unmapped else ""
    raise SourceError(
        f"cannot render: {count} not mirrored{network}: {listed}",
        hint=f"copy {'them' if several else 'it'} into the mirror ({LAYOUT_HINT}) or map "
        "the URL prefix with `mirrors:` in the config or --mirror PREFIX=LOCATION; "
        "`kfctl sources remote -f CONFIG` lists every remote entry",
    )


def _by_url(uses: list[RemoteUse]) -> dict[str, list[RemoteUse]]:
    grouped: dict[str, list[RemoteUse]] = {}
    for use in uses:
        grouped.setdefault(use.target.url, []).append(use)
    return grouped


def _named(url: str, group: list[RemoteUse]) -> str:
    needed_by = ", ".join(dict.fromkeys(use.where for use in group))
    reason = group[0].reason
    return f"{url} (needed by {needed_by}; {reason})"


def remote_report(uses: list[RemoteUse], mirrors: Mapping[str, str]) -> dict[str, Any]:
    """What `kfctl sources remote -o json` prints (besides apiVersion, kind and schemaVersion)."""
    items = [use.as_dict() for use in uses]
    covered = sum(1 for item in items if item["covered"])
    return {
        "mirrors": {redact_url(key): _shown(value) for key, value in mirrors.items()},
        "summary": {"entries": len(items), "covered": covered, "uncovered": len(items) - covered},
        "items": items,
    }


def _shown(location: str) -> str:
    return location if as_local_path(location) is not None else redact_url(location)
