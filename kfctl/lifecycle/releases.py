"""Which releases an upgrade goes through, and whether the cluster can run them.

Kubeflow is upgraded one release at a time (its notes describe each step from the one before), so
`--to` a release further ahead is a chain of steps in catalog order (1.9 → 1.10 → 1.11 → 26.03:
versions compare on one scale across the switch to calendar versions, kfctl.platform.catalog).
The cluster's Kubernetes version is checked against each target with `packaging` specifiers: below
a release's minimum is refused, above the newest it was tested with is a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from kfctl.errors import InputError
from kfctl.platform.catalog import Platform, load_platforms


@dataclass(frozen=True)
class Step:
    source: Platform
    target: Platform

    @property
    def name(self) -> str:
        return f"{self.source.name} -> {self.target.name}"


def release_chain(current: str, target: str, *, chain: bool = True) -> list[Step]:
    """The steps from `current` to `target`, one release each. [] when they are the same release."""
    platforms = load_platforms()
    for name, flag in ((current, "the installed release"), (target, "--to")):
        if name not in platforms:
            raise InputError(f"{flag}: unknown platform release {name!r}", hint=f"releases: {', '.join(platforms)}")
    ordered = sorted(platforms.values(), key=lambda p: p.version)
    names = [p.name for p in ordered]
    start, end = names.index(current), names.index(target)
    if end < start:
        raise InputError(
            f"--to {target} is older than the installed {current}: an upgrade goes forward only",
            hint="go back with `kfctl rollback` to a recorded revision",
        )
    steps = [Step(ordered[i], ordered[i + 1]) for i in range(start, end)]
    if len(steps) > 1 and not chain:
        raise InputError(
            f"{current} -> {target} is {len(steps)} release steps ({', '.join(s.target.name for s in steps)}) "
            "and --no-chain allows one",
            hint=f"upgrade to {steps[0].target.name} first, or leave out --no-chain to run the steps in turn",
        )
    return steps


def _minor(text: str) -> Version:
    return Version(text.removeprefix("v"))


def kubernetes_fit(server: str, platform: Platform) -> tuple[bool, str]:
    """(fits, message): below the release's minimum does not fit; above its tested range fits with a
    warning in the message; `server` is major.minor (e.g. "1.34")."""
    version = _minor(server)
    supported = SpecifierSet(f">={platform.kubernetes_min}")
    tested = SpecifierSet(f">={platform.kubernetes_min},<={platform.kubernetes_tested_max}")
    if version not in supported:
        return False, f"{platform.name} needs Kubernetes {platform.kubernetes_min} or newer; the cluster runs {server}"
    if version not in tested:
        return True, (
            f"Kubernetes {server} is newer than {platform.name} was tested with "
            f"({platform.kubernetes_min} to {platform.kubernetes_tested_max})"
        )
    return True, ""
