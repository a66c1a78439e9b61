"""What kfctl knows about each kind, in one table per GroupKind: its rank in apply order, the stage
of a component it belongs to, and whether deleting it deletes users' data. Delete and prune walk
the same order backwards (after lightkube's sort_objects: one rank table, reversed for deletes).

Stages inside a component, in order: definitions (Namespaces, CRDs, cluster-wide RBAC and classes)
that must exist before anything uses them; the other built-in objects; admission (webhook
configurations and policies), once the workloads serving them are ready; custom resources last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any

GroupKind = tuple[str, str]  # ("apps", "Deployment"); the core group is ""


class Stage(IntEnum):
    DEFINITIONS = 0
    OBJECTS = 1
    WEBHOOKS = 2
    CUSTOM_RESOURCES = 3


@dataclass(frozen=True)
class KindInfo:
    rank: int  # lower goes first
    stage: Stage
    keeps_data: bool = False  # deleting it deletes data: prune and delete keep it unless --purge


_D, _O, _W = Stage.DEFINITIONS, Stage.OBJECTS, Stage.WEBHOOKS
KINDS: Mapping[GroupKind, KindInfo] = MappingProxyType(
    {
        ("", "Namespace"): KindInfo(0, _D, keeps_data=True),
        ("apiextensions.k8s.io", "CustomResourceDefinition"): KindInfo(1, _D, keeps_data=True),
        ("scheduling.k8s.io", "PriorityClass"): KindInfo(2, _D),
        ("storage.k8s.io", "StorageClass"): KindInfo(2, _D),
        ("node.k8s.io", "RuntimeClass"): KindInfo(2, _D),
        ("networking.k8s.io", "IngressClass"): KindInfo(2, _D),
        ("", "ResourceQuota"): KindInfo(3, _O),
        ("", "LimitRange"): KindInfo(3, _O),
        ("", "ServiceAccount"): KindInfo(4, _O),
        ("rbac.authorization.k8s.io", "ClusterRole"): KindInfo(5, _D),
        ("rbac.authorization.k8s.io", "Role"): KindInfo(5, _O),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"): KindInfo(6, _D),
        ("rbac.authorization.k8s.io", "RoleBinding"): KindInfo(6, _O),
        ("", "ConfigMap"): KindInfo(7, _O),
        ("", "Secret"): KindInfo(7, _O),
        ("", "PersistentVolume"): KindInfo(8, _O, keeps_data=True),
        ("", "PersistentVolumeClaim"): KindInfo(9, _O, keeps_data=True),
        ("networking.k8s.io", "NetworkPolicy"): KindInfo(10, _O),
        ("", "Service"): KindInfo(11, _O),
        ("", "Endpoints"): KindInfo(11, _O),
        ("discovery.k8s.io", "EndpointSlice"): KindInfo(11, _O),
        ("apps", "Deployment"): KindInfo(12, _O),
        ("apps", "StatefulSet"): KindInfo(12, _O),
        ("apps", "DaemonSet"): KindInfo(12, _O),
        ("apps", "ReplicaSet"): KindInfo(12, _O),
        ("", "Pod"): KindInfo(12, _O),
        ("batch", "Job"): KindInfo(13, _O),
        ("batch", "CronJob"): KindInfo(13, _O),
        ("policy", "PodDisruptionBudget"): KindInfo(14, _O),
        ("autoscaling", "HorizontalPodAutoscaler"): KindInfo(14, _O),
        ("apiregistration.k8s.io", "APIService"): KindInfo(15, _O),
        ("networking.k8s.io", "Ingress"): KindInfo(15, _O),
        # Admission goes after the workloads that serve it, so the API server never calls a webhook
        # whose backend does not exist yet.
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): KindInfo(16, _W),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): KindInfo(16, _W),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): KindInfo(16, _W),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): KindInfo(17, _W),
    }
)
# Groups served by Kubernetes itself: their kinds exist before any CRD does.
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
OTHER_BUILTIN = KindInfo(19, Stage.OBJECTS)
CUSTOM_RESOURCE = KindInfo(20, Stage.CUSTOM_RESOURCES)
WEBHOOK_KINDS = frozenset(
    kind for (group, kind), info in KINDS.items() if group == "admissionregistration.k8s.io" and "Webhook" in kind
)


def kind_info(group: str, kind: str) -> KindInfo:
    info = KINDS.get((group, kind))
    if info is not None:
        return info
    return OTHER_BUILTIN if group in BUILTIN_GROUPS else CUSTOM_RESOURCE


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def api_group(obj: Mapping[str, Any]) -> str:
    return group_of(str(obj.get("apiVersion", "")))


def info_of(obj: Mapping[str, Any]) -> KindInfo:
    return kind_info(api_group(obj), str(obj.get("kind", "")))


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name): an object's identity."""
    metadata = obj.get("metadata") or {}
    return (
        api_group(obj),
        str(obj.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    )


def apply_order_key(group: str, kind: str, namespace: str, name: str) -> tuple[int, int, str, str, str, str]:
    """Stage, rank, then identity: the order inside a component (and, reversed, the delete order)."""
    info = kind_info(group, kind)
    return (int(info.stage), info.rank, group, kind, namespace, name)


def sort_objects(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable apply order, so output is deterministic."""
    return sorted(objects, key=lambda o: apply_order_key(*object_key(o)))
