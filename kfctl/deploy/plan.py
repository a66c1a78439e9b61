"""The apply plan: rendered components in waves, each split into stages (kfctl.platform.kinds), every
object labelled as a member of the app's ApplySet and fingerprinted for no-op detection."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kfctl.kube.api import ObjectRef
from kfctl.kube.ownership import APPLYSET_PART_OF, COMPONENT_LABEL
from kfctl.platform.catalog import ReadinessGate
from kfctl.platform.kinds import WEBHOOK_KINDS, Stage, info_of
from kfctl.render.service import BuildResult


def stage_of(obj: dict[str, Any]) -> Stage:
    return info_of(obj).stage


def digest(obj: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


@dataclass
class PlannedObject:
    ref: ObjectRef
    manifest: dict[str, Any]
    component: str
    stage: Stage
    digest: str


@dataclass
class ComponentPlan:
    name: str
    wave: int
    depends_on: list[str]
    objects: list[PlannedObject]
    gates: tuple[ReadinessGate, ...] = ()

    def stage(self, stage: Stage) -> list[PlannedObject]:
        return [o for o in self.objects if o.stage == stage]


@dataclass
class Plan:
    app: str
    platform: str
    profile: str
    config_digest: str
    components: list[ComponentPlan]
    waves: list[list[str]]
    applyset_id: str
    relax: frozenset[str] = frozenset()
    relaxed_objects: list[str] = field(default_factory=list)  # what the simulated profile changed
    applyset_tooling: str = "kfctl"

    @property
    def objects(self) -> list[PlannedObject]:
        return [o for c in self.components for o in c.objects]


def make_plan(build: BuildResult, applyset_id: str) -> Plan:
    """Objects labelled for the ApplySet (and their component), relaxed where the profile says so."""
    app = build.app
    relax = frozenset(app.profile.relaxations)
    relaxed: list[str] = []
    components = []
    for rendered in sorted(build.rendered, key=lambda c: c.wave):
        resolved = app.component(rendered.name)
        objects = []
        for obj in rendered.objects:
            manifest = _private(obj)
            labels = manifest["metadata"]["labels"]
            labels[APPLYSET_PART_OF] = applyset_id
            labels[COMPONENT_LABEL] = rendered.name
            _drop_controller_owned_fields(manifest)
            relaxable = "webhook-answers" in relax and manifest.get("kind") in WEBHOOK_KINDS
            if relaxable and _ignore_webhook_failures(manifest):
                relaxed.append(str(ObjectRef.of(manifest)))
            objects.append(
                PlannedObject(ObjectRef.of(manifest), manifest, rendered.name, stage_of(manifest), digest(manifest))
            )
        components.append(
            ComponentPlan(
                rendered.name,
                rendered.wave,
                list(resolved.definition.depends_on) + list(resolved.config.depends_on),
                objects,
                resolved.definition.readiness,
            )
        )
    config_text = app.config.path.read_bytes() if app.config.path.exists() else b""
    return Plan(
        app=app.config.name,
        platform=app.platform.name,
        profile=app.profile.name,
        config_digest=hashlib.sha256(config_text).hexdigest()[:16],
        components=components,
        waves=[[name for name in wave if any(c.name == name for c in components)] for wave in app.waves],
        applyset_id=applyset_id,
        relax=relax,
        relaxed_objects=relaxed,
        applyset_tooling=str(app.config.settings.get("applysetTooling") or "kfctl"),
    )


def _private(obj: dict[str, Any]) -> dict[str, Any]:
    """The object with what the plan changes copied (the object, its metadata and labels, a webhook
    configuration's webhooks), the rest shared with the render: nothing later writes to it, and a deep
    copy of ~10 MB of CRD schemas costs 0.3 s on every run, a no-op's too."""
    manifest = dict(obj)
    metadata = dict(manifest.get("metadata") or {})
    metadata["labels"] = dict(metadata.get("labels") or {})
    manifest["metadata"] = metadata
    if manifest.get("kind") in WEBHOOK_KINDS and isinstance(manifest.get("webhooks"), list):
        manifest["webhooks"] = [dict(w) if isinstance(w, dict) else w for w in manifest["webhooks"]]
    return manifest


def _drop_controller_owned_fields(manifest: dict[str, Any]) -> None:
    """Fields a controller of the cluster owns: applying them would fight it on every run.

    An aggregated ClusterRole's rules are written by the clusterrole-aggregation controller.
    """
    if manifest.get("kind") == "ClusterRole" and manifest.get("aggregationRule"):
        manifest.pop("rules", None)


def _ignore_webhook_failures(manifest: dict[str, Any]) -> bool:
    """On a cluster where no pod runs, no webhook backend ever answers: calls fail open instead of
    blocking every object they intercept. Returns whether anything changed."""
    changed = False
    for webhook in manifest.get("webhooks") or []:
        if webhook.get("failurePolicy") != "Ignore":
            webhook["failurePolicy"] = "Ignore"
            changed = True
    return changed


def normalize_scopes(plan: Plan, served: dict[tuple[str, str], Any]) -> None:
    """Put each object's namespace where the server will: namespaced objects that name none go to
    `default` (as kubectl does), cluster-scoped ones lose the namespace they name (the server drops
    it). A kind's scope comes from discovery (`served`: (apiVersion, kind) -> resource with
    `.namespaced`), or from the plan's own CRDs for kinds not served yet."""
    planned_scopes: dict[tuple[str, Any], bool] = {}
    for obj in plan.objects:
        if obj.ref.kind == "CustomResourceDefinition":
            spec = obj.manifest.get("spec") or {}
            for version in spec.get("versions") or []:
                key = (f"{spec.get('group')}/{version.get('name')}", (spec.get("names") or {}).get("kind"))
                planned_scopes[key] = spec.get("scope") == "Namespaced"
    for obj in plan.objects:
        key = (obj.ref.api_version, obj.ref.kind)
        namespaced = served[key].namespaced if key in served else planned_scopes.get(key)
        metadata = obj.manifest["metadata"]
        if namespaced and not obj.ref.namespace:
            metadata["namespace"] = "default"
        elif namespaced is False and obj.ref.namespace:
            del metadata["namespace"]
        else:
            continue
        obj.ref = ObjectRef.of(obj.manifest)
        obj.digest = digest(obj.manifest)
