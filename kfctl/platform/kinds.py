"""Apply order of objects inside a component, by kind: definitions first, webhooks and custom
resources last. A table, so it is easy to read, test and extend (after lightkube's sort_objects)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Lower ranks go first. Webhook configurations go after the workloads that serve them, so the
# API server does not call a webhook whose backend does not exist yet; custom resources go last.
KIND_RANK: dict[str, int] = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "StorageClass": 2,
    "RuntimeClass": 2,
    "ResourceQuota": 3,
    "LimitRange": 3,
    "PodSecurityPolicy": 3,
    "ServiceAccount": 4,
    "ClusterRole": 5,
    "ClusterRoleBinding": 6,
    "Role": 5,
    "RoleBinding": 6,
    "ConfigMap": 7,
    "Secret": 7,
    "PersistentVolume": 8,
    "PersistentVolumeClaim": 9,
    "NetworkPolicy": 10,
    "Service": 11,
    "Endpoints": 11,
    "EndpointSlice": 11,
    "Deployment": 12,
    "StatefulSet": 12,
    "DaemonSet": 12,
    "ReplicaSet": 12,
    "Pod": 12,
    "Job": 13,
    "CronJob": 13,
    "PodDisruptionBudget": 14,
    "HorizontalPodAutoscaler": 14,
    "APIService": 15,
    "Ingress": 15,
    "IngressClass": 2,
    "MutatingWebhookConfiguration": 16,
    "ValidatingWebhookConfiguration": 16,
    "ValidatingAdmissionPolicy": 16,
    "ValidatingAdmissionPolicyBinding": 17,
}
CUSTOM_RESOURCE_RANK = 20

# Objects that must exist (and, for CRDs, be Established) before anything else of the component.
DEFINITION_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
        "StorageClass",
        "RuntimeClass",
        "IngressClass",
    }
)

BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "certificates.k8s.io",
    }
)


def api_group(obj: dict[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def kind_rank(obj: dict[str, Any]) -> int:
    kind = str(obj.get("kind", ""))
    if api_group(obj) not in BUILTIN_GROUPS:
        return CUSTOM_RESOURCE_RANK
    return KIND_RANK.get(kind, CUSTOM_RESOURCE_RANK - 1)


def object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name): an object's identity."""
    metadata = obj.get("metadata") or {}
    return (
        api_group(obj),
        str(obj.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    )


def sort_objects(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable sort by kind rank, then identity, so output is deterministic."""
    return sorted(objects, key=lambda o: (kind_rank(o), object_key(o)))
