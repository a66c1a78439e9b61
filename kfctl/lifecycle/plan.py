"""The plan of one upgrade step, read before anything changes: per component the release it goes
from and to and its objects added, changed, unchanged, re-created and removed; the CRDs whose
served versions change, with their storedVersions; the components entering or leaving the default
set and the users' objects of those that leave; the migrations that will run.

Changes come from the API server, not from guesses: every planned object is sent as a server-side
dry-run, so an update the server refuses because a field is immutable (a Deployment's selector, a
binding's roleRef) shows as a re-create here, and the real step deletes and re-creates exactly those.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from kfctl.deploy.diff import comparable
from kfctl.deploy.plan import Plan, PlannedObject, normalize_scopes
from kfctl.deploy.record import ReleaseRecord
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.errors import ApiError, NotServedError
from kfctl.lifecycle.migrations import for_step
from kfctl.lifecycle.migrations.base import Migration
from kfctl.lifecycle.releases import Step
from kfctl.platform.kinds import kind_info
from kfctl.render.resolve import ResolvedApp

# Kinds kfctl may delete and create again when the server refuses an in-place update: their state
# lives elsewhere (pods are re-created by their controller; a StatefulSet is deleted with its pods and
# PVCs orphaned). Anything else that holds data (PVCs, PVs, CRDs, namespaces) is refused instead.
RECREATABLE = frozenset(
    {
        "Deployment",
        "DaemonSet",
        "StatefulSet",
        "Job",
        "Service",
        "RoleBinding",
        "ClusterRoleBinding",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
)
ORPHAN_ON_RECREATE = frozenset({"StatefulSet"})


@dataclass
class ObjectChange:
    ref: ObjectRef
    component: str
    action: str  # add | change | unchanged | recreate | prune | keep
    why: str = ""

    def as_dict(self) -> dict[str, str]:
        data = {
            "object": str(self.ref),
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "component": self.component,
            "action": self.action,
        }
        if self.why:
            data["why"] = self.why
        return data


@dataclass
class StepPlan:
    step: Step
    plan: Plan
    changes: list[ObjectChange] = field(default_factory=list)
    crds: list[dict[str, Any]] = field(default_factory=list)
    default_set: dict[str, Any] | None = None
    migrations: list[tuple[Migration, list[str]]] = field(default_factory=list)
    kubernetes: str = ""
    components_written: list[str] | None = None  # the config's new component list, when it relied on defaults
    app: ResolvedApp | None = None  # the step's resolved config (its profile and release, for preflight)
    components_dropped: list[str] = field(default_factory=list)  # listed, but the new release has no such component

    @property
    def recreate(self) -> list[ObjectChange]:
        return [c for c in self.changes if c.action == "recreate"]

    @property
    def blocked(self) -> list[str]:
        """Why the step cannot run: refused updates kfctl must not work around, versions it cannot drop."""
        reasons = [f"{c.ref}: {c.why}" for c in self.changes if c.action == "refused"]
        reasons += [
            f"CRD {c['name']}: version(s) {', '.join(c['needsStorageMigration'])} still stored but no longer served"
            for c in self.crds
            if c["needsStorageMigration"]
        ]
        return reasons

    def counts(self) -> dict[str, dict[str, int]]:
        per: dict[str, Counter[str]] = {}
        for change in self.changes:
            per.setdefault(change.component, Counter())[change.action] += 1
        return {name: dict(counter) for name, counter in sorted(per.items())}

    def as_dict(self) -> dict[str, Any]:
        source, target = self.step.source, self.step.target
        components = self.counts()
        return {
            "step": self.step.name,
            "from": {"platform": source.name, "release": source.release},
            "to": {"platform": target.name, "release": target.release},
            "kubernetes": self.kubernetes,
            "components": [
                {"name": name, "from": source.release if name in source.components else None, "to": target.release}
                | counts
                for name, counts in components.items()
            ],
            "changes": [c.as_dict() for c in self.changes if c.action != "unchanged"],
            "crds": self.crds,
            "defaultSet": self.default_set,
            "componentsDropped": self.components_dropped,
            "migrations": [m.summary(findings) for m, findings in self.migrations],
            "blocked": self.blocked,
        }


# How the API server words a refused in-place update: "field is immutable" (most fields), "cannot
# change roleRef" (bindings), "Forbidden: updates to statefulset spec for fields other than …".
IMMUTABLE = ("immutable", "cannot change roleref", "updates to statefulset spec for fields other than")


@dataclass(frozen=True)
class ClusterNow:
    """What the cluster has before the step: served kinds, namespaces, and (group, kind)s whose CRD
    this step changes (a dry-run of those objects against the old schema says nothing of the new one)."""

    served: frozenset[tuple[str, str]]
    namespaces: frozenset[str]
    changing: frozenset[tuple[str, str]] = frozenset()


def _classify(api: Api, obj: PlannedObject, now: ClusterNow) -> ObjectChange:
    def change(action: str, why: str = "") -> ObjectChange:
        return ObjectChange(obj.ref, obj.component, action, why)

    if (obj.ref.api_version, obj.ref.kind) not in now.served:
        return change("add", "its CRD arrives in this step")
    if obj.ref.namespace and obj.ref.namespace not in now.namespaces:
        return change("add", "its namespace arrives in this step")
    live = api.get(obj.ref)
    if (obj.ref.group, obj.ref.kind) in now.changing:
        return change("add" if live is None else "change", "its CRD changes in this step")
    try:
        after = api.apply(obj.manifest, dry_run=True)
    except NotServedError:
        return change("add", "its CRD arrives in this step")
    except ApiError as error:
        message = " ".join(error.message.split())
        if error.status == 422 and live is not None and any(words in message.lower() for words in IMMUTABLE):
            return change("recreate" if obj.ref.kind in RECREATABLE else "refused", _short(message))
        return change("refused", _short(message))
    if live is None:
        return change("add")
    return change("unchanged" if comparable(live) == comparable(after) else "change")


def _short(message: str) -> str:
    """The server's message without the object it quotes back (its first 200 and last 200 characters)."""
    text = " ".join(message.split())
    return text if len(text) <= 400 else f"{text[:200]} … {text[-200:]}"


