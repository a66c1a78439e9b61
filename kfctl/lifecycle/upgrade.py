"""`kfctl upgrade`: from the recorded release to `--to`, one release step at a time, each step a
revision: plan (kfctl.lifecycle.plan), the step's migrations that run before, the objects the server
refuses to update deleted and created again, the apply of the new release with prune and readiness
(the same engine as `kfctl apply`), the migrations that run after, and the config's spec.platform
moved to the release reached. All of it under the app's lock, held across the steps.

`--dry-run` writes nothing: it plans the first step against the cluster (every object sent as a
server-side dry-run) and lists the later steps' component and migration changes, whose object
changes can only be known once the step before has run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from kfctl.config.app import AppConfig, load_app_config
from kfctl.config.edit import set_platform
from kfctl.deploy.apply import ApplyOptions, Executor
from kfctl.deploy.events import Reporter
from kfctl.deploy.lock import AppLock
from kfctl.deploy.record import Inventory, ReleaseRecord
from kfctl.deploy.service import connect, plan_for
from kfctl.errors import InputError, OperationError
from kfctl.kube.api import Api
from kfctl.kube.client import ClusterTarget
from kfctl.lifecycle.migrations.base import When
from kfctl.lifecycle.plan import (
    ORPHAN_ON_RECREATE,
    StepPlan,
    crd_changes,
    default_set_change,
    object_changes,
    step_migrations,
)
from kfctl.lifecycle.releases import Step, kubernetes_fit, release_chain
from kfctl.preflight import PreflightOptions, run_preflight
from kfctl.render.service import RenderOptions


@dataclass
class UpgradeOptions:
    to: str
    dry_run: bool = False
    chain: bool = True
    apply: ApplyOptions = field(default_factory=ApplyOptions)
    checks: PreflightOptions | None = None


@dataclass
class UpgradeReport:
    app: str
    source: str
    target: str
    dry_run: bool
    steps: list[dict[str, Any]] = field(default_factory=list)
    status: str = "planned"
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "from": self.source,
            "to": self.target,
            "dryRun": self.dry_run,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "steps": self.steps,
        }


def _server_minor(api: Api) -> str:
    version = api.server_version()
    return f"{version.get('major', '').rstrip('+')}.{version.get('minor', '').rstrip('+')}"


def plan_step(
    api: Api, render: RenderOptions, config: AppConfig, step: Step, record: ReleaseRecord, *, against_cluster: bool
) -> StepPlan:
    default_set, components = default_set_change(step, record, api, relies_on_defaults=config.components is None)
    # A listed component the new release no longer has cannot be rendered: it leaves the config (its
    # objects are pruned, or taken over by the component that renders them now), and the plan says so.
    dropped = [c.name for c in config.components or [] if c.name not in step.target.components]
    step_render = replace(
        render, platform=step.target.name, default_components=components, components=[], drop_components=dropped
    )
    planned = plan_for(step_render)
    result = StepPlan(
        step, planned.plan, default_set=default_set, migrations=step_migrations(api, step), app=planned.app
    )
    result.components_written = components if default_set and default_set["kept"] else None
    result.components_dropped = dropped
    if against_cluster:
        result.changes = object_changes(api, planned.plan, record, concurrency=16)
        result.crds = crd_changes(api, planned.plan)
    return result


def upgrade(render: RenderOptions, target: ClusterTarget, options: UpgradeOptions, reporter: Reporter) -> UpgradeReport:
    started = time.monotonic()
    config = load_app_config(render.config_path)
    with connect(target) as api:
        record = Inventory(api, config.name).latest()
        if record is None:
            raise InputError(f"app {config.name} is not installed in this cluster", hint="install it with kfctl apply")
        steps = release_chain(record.platform, options.to, chain=options.chain)
        report = UpgradeReport(config.name, record.platform, options.to, options.dry_run)
        if not steps:
            report.status = "unchanged"
            return report
        server = _server_minor(api)
        for step in steps:
            fits, message = kubernetes_fit(server, step.target)
            if not fits:
                raise InputError(f"cannot upgrade to {step.target.name}: {message}", hint="upgrade Kubernetes first")
            if message:
                reporter.event("warning", message=message)
        if options.dry_run:
            for index, step in enumerate(steps):
                plan = plan_step(api, render, config, step, record, against_cluster=index == 0)
                plan.kubernetes = kubernetes_fit(server, step.target)[1]
                summary = plan.as_dict()
                if index:
                    summary["note"] = "object changes are planned when the step before has run"
                report.steps.append(summary)
            report.seconds = time.monotonic() - started
            return report
        lock = AppLock(api, config.name, "upgrade", reporter)
        lock.acquire()
        try:
            for step in steps:
                outcome = _run_step(api, render, config, step, record, options, reporter, lock)
                report.steps.append(outcome)
                if outcome["status"] != "deployed":
                    report.status = outcome["status"]
                    break
                config = set_platform(
                    render.config_path,
                    step.target.name,
                    outcome.pop("componentsWritten", None),
                    outcome["componentsDropped"],
                )
                latest = Inventory(api, config.name).latest()
                assert latest is not None
                record = latest
            else:
                report.status = "deployed"
        finally:
            lock.release()
    report.seconds = time.monotonic() - started
    return report


def _run_step(
    api: Api,
    render: RenderOptions,
    config: AppConfig,
    step: Step,
    record: ReleaseRecord,
    options: UpgradeOptions,
    reporter: Reporter,
    lock: AppLock,
) -> dict[str, Any]:
    started = time.monotonic()
    reporter.event("step", step=step.name)
    plan = plan_step(api, render, config, step, record, against_cluster=True)
    if plan.blocked:
        raise OperationError(
            f"{step.name} cannot run: {'; '.join(plan.blocked[:3])}",
            hint="nothing was changed; see `kfctl upgrade --dry-run` for the whole plan",
        )
    if options.checks is not None:
        assert plan.app is not None
        # The lock this upgrade holds is no other run's: its check would refuse the upgrade itself.
        checks = replace(options.checks, skip=options.checks.skip | {"release-in-progress"})
        preflight = run_preflight(api, plan.plan, plan.app.profile, plan.app.platform, checks)
        preflight.raise_for_failures()
    ran: list[dict[str, Any]] = []

    def note(message: str) -> None:
        reporter.event("note", step=step.name, message=message)

    for migration, findings in plan.migrations:
        if findings and migration.when is When.BEFORE:
            lock.check()
            ran.append({"id": migration.id, "did": migration.action(api, note)})
    for change in plan.recreate:
        lock.check()
        propagation = "Orphan" if change.ref.kind in ORPHAN_ON_RECREATE else "Background"
        api.delete(change.ref, propagation=propagation)
        _wait_gone(api, change)
        reporter.event("recreate", object=str(change.ref), reason=change.why)
    applied = Executor(api, plan.plan, options.apply, reporter, lock=lock).run()
    if applied.status == "deployed":
        for migration, findings in plan.migrations:
            if migration.when is When.AFTER and (findings or migration.check(api)):
                ran.append({"id": migration.id, "did": migration.action(api, note)})
    return {
        **plan.as_dict(),
        "status": applied.status,
        "revision": applied.revision,
        "migrationsRun": ran,
        "recreated": [str(c.ref) for c in plan.recreate],
        "apply": applied.as_dict(),
        "seconds": round(time.monotonic() - started, 2),
        "componentsWritten": plan.components_written,
    }


def _wait_gone(api: Api, change: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while api.get(change.ref) is not None:
        if time.monotonic() > deadline:
            raise OperationError(f"{change.ref} was deleted to be re-created but is still there after {timeout:.0f}s")
        time.sleep(0.5)
