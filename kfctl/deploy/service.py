"""The cluster commands' core: apply, diff, status, delete, history."""

from __future__ import annotations

import difflib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

from kfctl.deploy.executor import ApplyOptions, ApplyReport, Executor
from kfctl.deploy.inventory import SYSTEM_NAMESPACE, Inventory, InventoryEntry, ReleaseRecord, applyset_id
from kfctl.deploy.plan import APPLYSET_PART_OF, WEBHOOK_KINDS, Plan, make_plan, normalize_scopes
from kfctl.deploy.report import Reporter
from kfctl.errors import InputError, OperationError, WaitTimeoutError
from kfctl.kube.api import Api, ApiError, NotServedError, ObjectRef
from kfctl.kube.client import ClusterTarget
from kfctl.platform.readiness import readiness
from kfctl.preflight import PreflightOptions, PreflightReport, run_preflight
from kfctl.render.resolve import ResolvedApp
from kfctl.render.service import RenderOptions, build

# Kept by `delete` unless --purge: deleting them deletes the platform's data.
DATA_KINDS = frozenset({"PersistentVolumeClaim", "CustomResourceDefinition", "Namespace"})
NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


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


def plan_for(render: RenderOptions) -> Planned:
    """Render and plan; everything is validated before the cluster is touched."""
    result = build(render)
    partial = bool([c for c in render.components if c != "all"])
    return Planned(make_plan(result, applyset_id(result.app.config.name)), partial, result.app)


def preflight(render: RenderOptions, target: ClusterTarget, options: PreflightOptions) -> PreflightReport:
    """`kfctl preflight`: the checks the plan needs, reads only (and dry runs)."""
    planned = plan_for(render)
    with connect(target) as api:
        return run_preflight(api, planned.plan, planned.app.profile, planned.app.platform, options)


def apply(
    render: RenderOptions,
    target: ClusterTarget,
    options: ApplyOptions,
    reporter: Reporter,
    checks: PreflightOptions | None = None,
) -> ApplyReport:
    """Preflight (unless `checks` is None), then apply. A failed preflight writes nothing."""
    planned = plan_for(render)
    with connect(target) as api:

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

        return Executor(
            api,
            planned.plan,
            options,
            reporter,
            partial=planned.partial,
            before_writes=checks_first if checks is not None else None,
        ).run()