def object_changes(api: Api, plan: Plan, record: ReleaseRecord, concurrency: int = 16) -> list[ObjectChange]:
    """Every planned object by the server's dry-run, then what the step removes (or keeps, for data)."""
    served_kinds = api.served_kinds()
    normalize_scopes(plan, served_kinds)
    namespaces = frozenset(str(n["metadata"]["name"]) for n in api.list_kind("v1", "Namespace", metadata_only=True))
    now = ClusterNow(frozenset(served_kinds), namespaces)
    definitions = [o for o in plan.objects if o.ref.kind == "CustomResourceDefinition"]
    others = [o for o in plan.objects if o.ref.kind != "CustomResourceDefinition"]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kfctl-upgrade-plan") as pool:
        changes = list(pool.map(lambda o: _classify(api, o, now), definitions))
        changing = {_crd_group_kind(o) for o, c in zip(definitions, changes, strict=True) if c.action != "unchanged"}
        now = replace(now, changing=frozenset(changing))
        changes += list(pool.map(lambda o: _classify(api, o, now), others))
    planned = {o.ref.identity for o in plan.objects}
    for entry in record.inventory:
        if entry.ref.identity in planned:
            continue
        if kind_info(entry.ref.group, entry.ref.kind).keeps_data:
            changes.append(ObjectChange(entry.ref, entry.component, "keep", "holds data: pruning keeps it"))
        else:
            changes.append(ObjectChange(entry.ref, entry.component, "prune", "not in the new release"))
    return changes


def _crd_group_kind(crd: PlannedObject) -> tuple[str, str]:
    spec = crd.manifest.get("spec") or {}
    return str(spec.get("group") or ""), str((spec.get("names") or {}).get("kind") or "")


def crd_changes(api: Api, plan: Plan) -> list[dict[str, Any]]:
    """Planned CRDs whose served versions differ from the live ones, with the live storedVersions."""
    found = []
    for obj in plan.objects:
        if obj.ref.kind != "CustomResourceDefinition":
            continue
        live = api.get(obj.ref)
        if live is None:
            continue
        served_live = {v["name"] for v in (live.get("spec") or {}).get("versions") or [] if v.get("served")}
        planned_versions = (obj.manifest.get("spec") or {}).get("versions") or []
        served_new = {v["name"] for v in planned_versions if v.get("served")}
        storage_new = next((v["name"] for v in planned_versions if v.get("storage")), None)
        stored = list((live.get("status") or {}).get("storedVersions") or [])
        if served_live == served_new and storage_new in stored:
            continue
        found.append(
            {
                "name": obj.ref.name,
                "component": obj.component,
                "versionsAdded": sorted(served_new - served_live),
                "versionsRemoved": sorted(served_live - served_new),
                "storageVersion": storage_new,
                "storedVersions": stored,
                "needsStorageMigration": [v for v in stored if v not in served_new],
            }
        )
    return found


def users_objects(api: Api, record: ReleaseRecord, component: str) -> dict[str, int]:
    """How many custom resources exist of each CRD the component installed: the users' work it serves."""
    counts: dict[str, int] = {}
    for entry in record.inventory:
        if entry.component != component or entry.ref.kind != "CustomResourceDefinition":
            continue
        crd = api.get(entry.ref)
        if not crd:
            continue
        spec = crd.get("spec") or {}
        versions = [v for v in spec.get("versions") or [] if v.get("served")]
        if not versions:
            continue
        api_version = f"{spec.get('group')}/{versions[0]['name']}"
        kind = str((spec.get("names") or {}).get("kind"))
        try:
            items = api.list_kind(api_version, kind, metadata_only=True)
        except NotServedError:
            continue
        if items:
            counts[kind] = len(items)
    return counts


def default_set_change(
    step: Step, record: ReleaseRecord, api: Api, *, relies_on_defaults: bool
) -> tuple[dict[str, Any] | None, list[str] | None]:
    """For a config without spec.components: what enters and leaves the default set, the users'
    objects of what leaves, and the components the step installs (leaving ones are kept while the
    new release still has them: removing a component is the user's call)."""
    if not relies_on_defaults:
        return None, None
    before, after = set(step.source.default_components), set(step.target.default_components)
    leaving = sorted(before - after)
    kept = [c for c in leaving if c in step.target.components]
    dropped = [c for c in leaving if c not in step.target.components]
    components = [c for c in step.target.default_components] + kept
    change = {
        "entering": sorted(after - before),
        "leaving": leaving,
        "kept": kept,
        "dropped": dropped,
        "usersObjects": {c: users_objects(api, record, c) for c in leaving},
        "note": (
            f"the config relies on the default set; kept: {', '.join(kept)} (remove them from spec.components "
            "to drop them)"
            if kept
            else ""
        ),
    }
    return change, components


def step_migrations(api: Api, step: Step) -> list[tuple[Migration, list[str]]]:
    return [(m, m.check(api)) for m in for_step(step.source.name, step.target.name)]
