"""`kfctl status`: per-component health of the latest release, read from the live objects, and who
owns the objects this app no longer does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kfctl.deploy.record import Inventory, ReleaseRecord, applyset_id
from kfctl.errors import ConfigError, InputError
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.ownership import APPLYSET_PART_OF, OwnerKind, owners_of
from kfctl.platform.readiness import readiness
from kfctl.tenancy.objects import COMPONENT as TENANTS
from kfctl.tenancy.objects import QUOTA_NAME


def no_release(app: str) -> InputError:
    return InputError(
        f"no kfctl release named {app!r} in this cluster",
        hint="check the app name (metadata.name in kfctl.yaml) and --context",
    )


def app_status(api: Api, app: str) -> dict[str, Any]:
    record = Inventory(api, app).latest()
    if record is None:
        raise no_release(app)
    live = live_members(api, record)
    missing = [e.ref for e in record.inventory if e.ref not in live]
    owners = owners_of(api, missing, applyset_id(app)) if missing else {}
    relax = _relaxations(record.profile)
    components: dict[str, dict[str, Any]] = {}
    for entry in record.inventory:
        component = components.setdefault(
            entry.component, {"name": entry.component, "objects": 0, "ready": 0, "notReady": []}
        )
        component["objects"] += 1
        owner = owners.get(entry.ref)
        if owner is not None and owner.foreign:
            who = f"another app ({owner.name})" if owner.kind is OwnerKind.KFCTL_APP else owner.describe()
            component["notReady"].append(
                {"object": str(entry.ref), "state": "OwnedElsewhere", "message": f"owned by {who}"}
            )
            continue
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
    return {
        "app": app,
        "revision": record.revision,
        "status": record.status.value,
        "healthy": all(c["health"] == "Healthy" for c in components.values()),
        "platform": record.platform,
        "profile": record.profile,
        "components": list(components.values()),
        "tenants": _tenants(record, live),
    }


def _tenants(record: ReleaseRecord, live: dict[ObjectRef, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each team namespace of the release: its phase and, where kfctl keeps the quota, its use."""
    tenants = []
    for entry in record.inventory:
        ref = entry.ref
        if entry.component != TENANTS or ref.kind != "Namespace":
            continue
        namespace = live.get(ref) or {}
        quota = live.get(ObjectRef("v1", "ResourceQuota", ref.name, QUOTA_NAME)) or {}
        status = quota.get("status") or {}
        tenants.append(
            {
                "name": ref.name,
                "phase": (namespace.get("status") or {}).get("phase", "Missing"),
                "quota": {"hard": status.get("hard") or {}, "used": status.get("used") or {}} if quota else None,
            }
        )
    return tenants


def _relaxations(profile: str) -> frozenset[str]:
    """What the release's profile relaxes (the simulated cluster's), read from the profile by name."""
    from kfctl.config.profiles import load_profile

    try:
        return frozenset(load_profile(profile, base=Path.cwd()).relaxations)
    except ConfigError:
        return frozenset()


def live_members(api: Api, record: ReleaseRecord, concurrency: int = 16) -> dict[ObjectRef, dict[str, Any]]:
    """The release's objects that are still this app's members, one labelled list per kind."""
    selector = f"{APPLYSET_PART_OF}={applyset_id(record.app)}"
    kinds = sorted({(e.ref.api_version, e.ref.kind) for e in record.inventory})
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        lists = pool.map(lambda kind: api.list_kind(*kind, label_selector=selector), kinds)
        return {ObjectRef.of(item): item for items in lists for item in items}