@dataclass
class DiffResult:
    changes: list[dict[str, Any]] = field(default_factory=list)  # {object, action, diff}

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _clean(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    cleaned = {k: v for k, v in obj.items() if k != "status"}
    metadata = {k: v for k, v in (cleaned.get("metadata") or {}).items() if k not in NOISE}
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k != "deployment.kubernetes.io/revision"
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    cleaned["metadata"] = metadata
    return cleaned


def diff(render: RenderOptions, target: ClusterTarget, concurrency: int = 16) -> DiffResult:
    """Server-side dry-run of every object against what is live; stale objects show as deletions."""
    planned = plan_for(render)
    plan, partial = planned.plan, planned.partial
    result = DiffResult()
    with connect(target) as api:
        inventory = Inventory(api, plan.app)
        previous = inventory.latest()
        normalize_scopes(plan, api.served_kinds())

        def one(obj: dict[str, Any]) -> dict[str, Any] | None:
            ref = ObjectRef.of(obj)
            try:
                live = api.get(ref)
            except NotServedError:
                live = None
            try:
                after = api.apply(obj, dry_run=True)
            except NotServedError:
                after = obj  # its CRD is not there yet: the object would be created as written
            before_text = yaml.safe_dump(_clean(live), sort_keys=True) if live else ""
            after_text = yaml.safe_dump(_clean(after), sort_keys=True)
            if before_text == after_text:
                return None
            lines = difflib.unified_diff(
                before_text.splitlines(keepends=True),
                after_text.splitlines(keepends=True),
                f"live/{ref}",
                f"planned/{ref}",
            )
            return {"object": str(ref), "action": "update" if live else "create", "diff": "".join(lines)}

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for change in pool.map(one, [o.manifest for o in plan.objects]):
                if change:
                    result.changes.append(change)
        planned_refs = {o.ref for o in plan.objects}
        components = {c.name for c in plan.components}
        for entry in previous.inventory if previous else []:
            if entry.ref not in planned_refs and (not partial or entry.component in components):
                result.changes.append(
                    {"object": str(entry.ref), "action": "delete", "diff": f"--- live/{entry.ref}\n+++ (pruned)\n"}
                )
    return result


def status(app: str, target: ClusterTarget) -> dict[str, Any]:
    """Per-component health of the latest release, from the live objects."""
    with connect(target) as api:
        record = Inventory(api, app).latest()
        if record is None:
            raise InputError(
                f"no kfctl release named {app!r} in this cluster",
                hint="check the app name (metadata.name in kfctl.yaml) and --context",
            )
        live = _live(api, record)
        relax = _relaxations(record.profile)
        components: dict[str, dict[str, Any]] = {}
        for entry in record.inventory:
            component = components.setdefault(
                entry.component, {"name": entry.component, "objects": 0, "ready": 0, "notReady": []}
            )
            component["objects"] += 1
            state = readiness(live.get(entry.ref), relax=relax)
            if state.ready:
                component["ready"] += 1
            else:
                component["notReady"].append(
                    {"object": str(entry.ref), "state": state.state.value, "message": state.message}
                )
        for name, component in components.items():
            component["health"] = "Healthy" if component["ready"] == component["objects"] else "Degraded"
            component["recorded"] = record.components.get(name, {}).get("status", "")
        healthy = all(c["health"] == "Healthy" for c in components.values())
        return {
            "app": app,
            "revision": record.revision,
            "status": record.status,
            "healthy": healthy,
            "platform": record.platform,
            "profile": record.profile,
            "components": list(components.values()),
        }


def _relaxations(profile: str) -> frozenset[str]:
    """What the release's profile relaxes (the simulated cluster's), read from the profile by name."""
    from pathlib import Path

    from kfctl.config.profiles import load_profile
    from kfctl.errors import ConfigError

    try:
        return frozenset(load_profile(profile, base=Path.cwd()).relaxations)
    except ConfigError:
        return frozenset()


def _live(api: Api, record: ReleaseRecord) -> dict[ObjectRef, dict[str, Any]]:
    selector = f"{APPLYSET_PART_OF}={applyset_id(record.app)}"
    kinds = sorted({(e.ref.api_version, e.ref.kind) for e in record.inventory})
    live: dict[ObjectRef, dict[str, Any]] = {}

    def list_kind(kind: tuple[str, str]) -> list[dict[str, Any]]:
        try:
            return api.list_objects(api.resource_for(*kind, refresh=False), label_selector=selector)
        except (NotServedError, ApiError):
            return []

    with ThreadPoolExecutor(max_workers=16) as pool:
        for items in pool.map(list_kind, kinds):
            for item in items:
                live[ObjectRef.of(item)] = item
    return live


def history(app: str, target: ClusterTarget) -> list[dict[str, Any]]:
    with connect(target) as api:
        return [r.summary() | {"components": len(r.components)} for r in Inventory(api, app).records()]


@dataclass
class DeleteReport:
    app: str
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    stuck: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.app, "deleted": len(self.deleted), "kept": self.kept, "stuck": self.stuck}


