"""Preflight: check the cluster before touching it.

Everything a Kubeflow install needs from the cluster, checked in seconds with reads only (and
dry runs): Kubernetes version, nodes, CNI, DNS, storage, cert-manager, GPUs, the user's
permissions for every object of the plan, and leftovers of earlier installs. `kfctl preflight`
prints the report; `apply` runs the same checks and refuses to start on a failure.

Everything but `FailOn` (which `--fail-on` names, from a module of its own) loads when first used:
the report types, and the checks with the HTTP client under them, so `kfctl --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kfctl.preflight.fail_on import FailOn

if TYPE_CHECKING:
    from kfctl.preflight.report import (
        CheckResult,
        PreflightFailedError,
        PreflightOptions,
        PreflightReport,
        Status,
        parse_ids,
    )
    from kfctl.preflight.runner import CHECK_IDS, CHECKS, run_preflight

_REPORT = frozenset(
    {"CheckResult", "PreflightFailedError", "PreflightOptions", "PreflightReport", "Status", "parse_ids"}
)
_RUNNER = frozenset({"CHECK_IDS", "CHECKS", "run_preflight"})


def __getattr__(name: str) -> Any:
    if name in _REPORT:
        from kfctl.preflight import report

        return getattr(report, name)
    if name in _RUNNER:
        from kfctl.preflight import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS",
    "CHECK_IDS",
    "CheckResult",
    "FailOn",
    "PreflightFailedError",
    "PreflightOptions",
    "PreflightReport",
    "Status",
    "parse_ids",
    "run_preflight",
]
