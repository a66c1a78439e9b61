"""The server's Kubernetes version against what kfctl, the profile, the platform and each planned
component support. Versions come as vendors write them: `v1.29.3-eks-a18cd3a`, `v1.28.9-gke.1000`,
`v1.27.6+k3s1`, and a `minor` field such as `27+`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from kfctl.preflight.context import Check, CheckContext, Outcome, failed, passed, unknown, warning

KFCTL_MINIMUM = "1.24"  # server-side apply GA, CRD v1, batch/v1 CronJob, policy/v1 PDB
CHECK_ID = "kubernetes-version"

_GIT_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(.*)$")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class KubeVersion:
    major: int
    minor: int
    patch: int = 0
    suffix: str = ""  # the vendor's or pre-release part: "-eks-a18cd3a", "+k3s1", "-rc.1"

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_kube_version(git_version: str | None, major: str | None = None, minor: str | None = None) -> KubeVersion:
    """The version in `gitVersion`, else in the `major`/`minor` fields (`27+` reads as 27).

    ValueError when neither holds a version.
    """
    match = _GIT_VERSION.match(git_version or "")
    if match:
        major_text, minor_text, patch_text, suffix = match.groups()
        return KubeVersion(int(major_text), int(minor_text), int(patch_text or 0), suffix.strip())
    major_number = _NUMBER.search(major or "")
    minor_number = _NUMBER.search(minor or "")
    if major_number and minor_number:
        return KubeVersion(int(major_number.group()), int(minor_number.group()))
    raise ValueError(f"no Kubernetes version in gitVersion={git_version!r} major={major!r} minor={minor!r}")


@dataclass(frozen=True)
class Bound:
    """One requirement: `source` (who says so) needs at least `minimum`, is tested up to `maximum`."""

    source: str
    minimum: str | None = None
    maximum: str | None = None
    strict: bool = False  # the maximum is a limit (a profile's range), not only the newest tested

    def describe(self) -> str:
        if self.minimum and self.maximum:
            return f"{self.minimum} to {self.maximum}"
        return f"{self.minimum} or newer" if self.minimum else f"up to {self.maximum}"


def _release(text: str) -> tuple[int, ...]:
    try:
        return Version(text).release
    except InvalidVersion as error:
        raise ValueError(f"not a version: {text!r}") from error


def below(version: KubeVersion, minimum: str) -> bool:
    bound = _release(minimum)
    return version.release[: len(bound)] < bound


def above(version: KubeVersion, maximum: str) -> bool:
    """Newer than `maximum`, compared at the bound's precision: 1.33.7 is not above "1.33"."""
    bound = _release(maximum)
    return version.release[: len(bound)] > bound


def supported_range(bounds: list[Bound]) -> str:
    minimums = [b.minimum for b in bounds if b.minimum]
    maximums = [b.maximum for b in bounds if b.maximum]
    low = max(minimums, key=_release) if minimums else None
    high = min(maximums, key=_release) if maximums else None
    if low and high:
        return f"{low} to {high}" if _release(low) <= _release(high) else f"{low} or newer (tested only up to {high})"
    return f"{low} or newer" if low else f"up to {high}" if high else "any"


def evaluate(version: KubeVersion, bounds: list[Bound]) -> Outcome:
    """FAIL below any minimum or above a strict maximum (a profile's range), WARN above a tested maximum
    (the platform's), else PASS."""
    span = supported_range(bounds)
    each = "; ".join(f"{b.source}: {b.describe()}" for b in bounds)
    details = {"version": str(version), "supported": span, "bounds": [b.__dict__ for b in bounds]}
    too_old = sorted(
        (b for b in bounds if b.minimum and below(version, b.minimum)),
        key=lambda b: _release(b.minimum or "0"),
        reverse=True,
    )
    if too_old:
        return failed(
            f"Kubernetes {version} is older than {too_old[0].source} supports: supported range {span} ({each})",
            f"upgrade the cluster to Kubernetes {too_old[0].minimum} or newer, or choose a profile and "
            "platform release that support this version",
            **details,
        )
    too_new = sorted(
        (b for b in bounds if b.maximum and above(version, b.maximum)), key=lambda b: _release(b.maximum or "0")
    )
    limits = [b for b in too_new if b.strict]
    if limits:
        return failed(
            f"Kubernetes {version} is newer than {limits[0].source} supports: supported range {span} ({each})",
            f"use a cluster of Kubernetes {limits[0].maximum} or older, or a profile that supports this version",
            **details,
        )
    if too_new:
        return warning(
            f"Kubernetes {version} is newer than {too_new[0].source} was tested with: supported range {span} ({each})",
            "it will probably work; if something fails, try a cluster in the tested range or a newer platform release",
            **details,
        )
    return passed(f"Kubernetes {version} is in the supported range {span}", **details)


def bounds_for(ctx: CheckContext) -> list[Bound]:
    bounds = [Bound("kfctl", KFCTL_MINIMUM)]
    if ctx.profile.kubernetes_min or ctx.profile.kubernetes_max:
        bounds.append(
            Bound(f"profile {ctx.profile.name}", ctx.profile.kubernetes_min, ctx.profile.kubernetes_max, strict=True)
        )
    bounds.append(Bound(ctx.platform.name, ctx.platform.kubernetes_min, ctx.platform.kubernetes_tested_max))
    for name in ctx.component_names:
        definition = ctx.platform.components.get(name)
        if definition and definition.kubernetes_min:
            bounds.append(Bound(f"component {name}", definition.kubernetes_min))
    return bounds


def check_version(ctx: CheckContext) -> Outcome:
    info = ctx.server_version
    if "error" in info:
        return unknown(f"cannot read the server version: {info['error']}")
    try:
        version = parse_kube_version(info.get("gitVersion"), info.get("major"), info.get("minor"))
    except ValueError as error:
        return unknown(str(error), "check that this is a Kubernetes API server (GET /version)")
    outcome = evaluate(version, bounds_for(ctx))
    outcome.details["gitVersion"] = info.get("gitVersion")
    return outcome


CHECKS = (Check(CHECK_ID, "Kubernetes version", check_version),)