def delete(app: str, target: ClusterTarget, *, purge: bool, timeout: float, reporter: Reporter) -> DeleteReport:
    """Delete the app in reverse dependency order, webhook configurations first; keep data unless purge."""
    with connect(target) as api:
        inventory = Inventory(api, app)
        record = inventory.latest()
        if record is None:
            raise InputError(
                f"no kfctl release named {app!r} in this cluster",
                hint="check the app name (metadata.name in kfctl.yaml) and --context",
            )
        api.refresh_discovery()
        report = DeleteReport(app)
        waves = _reverse_order(record)
        reporter.event("delete", app=app, objects=len(record.inventory), purge=purge)
        for batch in waves:
            with ThreadPoolExecutor(max_workers=16) as pool:
                for ref, outcome in zip(
                    batch, pool.map(lambda e: _delete_one(api, e, purge, inventory.applyset_id), batch), strict=True
                ):
                    (report.deleted if outcome == "deleted" else report.kept).append(
                        str(ref.ref) if outcome == "deleted" else f"{ref.ref} ({outcome})"
                    )
        report.stuck = _wait_namespaces_gone(
            api,
            [e.ref for e in record.inventory if e.ref.kind == "Namespace" and str(e.ref) in report.deleted],
            timeout,
        )
        if report.stuck:
            raise_stuck = WaitTimeoutError(
                f"namespace {report.stuck[0]['namespace']} is stuck in Terminating: {report.stuck[0]['reason']}",
                hint="remove the finalizers or objects named, or wait for their controllers",
            )
            raise_stuck.detail = report.as_dict()
            raise raise_stuck
        inventory.delete_records()
        _delete_system_namespace_if_unused(api)
        reporter.event("deleted", app=app, deleted=len(report.deleted), kept=report.kept)
        return report


def _reverse_order(record: ReleaseRecord) -> list[list[InventoryEntry]]:
    """Webhook configurations first (nothing may call a webhook whose backend is going away), then
    components in reverse order of the record, custom resources before the rest, namespaces last."""
    order = list(dict.fromkeys(e.component for e in record.inventory))
    webhooks = [e for e in record.inventory if e.ref.kind in WEBHOOK_KINDS]
    batches = [webhooks] if webhooks else []
    for component in reversed(order):
        entries = [e for e in record.inventory if e.component == component and e.ref.kind not in WEBHOOK_KINDS]
        custom = [e for e in entries if "." in e.ref.group and not e.ref.group.endswith("k8s.io")]
        plain = [e for e in entries if e not in custom and e.ref.kind not in ("Namespace", "CustomResourceDefinition")]
        for batch in (custom, plain):
            if batch:
                batches.append(batch)
    definitions = [e for e in record.inventory if e.ref.kind in ("CustomResourceDefinition", "Namespace")]
    if definitions:
        batches.append(definitions)
    return batches


def _delete_one(api: Api, entry: InventoryEntry, purge: bool, owner: str) -> str:
    if entry.ref.kind in DATA_KINDS and not purge:
        return "kept: holds data; --purge deletes it"
    try:
        live = api.get(entry.ref)
    except NotServedError:
        return "deleted"
    if live is None:
        return "deleted"
    if (live.get("metadata") or {}).get("labels", {}).get(APPLYSET_PART_OF) != owner:
        return "kept: no longer kfctl's"
    api.delete(entry.ref, propagation="Foreground" if entry.ref.kind == "Namespace" else "Background")
    return "deleted"


def _wait_namespaces_gone(api: Api, namespaces: list[ObjectRef], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    remaining = list(namespaces)
    while remaining and time.monotonic() < deadline:
        remaining = [ref for ref in remaining if api.get(ref) is not None]
        if remaining:
            time.sleep(1.0)
    stuck = []
    for ref in remaining:
        live = api.get(ref) or {}
        conditions = [c for c in (live.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
        reason = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in conditions) or "still terminating"
        stuck.append(
            {
                "namespace": ref.name,
                "reason": reason[:500],
                "finalizers": (live.get("spec") or {}).get("finalizers", []),
            }
        )
    return stuck


def _delete_system_namespace_if_unused(api: Api) -> None:
    resource = api.resource_for("v1", "ConfigMap")
    items = [
        i for i in api.list_objects(resource, namespace=SYSTEM_NAMESPACE) if i["metadata"]["name"] != "kube-root-ca.crt"
    ]
    if not items:
        api.delete(ObjectRef("v1", "Namespace", "", SYSTEM_NAMESPACE))


__all__ = ["ApplyOptions", "OperationError", "apply", "delete", "diff", "history", "status"]
