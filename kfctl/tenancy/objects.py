"""What a team namespace gets, as plain objects: the namespace with the platform's labels, a Kubeflow
Profile and KFAM-shaped contributor bindings when the platform has the profiles component (plain
RoleBindings otherwise), a ResourceQuota, a LimitRange and, with isolation, a NetworkPolicy.

Everything that depends on the platform is read from its rendered objects (PlatformFacts), never
assumed: which component serves the Profile and AuthorizationPolicy CRDs, whether kubeflow-roles'
ClusterRoles exist, the labels and user-id header the profile controller is configured with, the
namespaces the platform's services run in.

The KFAM format follows kubeflow/kubeflow components/access-management/kfam/bindings.go
(`getBindingName`, `getAuthorizationPolicy`, `BindingClient.Create`): a RoleBinding and an Istio
AuthorizationPolicy per contributor, both named `user-<email with non-alphanumerics as ->-clusterrole-<role>`,
annotated `user: <email>` and `role: <admin|edit|view>`, bound to ClusterRole `kubeflow-<role>`; the
policy admits requests whose user-id header (the profiles-config ConfigMap's USERID_HEADER, with
USERID_PREFIX) names the user, coming from the ingress gateway or the Pipelines UI (its
ISTIO_INGRESS_GATEWAY_PRINCIPAL and KFP_UI_PRINCIPAL). The owner's own bindings (`namespaceAdmin`,
`ns-owner-access-istio`) are the profile controller's (components/profile-controller/controllers/
profile_controller.go), so kfctl does not write them; it creates the namespace annotated
`owner: <owner>`, which that controller accepts as the profile's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kfctl.config.tenants import GPU_RESOURCE, Member, TenantConfig, member
from kfctl.plain_yaml import load_plain_yaml

COMPONENT = "tenants"  # the name tenants' objects go under in plans, inventories, status and diff
PART_OF = "app.kubernetes.io/part-of"
PART_OF_VALUE = "kubeflow-profile"  # the profile controller's own value, so tools that look for it find teams
POD_SECURITY = "pod-security.kubernetes.io/enforce"
DEFAULT_POD_SECURITY = "baseline"  # Kubeflow's level for profile namespaces (applications/profiles/pss)
PROFILE_CRD = "profiles.kubeflow.org"
AUTHORIZATION_POLICY_CRD = "authorizationpolicies.security.istio.io"
KFAM_ISTIO_VERSION = "v1beta1"  # what KFAM writes; used when the CRD serves it
ROLE_PREFIX = "kubeflow-"  # kubeflow-roles' ClusterRoles: kubeflow-admin, kubeflow-edit, kubeflow-view
QUOTA_NAME = "kfctl-tenant-quota"
LIMITS_NAME = "kfctl-tenant-limits"
ISOLATION_NAME = "kfctl-tenant-isolation"
DNS_NAMESPACE = "kube-system"
DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}  # so a quota on requests does not refuse pods without any
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


class Document(Protocol):
    """A rendered object as the render keeps it: identity without a parse, the body on demand."""

    api_version: str
    kind: str
    name: str
    namespace: str

    @property
    def obj(self) -> dict[str, Any]: ...


@dataclass
class PlatformFacts:
    """What tenant objects depend on, read from the rendered platform."""

    profile_component: str | None = None  # serves the Profile CRD
    profile_version: str = "v1"
    istio_component: str | None = None  # serves the AuthorizationPolicy CRD
    istio_version: str = KFAM_ISTIO_VERSION
    roles_component: str | None = None  # renders the kubeflow-admin/edit/view ClusterRoles
    sidecar_injection: bool = False  # an Istio sidecar injector is installed
    namespace_labels: dict[str, str] = field(default_factory=dict)  # the profile controller's
    userid_header: str = "kubeflow-userid"
    userid_prefix: str = ""
    principals: tuple[str, ...] = ()  # who may carry the user-id header into a team namespace
    system_namespaces: tuple[str, ...] = ()  # namespaces the platform renders

    @property
    def dependencies(self) -> list[str]:
        return sorted({c for c in (self.profile_component, self.istio_component, self.roles_component) if c})


def _served_version(crd: dict[str, Any], preferred: str | None = None) -> str:
    versions = [v for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served")]
    names = [str(v.get("name")) for v in versions]
    if preferred in names:
        return str(preferred)
    return next((str(v["name"]) for v in versions if v.get("storage")), names[0] if names else "v1")


def platform_facts(components: Iterable[tuple[str, Iterable[Document]]]) -> PlatformFacts:
    """Read the facts from each component's documents; only the few objects that matter are parsed."""
    facts = PlatformFacts()
    namespaces: set[str] = set()
    for component, documents in components:
        for document in documents:
            kind, name = document.kind, document.name
            if kind == "Namespace":
                namespaces.add(name)
            elif kind == "CustomResourceDefinition" and name == PROFILE_CRD:
                facts.profile_component = component
                facts.profile_version = _served_version(document.obj)
            elif kind == "CustomResourceDefinition" and name == AUTHORIZATION_POLICY_CRD:
                facts.istio_component = component
                facts.istio_version = _served_version(document.obj, KFAM_ISTIO_VERSION)
            elif kind == "ClusterRole" and name == f"{ROLE_PREFIX}edit":
                facts.roles_component = component
            elif kind == "MutatingWebhookConfiguration" and "sidecar-injector" in name:
                facts.sidecar_injection = True
            elif kind == "ConfigMap":
                _read_profile_settings(facts, document)
    facts.system_namespaces = tuple(sorted(namespaces))
    return facts


