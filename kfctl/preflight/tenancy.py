"""Tenants (team namespaces, kfctl.tenancy): whether their quotas fit the cluster, and whether the
cluster's CNI enforces the NetworkPolicies that isolate them. Both read the plan's `tenants`
component only, and skip when it has nothing for them.

Check IDs (stable):

- `tenancy-quota`: the tenants' quotas (`requests.nvidia.com/gpu`, `requests.cpu`,
  `requests.memory` of each ResourceQuota `kfctl-tenant-quota`, or of each Kubeflow Profile's
  `resourceQuotaSpec`) summed, against what the Ready, schedulable nodes allocate. WARN when the
  sum, or one tenant alone, asks more than the cluster has: a quota caps a team and reserves
  nothing, so overcommitting is a legitimate choice and never a FAIL. SKIP without tenants.
- `tenancy-network-policy`: with any isolated tenant (NetworkPolicy `kfctl-tenant-isolation`), the
  CNI the `cni` check detects must enforce NetworkPolicies, or the isolation silently is not there.
  PASS for one that does (Calico, Cilium, …); FAIL when the only CNI found does not (flannel);
  WARN when preflight cannot tell (AWS VPC CNI, Azure CNI and kindnet depend on their setup; no
  known CNI found). SKIP without isolated tenants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kfctl.preflight.cni import NO_POLICY_ENFORCEMENT, DetectedCni, detect
from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    PlannedObjectLike,
    count,
    failed,
    listing,
    passed,
    skipped,
    unknown,
    warning,
)
from kfctl.preflight.gpu import GPU_RESOURCE
from kfctl.preflight.nodes import GIB, allocatable, node_ready, node_schedulable, parse_quantity
from kfctl.tenancy.objects import COMPONENT, ISOLATION_NAME, QUOTA_NAME

PROFILE_GROUP = "kubeflow.org"


def _number(value: float) -> str:
    return f"{round(value, 3):g}"


def _gib(value: float) -> str:
    return f"{round(value / GIB, 1):g} GiB"


@dataclass(frozen=True)
class QuotaResource:
    """A resource of the tenants' quotas and the node allocatable it is measured against."""

    key: str  # in a quota's `hard`
    node_resource: str  # in a node's status.allocatable
    noun: str
    unit: str  # of the figures in the report's details
    amount: Callable[[float], str]
    countable: bool = True  # "8 allocatable GPUs"; else "192 GiB of allocatable memory"

    def available(self, value: float) -> str:
        if self.countable:
            return f"{self.amount(value)} allocatable {self.noun}{'' if value == 1 else 's'}"
        return f"{self.amount(value)} of allocatable {self.noun}"


RESOURCES: tuple[QuotaResource, ...] = (
    QuotaResource(f"requests.{GPU_RESOURCE}", GPU_RESOURCE, "GPU", "GPUs", _number),
    QuotaResource("requests.cpu", "cpu", "CPU", "CPUs", _number),
    QuotaResource("requests.memory", "memory", "memory", "bytes", _gib, countable=False),
)


@dataclass(frozen=True)
class PolicySupport:
    """Whether a CNI (as kfctl.preflight.cni names it) enforces NetworkPolicies: True, False, or
    None when that depends on how it was set up (the note says on what)."""

    enforces: bool | None
    note: str = ""


POLICY_SUPPORT: Mapping[str, PolicySupport] = {
    "calico": PolicySupport(True),
    "cilium": PolicySupport(True),
    "weave": PolicySupport(True),
    "antrea": PolicySupport(True),
    "kube-router": PolicySupport(True),  # not detected by kfctl.preflight.cni yet
    "ovn-kubernetes": PolicySupport(True),
    "gke-dataplane": PolicySupport(True),  # GKE Dataplane V2 is Cilium and always enforces them
    **{name: PolicySupport(False) for name in NO_POLICY_ENFORCEMENT},
    "aws-vpc-cni": PolicySupport(
        None,
        "the AWS VPC CNI enforces them only with its network policy agent "
        '(EKS add-on configuration enableNetworkPolicy: "true")',
    ),
    "azure-cni": PolicySupport(
        None, "Azure CNI enforces them only with a network policy engine (AKS --network-policy azure|calico|cilium)"
    ),
    "kindnet": PolicySupport(None, "kindnet enforces them only from kind v0.24 on"),
}
HOW_TO_TEST = (
    "check the CNI's documentation, or test it: in a scratch namespace with a deny-all NetworkPolicy, "
    "one pod must not reach another"
)


