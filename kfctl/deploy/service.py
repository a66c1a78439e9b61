"""The cluster commands' core: one thin function per command, each a walk over the same pieces
(plan, change, apply, wait, prune, record, lock). The CLI calls exactly one of these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfctl.config.app import load_app_config
from kfctl.deploy.apply import ApplyOptions, Executor
from kfctl.deploy.delete import delete_app
from kfctl.deploy.diff import DiffResult, diff_plan
from kfctl.deploy.events import Reporter
from kfctl.deploy.lock import Holder, break_lock
from kfctl.deploy.plan import Plan, make_plan
from kfctl.deploy.record import Inventory, applyset_id
from kfctl.deploy.results import ApplyReport, DeleteReport
from kfctl.deploy.status import app_status
from kfctl.kube.api import Api
from kfctl.kube.client import ClusterTarget
from kfctl.preflight import PreflightOptions, PreflightReport, run_preflight
from kfctl.render.resolve import ResolvedApp
from kfctl.render.service import RenderOptions, build


def connect(target: ClusterTarget) -> Api:
    """An API handle, after one quick probe so an unreachable cluster fails fast (exit code 3)."""
    api = Api(target)
    try:
        api.server_version()
    except Exception:
        api.close()
        raise
    return api


@dataclass
class Planned:
    plan: Plan
    partial: bool  # only some components were named: the others are neither pruned nor forgotten
    app: ResolvedApp
    render_seconds: float = 0.0
    cache: dict[str, Any] | None = None  # render cache hits and misses; None: --no-cache


def plan_for(render: RenderOptions) -> Planned:
    """Render and plan; everything is validated before the cluster is touched."""
    result = build(render)
    partial = bool([c for c in render.components if c != "all"])
    plan = make_plan(result, applyset_id(result.app.config.name))
    result.remember_parsed()  # make_plan parsed every object: the next run reads them back as JSON
    return Planned(plan, partial, result.app, result.seconds, result.cache)


def _connect_then_plan(render: RenderOptions, target: ClusterTarget) -> tuple[Api, Planned]:
    """The config is read first (bad input: exit 2 without a request), then the cluster is probed
    (unreachable: exit 3 at once, not after seconds of rendering), then everything is rendered."""
    load_app_config(render.config_path)
    api = connect(target)
    try:
        return api, plan_for(render)
    except BaseException:
        api.close()
        raise


def preflight(render: RenderOptions, target: ClusterTarget, options: PreflightOptions) -> PreflightReport:
    """`kfctl preflight`: the checks the plan needs, reads only (and dry runs)."""
    api, planned = _connect_then_plan(render, target)
    with api:
        return run_preflight(api, planned.plan, planned.app.profile, planned.app.platform, options)


def apply(
    render: RenderOptions,
    target: ClusterTarget,
    options: ApplyOptions,
    reporter: Reporter,
    checks: PreflightOptions | None = None,
) -> ApplyReport:
    """Preflight (unless `checks` is None), then apply. A failed preflight writes nothing."""
    api, planned = _connect_then_plan(render, target)
    reporter.event("render", seconds=round(planned.render_seconds, 2), cache=planned.cache)
    with api:

        def checks_first() -> None:
            assert checks is not None
            report = run_preflight(api, planned.plan, planned.app.profile, planned.app.platform, checks)
            reporter.event(
                "preflight",
                summary=report.summary,
                seconds=round(report.seconds, 2),
                warnings=[f"{c.id}: {c.message}" for c in report.checks if c.status.value == "WARN"],
            )
            report.raise_for_failures()

        executor = Executor(
            api,
            planned.plan,
            options,
            reporter,
            partial=planned.partial,
            before_writes=checks_first if checks is not None else None,
        )
        applied = executor.run()
    applied.cpu_seconds = cpu_seconds()
    return applied


def cpu_seconds() -> dict[str, float]:
    """This process's CPU (user + system, all threads) and its finished children's (kustomize, git)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no getrusage
        return {}
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "kfctl": round(own.ru_utime + own.ru_stime, 2),
        "children": round(children.ru_utime + children.ru_stime, 2),
    }


def diff(render: RenderOptions, target: ClusterTarget, concurrency: int = 16) -> DiffResult:
    """Server-side dry-run of every object against what is live; stale objects show as deletions."""
    api, planned = _connect_then_plan(render, target)
    with api:
        return diff_plan(api, planned.plan, partial=planned.partial, concurrency=concurrency)


def status(app: str, target: ClusterTarget) -> dict[str, Any]:
    with connect(target) as api:
        return app_status(api, app)


def history(app: str, target: ClusterTarget) -> list[dict[str, Any]]:
    with connect(target) as api:
        return [r.summary() | {"components": len(r.components)} for r in Inventory(api, app).records()]


def delete(app: str, target: ClusterTarget, *, purge: bool, timeout: float, reporter: Reporter) -> DeleteReport:
    with connect(target) as api:
        return delete_app(api, app, purge=purge, timeout=timeout, reporter=reporter)


def unlock(app: str, target: ClusterTarget) -> Holder | None:
    """Break the app's lock, whoever holds it; returns who did (None: it was free)."""
    with connect(target) as api:
        return break_lock(api, app)


__all__ = ["ApplyOptions", "apply", "delete", "diff", "history", "preflight", "status", "unlock"]
