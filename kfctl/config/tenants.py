"""Team namespaces in the app config (`spec.tenants`): the shape, its checks, and the model the
tenancy package turns into objects. Everything a tenant grants is checked here, before any request:
users are emails or service accounts, groups are named as groups and never a `system:` group, so a
config cannot hand the whole cluster a role by accident."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kfctl.schema import Bool, Checked, Field, Int, ListOf, MapOf, Obj, Str, Where, line_of

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
ROLES = ("admin", "edit", "view")
EMAIL = r"[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+"
SERVICE_ACCOUNT = rf"system:serviceaccount:{DNS_LABEL}:[a-z0-9]([-a-z0-9.]*[a-z0-9])?"
USER = rf"({EMAIL})|({SERVICE_ACCOUNT})"
# A Kubernetes resource quantity (k8s.io/apimachinery resource.Quantity): 2, 500m, 1.5Gi, 1e3.
QUANTITY = r"[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[mkMGTPE]|[eE][-+]?[0-9]+)?"
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
CIDR = r"[0-9a-fA-F.:]+/[0-9]{1,3}"
OPEN_EGRESS = ("0.0.0.0/0", "::/0")


def _group_not_system(value: Any, node: Any, where: Where) -> None:
    if str(value).startswith("system:"):
        raise where.error(
            f"group {value!r} is a Kubernetes system group (every user, every node or every service account)",
            hint="name the team's own group from your identity provider",
        )


QUANTITY_SHAPE = Str(pattern=QUANTITY, what="a Kubernetes quantity like 4, 500m or 16Gi")
MEMBER = Obj(
    {
        "user": Field(Str(pattern=USER, what="an email address or system:serviceaccount:NAMESPACE:NAME")),
        "group": Field(Checked(Str(pattern=r"\S+", what="a group name"), _group_not_system)),
        "role": Field(Str(choices=list(ROLES)), default="edit"),
    }
)
QUOTA = Obj(
    {
        "cpu": Field(QUANTITY_SHAPE),
        "memory": Field(QUANTITY_SHAPE),
        "gpu": Field(Int(minimum=0)),
        "pvcs": Field(Int(minimum=0)),
        "storage": Field(QUANTITY_SHAPE),
        "storageClasses": Field(MapOf(QUANTITY_SHAPE, key=Str(pattern=DNS_LABEL, what="a StorageClass name"))),
    }
)
RESOURCE_PAIR = Obj({"cpu": Field(QUANTITY_SHAPE), "memory": Field(QUANTITY_SHAPE)})
LIMITS = Obj({"defaultRequest": Field(RESOURCE_PAIR), "default": Field(RESOURCE_PAIR), "max": Field(RESOURCE_PAIR)})
TENANT = Obj(
    {
        "name": Field(Str(pattern=DNS_LABEL, what="a namespace name (lowercase DNS label)"), required=True),
        "owner": Field(
            Str(pattern=USER, what="an email address or system:serviceaccount:NAMESPACE:NAME"), required=True
        ),
        "members": Field(ListOf(MEMBER), default=list),
        "quota": Field(QUOTA),
        "limits": Field(LIMITS),
        "isolation": Field(Bool(), default=True),
        "podSecurity": Field(Str(choices=list(POD_SECURITY_LEVELS))),
        "labels": Field(
            MapOf(Str(), key=Str(pattern=r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")), default=dict
        ),
        # Where pods may connect outside the openings isolation keeps; by default anywhere (as without a
        # policy): isolation is about who reaches the team's pods. [] keeps egress inside the platform.
        "egressCIDRs": Field(
            ListOf(Str(pattern=CIDR, what="a CIDR like 10.0.0.0/8")), default=lambda: list(OPEN_EGRESS)
        ),
    }
)
TENANTS = ListOf(TENANT)

# The GPU resource the quota counts (the NVIDIA device plugin's name, as preflight's GPU check reads it).
GPU_RESOURCE = "nvidia.com/gpu"
# Labels a tenant may not set itself: kfctl's own and the ones that decide isolation and admission.
RESERVED_LABEL_PREFIXES = ("kfctl.dev/", "applyset.kubernetes.io/", "pod-security.kubernetes.io/", "kubernetes.io/")


@dataclass(frozen=True)
class Member:
    kind: str  # "User", "Group" or "ServiceAccount" (an RBAC subject kind)
    name: str
    role: str

    @property
    def subject(self) -> dict[str, str]:
        """The RBAC subject; a `system:serviceaccount:NS:NAME` user is a ServiceAccount subject."""
        if self.kind == "ServiceAccount":
            _, _, namespace, name = self.name.split(":", 3)
            return {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        return {"apiGroup": "rbac.authorization.k8s.io", "kind": self.kind, "name": self.name}

    def summary(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "role": self.role}


def member(name: str, role: str, *, group: bool = False) -> Member:
    if group:
        return Member("Group", name, role)
    return Member("ServiceAccount" if name.startswith("system:serviceaccount:") else "User", name, role)


@dataclass
class TenantConfig:
    name: str
    owner: str
    members: list[Member] = field(default_factory=list)
    quota: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, dict[str, str]] = field(default_factory=dict)
    isolation: bool = True
    pod_security: str | None = None  # None: the platform's level for team namespaces
    labels: dict[str, str] = field(default_factory=dict)
    egress_cidrs: list[str] = field(default_factory=list)
    where: Where | None = None

    @property
    def gpu_quota(self) -> int:
        return int(self.quota.get("gpu") or 0)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "members": [m.summary() for m in self.members],
            "quota": self.quota,
            "limits": self.limits,
            "isolation": self.isolation,
            "podSecurity": self.pod_security,
            "labels": self.labels,
            "egressCIDRs": self.egress_cidrs,
        }


def read_tenants(checked: list[dict[str, Any]] | None, node: Any, where: Where) -> list[TenantConfig]:
    """The checked `spec.tenants` entries as models; refuses what the shape alone cannot say."""
    tenants: list[TenantConfig] = []
    seen: dict[str, Where] = {}
    for index, item in enumerate(checked or []):
        raw = node[index] if isinstance(node, list) and index < len(node) else {}
        at = where.child(index, line_of(node, index))
        if item["name"] in seen:
            raise at.child("name", line_of(raw, "name")).error(
                f"tenant {item['name']} is listed twice (first at {seen[item['name']]})", hint="merge the two entries"
            )
        seen[item["name"]] = at
        members = []
        raw_members = raw.get("members") if isinstance(raw, dict) else None
        for position, entry in enumerate(item["members"]):
            member_at = at.child("members", line_of(raw, "members")).child(position, line_of(raw_members, position))
            if (entry["user"] is None) == (entry["group"] is None):
                raise member_at.error(
                    "a member names exactly one of user: or group:", hint="e.g. {user: bob@company.com, role: view}"
                )
            members.append(member(entry["user"] or entry["group"], entry["role"], group=entry["group"] is not None))
        keys = [(m.kind, m.name) for m in members]
        for key in keys:
            if keys.count(key) > 1:
                raise at.child("members", line_of(raw, "members")).error(
                    f"{key[0].lower()} {key[1]} is listed twice", hint="give each member one role"
                )
        for label in item["labels"]:
            if label.startswith(RESERVED_LABEL_PREFIXES) or label in ("istio-injection", "app.kubernetes.io/part-of"):
                raise (
                    at.child("labels", line_of(raw, "labels"))
                    .child(label, None)
                    .error(
                        f"label {label} is set by kfctl",
                        hint="use podSecurity: for the Pod Security level, or another key",
                    )
                )
        tenants.append(
            TenantConfig(
                name=item["name"],
                owner=item["owner"],
                members=members,
                quota={k: v for k, v in (item["quota"] or {}).items() if v is not None},
                limits={
                    k: {r: q for r, q in v.items() if q is not None} for k, v in (item["limits"] or {}).items() if v
                },
                isolation=item["isolation"],
                pod_security=item["podSecurity"],
                labels=item["labels"],
                egress_cidrs=item["egressCIDRs"],
                where=at,
            )
        )
    return tenants


def is_user(name: str) -> bool:
    return re.fullmatch(USER, name) is not None