def _read_profile_settings(facts: PlatformFacts, document: Document) -> None:
    """The profile controller's ConfigMaps: namespace labels, and the user-id header and principals."""
    if not (document.name.startswith("namespace-labels") or document.name.startswith("profiles-config")):
        return
    data = document.obj.get("data") or {}
    if "namespace-labels.yaml" in data:
        labels = load_plain_yaml(data["namespace-labels.yaml"]) or {}
        if isinstance(labels, dict):
            facts.namespace_labels = {str(k): str(v) for k, v in labels.items() if v not in ("", None)}
    if "USERID_HEADER" in data:
        facts.userid_header = str(data["USERID_HEADER"]).strip('"') or facts.userid_header
        facts.userid_prefix = str(data.get("USERID_PREFIX") or "").strip('"')
        facts.principals = tuple(
            str(data[key]).strip('"')
            for key in ("ISTIO_INGRESS_GATEWAY_PRINCIPAL", "KFP_UI_PRINCIPAL")
            if str(data.get(key) or "").strip('"')
        )


def binding_name(subject: Member) -> str:
    """KFAM's getBindingName: kind, name, `ClusterRole`, role, joined by `-`, lowercase, every run of
    characters other than letters and digits replaced by one `-`."""
    clean = re.sub(r"[^a-zA-Z0-9]+", "-", subject.name)
    kind = "User" if subject.kind == "ServiceAccount" else subject.kind
    return re.sub(r"[^a-zA-Z0-9]+", "-", "-".join([kind, clean, "ClusterRole", subject.role]).lower())


def quota_hard(tenant: TenantConfig) -> dict[str, str]:
    """The ResourceQuota's `hard`: GPUs always counted (none unless granted), the rest as asked."""
    quota = tenant.quota
    hard = {f"requests.{GPU_RESOURCE}": str(tenant.gpu_quota)}
    for key, resource in (("cpu", "requests.cpu"), ("memory", "requests.memory"), ("storage", "requests.storage")):
        if quota.get(key) is not None:
            hard[resource] = str(quota[key])
    if quota.get("pvcs") is not None:
        hard["persistentvolumeclaims"] = str(quota["pvcs"])
    for storage_class, amount in (quota.get("storageClasses") or {}).items():
        hard[f"{storage_class}.storageclass.storage.k8s.io/requests.storage"] = str(amount)
    return hard


def tenant_objects(tenant: TenantConfig, facts: PlatformFacts) -> list[dict[str, Any]]:
    """Every object of one tenant; namespaced ones in the tenant's namespace."""
    with_profile = facts.profile_component is not None
    objects: list[dict[str, Any]] = [_namespace(tenant, facts)]
    if with_profile:
        objects.append(_profile(tenant, facts))
    members = tenant.members if with_profile else [member(tenant.owner, "admin"), *tenant.members]
    for subject in members:
        objects.append(_role_binding(tenant, subject, facts))
        if with_profile and facts.istio_component and subject.kind != "Group":
            objects.append(_authorization_policy(tenant, subject, facts))
    if not with_profile:  # with a Profile, its resourceQuotaSpec is the quota (the controller writes it)
        objects.append(_namespaced("v1", "ResourceQuota", QUOTA_NAME, tenant, spec={"hard": quota_hard(tenant)}))
    objects.append(_limit_range(tenant))
    if tenant.isolation:
        objects.append(_network_policy(tenant, facts))
    return objects


