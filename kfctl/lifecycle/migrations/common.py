"""Small pieces the release steps' migrations share: how an object is named in a finding, and the
database dump an operator runs before a step that upgrades a database in place."""

from __future__ import annotations

from typing import Any

from kfctl.kube.api import Api, ObjectRef

RBAC = "rbac.authorization.k8s.io/v1"


def deployment(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("apps/v1", "Deployment", namespace, name)


def pvc(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("v1", "PersistentVolumeClaim", namespace, name)


def named(ref: ObjectRef) -> str:
    """`Kind namespace/name` without the API group: how an operator types it after `kubectl get`."""
    return f"{ref.kind} {ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind} {ref.name}"


def image_of(obj: dict[str, Any]) -> str:
    """The first container's image of a workload ("" when it has none)."""
    containers = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    return str(containers[0].get("image", "")) if containers else ""


def database_findings(api: Api, workload: ObjectRef, volume: ObjectRef) -> list[str]:
    """The database's Deployment and volume as the cluster holds them; [] when neither exists."""
    found = []
    live = api.get(workload)
    if live is not None:
        found.append(f"{named(workload)} (image {image_of(live) or 'unknown'})")
    if api.get(volume) is not None:
        found.append(named(volume))
    return found


def mysqldump(workload: ObjectRef, databases: list[str], auth: str, out: str) -> str:
    """The dump command, run in the database's own container. `auth` names the credentials by
    reference only (an environment variable the container has from its Secret): never a value."""
    return (
        f"kubectl exec -n {workload.namespace} deploy/{workload.name} -- sh -c "
        f"'exec mysqldump {auth} --single-transaction --routines --triggers --databases {' '.join(databases)}'"
        f" > {out}"
    )
