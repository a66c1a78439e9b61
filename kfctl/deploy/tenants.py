"""The imperative tenant and access commands' core: edit `spec.tenants` of the app config
(kfctl.tenancy.edit), then apply the `tenants` component alone with the same engine as `kfctl apply`
(lock, ownership, prune), so a command and the next declarative apply agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from kfctl.config.app import AppConfig, load_app_config
from kfctl.config.tenants import Member, TenantConfig
from kfctl.deploy.apply import ApplyOptions
from kfctl.deploy.events import Reporter
from kfctl.deploy.record import applyset_id
from kfctl.deploy.results import ApplyReport
from kfctl.deploy.service import apply, connect
from kfctl.errors import ClusterUnreachableError, InputError, LockedError
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.client import ClusterTarget
from kfctl.kube.ownership import APPLYSET_PART_OF
from kfctl.preflight import PreflightOptions
from kfctl.render.service import RenderOptions
from kfctl.tenancy.edit import Edit, TenantSpec, create_tenant, delete_tenant, set_access
from kfctl.tenancy.objects import COMPONENT, binding_name

# What makes a namespace hold users' work: deleting the tenant would delete these with it.
HELD_KINDS = (
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
)


@dataclass
class TenantRun:
    """How a command applies its edit; apply None: write the config only (`--no-apply`)."""

    render: RenderOptions
    target: ClusterTarget
    options: ApplyOptions
    reporter: Reporter
    checks: PreflightOptions | None
    apply: bool = True


@dataclass
class TenantResult:
    action: str
    tenant: str
    changed: bool  # the config changed
    config: AppConfig
    report: ApplyReport | None = None
    subject: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "tenant": self.tenant,
            "configChanged": self.changed,
            "config": str(self.config.path),
        }
        if self.subject:
            data["subject"] = self.subject
        if self.report is not None:
            data["apply"] = self.report.as_dict()
        return data


def _edit_and_apply(
    run: TenantRun, change: Callable[[], Edit], *, purge: frozenset[str] = frozenset()
) -> tuple[Edit, ApplyReport | None]:
    """Edit the config, then apply the tenants alone. When the apply stops before writing anything (bad
    input, a namespace that is somebody else's, another run holding the lock, no cluster), the config
    is put back as it was, so the file never asks for what the cluster was refused. A failure after
    writes keeps the edit: it is the desired state, and the next apply converges to it."""
    path = run.render.config_path
    before = path.read_text()
    edit = change()
    if not run.apply:
        return edit, None
    render = replace(run.render, components=[COMPONENT])
    try:
        report = apply(render, run.target, replace(run.options, purge_namespaces=purge), run.reporter, run.checks)
    except (InputError, LockedError, ClusterUnreachableError):
        if edit.changed:
            path.write_text(before)
        raise
    return edit, report


def tenant_create(run: TenantRun, spec: TenantSpec) -> TenantResult:
    edit, report = _edit_and_apply(run, lambda: create_tenant(run.render.config_path, spec))
    return TenantResult("create", spec.name, edit.changed, edit.config, report)


def held_objects(api: Api, namespace: str, applyset_id: str) -> list[str]:
    """Users' work in the namespace: `Kind/name` of each object kfctl did not put there."""
    held = []
    for api_version, kind in HELD_KINDS:
        for item in api.list_kind(api_version, kind, namespace=namespace, metadata_only=True):
            metadata = item.get("metadata") or {}
            if (metadata.get("labels") or {}).get(APPLYSET_PART_OF) == applyset_id:
                continue
            if kind == "Pod" and metadata.get("ownerReferences"):
                continue  # counted through its Deployment, Job, …
            held.append(f"{kind}/{metadata.get('name')}")
    return held


def tenant_delete(run: TenantRun, name: str, *, force: bool) -> TenantResult:
    """Remove the tenant from the config and prune its objects. A namespace that holds users' work
    (PVCs, workloads) is refused without `force`, with what it holds; with `force` it goes, data too."""
    config = load_app_config(run.render.config_path)
    if not any(t.name == name for t in config.tenants):
        return TenantResult("delete", name, False, config)
    with connect(run.target) as api:
        held = held_objects(api, name, applyset_id(config.name))
    if held and not force:
        shown = ", ".join(held[:10]) + (f", … ({len(held)} in all)" if len(held) > 10 else "")
        raise InputError(
            f"tenant {name}: namespace {name} holds {shown}",
            hint="pass --force to delete the namespace with them, or move the work first",
        )
    purge = frozenset({name}) if force else frozenset()
    edit, report = _edit_and_apply(run, lambda: delete_tenant(run.render.config_path, name), purge=purge)
    return TenantResult("delete", name, edit.changed, edit.config, report)


def access_change(run: TenantRun, namespace: str, subject: Member, *, grant: bool) -> TenantResult:
    path = run.render.config_path
    edit, report = _edit_and_apply(
        run, lambda: set_access(path, namespace, subject if grant else None, None if grant else subject)
    )
    return TenantResult("grant" if grant else "revoke", namespace, edit.changed, edit.config, report, subject.summary())


def find_tenant(config: AppConfig, name: str) -> TenantConfig:
    for tenant in config.tenants:
        if tenant.name == name:
            return tenant
    listed = ", ".join(t.name for t in config.tenants) or "none"
    raise InputError(f"{name} is not a tenant of {config.path}", hint=f"tenants: {listed}")


def tenant_show(config: AppConfig, name: str, target: ClusterTarget | None) -> dict[str, Any]:
    """The tenant as configured and, with a cluster, what its namespace has: quota use, bindings."""
    tenant = find_tenant(config, name)
    data = tenant.summary()
    if target is None:
        return data
    with connect(target) as api:
        data["live"] = _live(api, tenant)
    return data


def _live(api: Api, tenant: TenantConfig) -> dict[str, Any]:
    namespace = api.get(ObjectRef("v1", "Namespace", "", tenant.name))
    if namespace is None:
        return {"namespace": None}
    quotas = api.list_kind("v1", "ResourceQuota", namespace=tenant.name)
    bindings = api.list_kind("rbac.authorization.k8s.io/v1", "RoleBinding", namespace=tenant.name)
    return {
        "namespace": (namespace.get("status") or {}).get("phase"),
        "quotas": {
            (q.get("metadata") or {}).get("name"): {
                "hard": (q.get("status") or {}).get("hard") or {},
                "used": (q.get("status") or {}).get("used") or {},
            }
            for q in quotas
        },
        "roleBindings": [_binding_summary(b) for b in bindings],
    }


def _binding_summary(binding: dict[str, Any]) -> dict[str, Any]:
    metadata = binding.get("metadata") or {}
    return {
        "name": metadata.get("name"),
        "role": (binding.get("roleRef") or {}).get("name"),
        "subjects": [f"{s.get('kind')}:{s.get('name')}" for s in binding.get("subjects") or []],
        "kfctl": APPLYSET_PART_OF in (metadata.get("labels") or {}),
    }


def access_list(config: AppConfig, namespace: str) -> list[dict[str, Any]]:
    """Who has which role in the tenant, as configured: the owner first, then the members."""
    tenant = find_tenant(config, namespace)
    rows = [{"kind": "User", "name": tenant.owner, "role": "owner", "binding": "(owner)"}]
    for m in tenant.members:
        rows.append({**m.summary(), "binding": binding_name(m)})
    return rows
