"""Storage: exactly one default StorageClass (Kubeflow's claims name none), from a provisioner the
profile expects; and, opt-in (--deep), a test claim that really binds and is deleted again."""

from __future__ import annotations

import os
import time
from typing import Any

from kfctl.kube.api import ObjectRef
from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    failed,
    listing,
    name_of,
    passed,
    skipped,
    unknown,
    warning,
)

DEFAULT_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
PROBE_NAMESPACE = "default"
BIND_TIMEOUT = 30.0
MAKE_DEFAULT = (
    "kubectl patch storageclass NAME -p "
    '\'{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}\''
)


def is_default(storage_class: dict[str, Any]) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(key) == "true" for key in DEFAULT_ANNOTATIONS)


def defaults_newest_first(classes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Default classes, newest first: with several, the API server gives new claims the newest one."""
    defaults = [c for c in classes if is_default(c)]
    return sorted(defaults, key=lambda c: (c.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)


def evaluate_default_class(
    classes: list[dict[str, Any]],
    *,
    required: bool,
    provisioners: tuple[str, ...],
    planned_claims: list[dict[str, Any]],
    planned_classes: frozenset[str] = frozenset(),
) -> Outcome:
    names = sorted(name_of(c) for c in classes)
    defaults = defaults_newest_first(classes)
    unnamed = [c for c in planned_claims if not (c.get("spec") or {}).get("storageClassName")]
    known = set(names) | planned_classes
    missing_classes = sorted(
        {
            str((c.get("spec") or {}).get("storageClassName"))
            for c in planned_claims
            if (c.get("spec") or {}).get("storageClassName") not in (None, "", *known)
        }
    )
    details: dict[str, Any] = {
        "classes": names,
        "defaults": [name_of(c) for c in defaults],
        "plannedClaims": len(planned_claims),
        "plannedClaimsWithoutClass": len(unnamed),
    }
    if missing_classes:
        return failed(
            f"the plan's claims name StorageClasses that do not exist: {listing(missing_classes)}",
            "create those classes, or set storageClassName in the component's patches",
            **details,
        )
    if not defaults:
        if not required:
            return skipped(f"profile needs no default StorageClass (classes: {listing(names) or 'none'})", **details)
        claims = f"; the plan's {len(unnamed)} claims that name no class would stay Pending" if unnamed else ""
        fix = (
            f"mark one class as the default: {MAKE_DEFAULT}"
            if names
            else "install a storage provisioner and make its class the default"
            + (f" (the profile expects one of: {', '.join(provisioners)})" if provisioners else "")
        )
        return failed(f"no default StorageClass (classes: {listing(names) or 'none'}){claims}", fix, **details)
    chosen = defaults[0]
    provisioner = str(chosen.get("provisioner", ""))
    binding = str(chosen.get("volumeBindingMode") or "Immediate")
    details.update(default=name_of(chosen), provisioner=provisioner, volumeBindingMode=binding)
    if len(defaults) > 1:
        return warning(
            f"{len(defaults)} default StorageClasses ({listing([name_of(c) for c in defaults])}): new claims get "
            f"the newest, {name_of(chosen)}",
            "keep one default: remove the annotation storageclass.kubernetes.io/is-default-class from the others",
            **details,
        )
    if provisioners and provisioner not in provisioners:
        return warning(
            f"default StorageClass {name_of(chosen)} uses provisioner {provisioner}, not one the profile expects "
            f"({', '.join(provisioners)})",
            "check that it supports what Kubeflow needs (ReadWriteOnce claims, dynamic provisioning)",
            **details,
        )
    return passed(f"default StorageClass {name_of(chosen)} ({provisioner}, {binding} binding)", **details)


def check_default_storage_class(ctx: CheckContext) -> Outcome:
    return evaluate_default_class(
        ctx.list_kind("storage.k8s.io/v1", "StorageClass"),
        required=ctx.profile.default_storage_class,
        provisioners=ctx.profile.storage_provisioners,
        planned_claims=[o.manifest for o in ctx.planned("PersistentVolumeClaim")],
        planned_classes=frozenset(o.ref.name for o in ctx.planned("StorageClass")),
    )


def check_storage_binding(ctx: CheckContext) -> Outcome:
    """Create a 1 MiB claim of the default class, wait for it to bind, delete it."""
    defaults = defaults_newest_first(ctx.list_kind("storage.k8s.io/v1", "StorageClass"))
    if not defaults:
        return failed("no default StorageClass: a claim that names no class cannot bind", MAKE_DEFAULT)
    chosen = defaults[0]
    if chosen.get("volumeBindingMode") == "WaitForFirstConsumer":
        return unknown(
            f"default StorageClass {name_of(chosen)} binds claims only when a pod uses them "
            "(WaitForFirstConsumer): a test claim alone proves nothing",
            "test with a pod that mounts a claim, or trust default-storage-class",
        )
    name = f"kfctl-preflight-{os.urandom(4).hex()}"
    ref = ObjectRef("v1", "PersistentVolumeClaim", PROBE_NAMESPACE, name)
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": PROBE_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "kfctl", "kfctl.dev/preflight": "storage-binding"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}},
    }
    started = time.monotonic()
    ctx.api.post(f"/api/v1/namespaces/{PROBE_NAMESPACE}/persistentvolumeclaims", claim)
    phase, volume = "Pending", ""
    try:
        while time.monotonic() - started < BIND_TIMEOUT:
            live = ctx.get(ref) or {}
            phase = (live.get("status") or {}).get("phase") or "Pending"
            volume = (live.get("spec") or {}).get("volumeName") or ""
            if phase == "Bound":
                break
            time.sleep(0.2)
    finally:
        ctx.api.delete(ref)
    seconds = time.monotonic() - started
    details = {"storageClass": name_of(chosen), "claim": f"{PROBE_NAMESPACE}/{name}", "deleted": True}
    if phase == "Bound":
        return passed(
            f"a test claim of {name_of(chosen)} bound to {volume} in {seconds:.1f}s and was deleted",
            volume=volume,
            seconds=round(seconds, 2),
            **details,
        )
    events = [str(e.get("message", ""))[:200] for e in ctx.api.events_for(ref)]
    return failed(
        f"a test claim of {name_of(chosen)} was still {phase} after {BIND_TIMEOUT:.0f}s"
        + (f": {events[-1]}" if events else ""),
        f"check the provisioner {chosen.get('provisioner')} (its controller pods and their logs)",
        events=events,
        **details,
    )


CHECKS = (
    Check("default-storage-class", "Default StorageClass", check_default_storage_class),
    Check("storage-binding", "A test claim binds", check_storage_binding, deep=True),
)