# -- the plan's tenants --------------------------------------------------------------------------------------


def _tenant_objects(objects: Iterable[PlannedObjectLike]) -> list[PlannedObjectLike]:
    return [o for o in objects if o.component == COMPONENT]


def tenant_quotas(objects: Iterable[PlannedObjectLike]) -> dict[str, dict[str, Any]]:
    """Each tenant's quota `hard` by namespace ({} for a tenant without one): its ResourceQuota, or
    with Kubeflow profiles its Profile's resourceQuotaSpec (the profile controller writes the quota)."""
    quotas: dict[str, dict[str, Any]] = {}
    for obj in _tenant_objects(objects):
        ref, spec = obj.ref, obj.manifest.get("spec") or {}
        if ref.kind == "Namespace":
            quotas.setdefault(ref.name, {})
        elif ref.kind == "ResourceQuota" and ref.name == QUOTA_NAME:
            quotas[ref.namespace] = {**quotas.get(ref.namespace, {}), **(spec.get("hard") or {})}
        elif ref.kind == "Profile" and ref.api_version.split("/")[0] == PROFILE_GROUP:
            hard = (spec.get("resourceQuotaSpec") or {}).get("hard") or {}
            quotas[ref.name] = {**quotas.get(ref.name, {}), **hard}
    return dict(sorted(quotas.items()))


def isolated_tenants(objects: Iterable[PlannedObjectLike]) -> list[str]:
    """Namespaces of the tenants with isolation on (their NetworkPolicy is in the plan)."""
    return sorted(
        {
            o.ref.namespace
            for o in _tenant_objects(objects)
            if o.ref.kind == "NetworkPolicy" and o.ref.name == ISOLATION_NAME
        }
    )


# -- tenancy-quota ----------------------------------------------------------------------------------------------


def evaluate_quotas(quotas: Mapping[str, Mapping[str, Any]], nodes: list[dict[str, Any]]) -> Outcome:
    """The tenants' quotas (tenant → hard) against what the usable nodes allocate."""
    if not quotas:
        return skipped("the plan has no tenants")
    usable = [n for n in nodes if node_ready(n) and node_schedulable(n)]
    details: dict[str, Any] = {"tenants": list(quotas), "usableNodes": len(usable), "resources": {}}
    problems: list[str] = []
    fits: list[str] = []
    for resource in RESOURCES:
        asks: dict[str, float] = {}
        for tenant, hard in quotas.items():
            if hard.get(resource.key) is None:
                continue
            try:
                asks[tenant] = parse_quantity(hard[resource.key])
            except ValueError:
                return unknown(
                    f"tenant {tenant}: quota {resource.key} {hard[resource.key]!r} is not a quantity",
                    "fix the tenant's `quota:` in kfctl.yaml (a quantity like 4, 500m or 16Gi)",
                    **details,
                )
        total = sum(asks.values())
        cluster = sum(allocatable(n, resource.node_resource) for n in usable)
        unlimited = [t for t in quotas if t not in asks]
        details["resources"][resource.key] = {
            "asked": round(total, 3),
            "allocatable": round(cluster, 3),
            "perTenant": {t: round(v, 3) for t, v in asks.items()},
            "unit": resource.unit,
            "unlimited": unlimited,
        }
        if not asks:
            fits.append(f"{resource.noun} not limited")
            continue
        alone = [t for t, v in asks.items() if v > cluster]
        if len(asks) == 1 and alone:
            problems.append(
                f"tenant {alone[0]}'s {resource.noun} quota is {resource.amount(total)} "
                f"but the cluster has {resource.available(cluster)}"
            )
        elif total > cluster:
            over = f" ({listing([f'{t} alone asks {resource.amount(asks[t])}' for t in alone])})" if alone else ""
            problems.append(
                f"the {resource.noun} quotas sum to {resource.amount(total)}{over} "
                f"but the cluster has {resource.available(cluster)}"
            )
        else:
            fits.append(f"{resource.noun} {resource.amount(total)} of {resource.amount(cluster)}")
    if problems:
        return warning(
            "; ".join(problems),
            "fine if the teams will not use their shares at once (a quota caps, it reserves nothing); "
            "else lower the tenants' `quota:` in kfctl.yaml or add nodes",
            **details,
        )
    return passed(
        f"the quotas of {count(len(quotas), 'tenant')} fit the {count(len(usable), 'usable node')}: " + ", ".join(fits),
        **details,
    )