def _namespaced(api_version: str, kind: str, name: str, tenant: TenantConfig, **body: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": tenant.name}, **body}


def _namespace(tenant: TenantConfig, facts: PlatformFacts) -> dict[str, Any]:
    labels = {PART_OF: PART_OF_VALUE, **facts.namespace_labels}
    labels[POD_SECURITY] = tenant.pod_security or facts.namespace_labels.get(POD_SECURITY) or DEFAULT_POD_SECURITY
    if facts.sidecar_injection:
        labels["istio-injection"] = "enabled"
    labels.update(tenant.labels)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": tenant.name, "labels": labels, "annotations": {"owner": tenant.owner}},
    }


def _profile(tenant: TenantConfig, facts: PlatformFacts) -> dict[str, Any]:
    spec: dict[str, Any] = {"owner": member(tenant.owner, "admin").subject}
    spec["resourceQuotaSpec"] = {"hard": quota_hard(tenant)}
    return {
        "apiVersion": f"kubeflow.org/{facts.profile_version}",
        "kind": "Profile",
        "metadata": {"name": tenant.name},
        "spec": spec,
    }


def cluster_role_for(role: str, facts: PlatformFacts) -> str:
    """kubeflow-roles' aggregated ClusterRole when the platform has it, else the built-in one."""
    return f"{ROLE_PREFIX}{role}" if facts.roles_component else role


def _role_binding(tenant: TenantConfig, subject: Member, facts: PlatformFacts) -> dict[str, Any]:
    annotations = {"role": subject.role}
    if subject.kind != "Group":
        annotations["user"] = subject.name
    binding = _namespaced(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        binding_name(subject),
        tenant,
        roleRef={
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role_for(subject.role, facts),
        },
        subjects=[subject.subject],
    )
    binding["metadata"]["annotations"] = annotations
    return binding


def _authorization_policy(tenant: TenantConfig, subject: Member, facts: PlatformFacts) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "when": [{"key": f"request.headers[{facts.userid_header}]", "values": [facts.userid_prefix + subject.name]}]
    }
    if facts.principals:
        rule = {"from": [{"source": {"principals": list(facts.principals)}}], **rule}
    return {
        "apiVersion": f"security.istio.io/{facts.istio_version}",
        "kind": "AuthorizationPolicy",
        "metadata": {
            "name": binding_name(subject),
            "namespace": tenant.name,
            "annotations": {"user": subject.name, "role": subject.role},
        },
        "spec": {"rules": [rule]},
    }


def _limit_range(tenant: TenantConfig) -> dict[str, Any]:
    limit: dict[str, Any] = {"type": "Container"}
    limits = tenant.limits
    limit["defaultRequest"] = dict(limits.get("defaultRequest") or {}) or (
        {} if limits.get("default") else dict(DEFAULT_REQUEST)
    )
    if not limit["defaultRequest"]:
        del limit["defaultRequest"]  # Kubernetes defaults the request to the default limit
    for key in ("default", "max"):
        if limits.get(key):
            limit[key] = dict(limits[key])
    return _namespaced("v1", "LimitRange", LIMITS_NAME, tenant, spec={"limits": [limit]})


def _namespaces_in(names: Iterable[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(names)}]
        }
    }


def _network_policy(tenant: TenantConfig, facts: PlatformFacts) -> dict[str, Any]:
    """Default deny, then the openings: the namespace itself, the platform's namespaces (Istio's
    control plane and gateways, Kubeflow's services that call into team namespaces), DNS out, and the
    tenant's egress CIDRs (by default everywhere: Kubernetes' own default; [] keeps egress inside)."""
    ingress: list[dict[str, Any]] = [{"from": [{"podSelector": {}}]}]
    egress: list[dict[str, Any]] = [
        {"to": [{"podSelector": {}}]},
        {
            "to": [_namespaces_in([DNS_NAMESPACE])],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
    ]
    system = [n for n in facts.system_namespaces if n != tenant.name]
    if system:
        ingress.append({"from": [_namespaces_in(system)]})
        egress.append({"to": [_namespaces_in(system)]})
    if tenant.egress_cidrs:
        egress.append({"to": [{"ipBlock": {"cidr": cidr}} for cidr in tenant.egress_cidrs]})
    return _namespaced(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        ISOLATION_NAME,
        tenant,
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress},
    )


def all_tenant_objects(tenants: list[TenantConfig], facts: PlatformFacts) -> list[dict[str, Any]]:
    return [obj for tenant in tenants for obj in tenant_objects(tenant, facts)]