def check_tenancy_quota(ctx: CheckContext) -> Outcome:
    quotas = tenant_quotas(ctx.objects)
    return evaluate_quotas(quotas, ctx.nodes() if quotas else [])


# -- tenancy-network-policy ----------------------------------------------------------------------------------------


def evaluate_network_policy(isolated: list[str], detected: list[DetectedCni], allowed: tuple[str, ...]) -> Outcome:
    """Whether the detected CNIs enforce the isolated tenants' NetworkPolicies; `allowed` is the
    profile's CNI list, for the report when no CNI is found."""
    if not isolated:
        return skipped("no tenant of the plan has isolation on")
    names = sorted({d.cni for d in detected})
    details: dict[str, Any] = {
        "isolatedTenants": isolated,
        "detected": [d.as_dict() for d in detected],
        "allowed": list(allowed),
    }
    tenants = f"{count(len(isolated), 'tenant')} ({listing(isolated)})"
    if not names:
        expected = [c for c in allowed if c != "any"]
        would = (
            f"; the profile expects {' or '.join(expected)}, which would enforce them"
            if expected and all(_support(c).enforces for c in expected)
            else ""
        )
        return warning(
            f"no known CNI found, so the NetworkPolicies isolating {tenants} may be ignored{would}",
            HOW_TO_TEST,
            **details,
        )
    enforcing = [n for n in names if _support(n).enforces]
    if enforcing:
        return passed(f"{listing(enforcing)} enforces the NetworkPolicies isolating {tenants}", **details)
    undecided = [n for n in names if _support(n).enforces is None]
    if undecided:
        notes = [_support(n).note or f"{n} is not known to kfctl" for n in undecided]
        return warning(
            f"cannot tell whether {listing(undecided)} enforces the NetworkPolicies isolating {tenants}: "
            + "; ".join(notes),
            HOW_TO_TEST,
            **details,
        )
    return failed(
        f"{listing(names)} does not enforce NetworkPolicies: the isolation of {tenants} would have no effect",
        "install a CNI that enforces them (Calico, also as Canal on top of flannel, or Cilium), "
        "or set `isolation: false` on those tenants in kfctl.yaml",
        **details,
    )


def _support(cni: str) -> PolicySupport:
    return POLICY_SUPPORT.get(cni, PolicySupport(None))


def check_tenancy_network_policy(ctx: CheckContext) -> Outcome:
    isolated = isolated_tenants(ctx.objects)
    return evaluate_network_policy(isolated, detect(ctx.daemonsets()) if isolated else [], ctx.profile.cni)


CHECKS = (
    Check("tenancy-quota", "Tenant quotas", check_tenancy_quota),
    Check("tenancy-network-policy", "Tenant isolation (NetworkPolicy)", check_tenancy_network_policy),
)
