"""The CNI: which one runs (by its DaemonSet), whether it is healthy, and whether the profile allows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfctl.platform.readiness import readiness
from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    failed,
    listing,
    name_of,
    namespace_of,
    passed,
    warning,
    where,
)


@dataclass(frozen=True)
class CniSignature:
    """A CNI is running when a DaemonSet of one of these names exists (in one of these namespaces)."""

    cni: str  # as profiles name it (kfctl.config.profiles.CNIS)
    daemonsets: tuple[str, ...]
    namespaces: tuple[str, ...] = ()  # empty: any
    installed_by: str = "manifest"


SIGNATURES: tuple[CniSignature, ...] = (
    CniSignature("calico", ("calico-node",), ("calico-system",), "Tigera operator"),
    CniSignature("calico", ("calico-node",), (), "manifest"),
    CniSignature("cilium", ("cilium",)),
    CniSignature("flannel", ("kube-flannel-ds", "kube-flannel-ds-amd64", "flannel")),
    CniSignature("aws-vpc-cni", ("aws-node",)),
    CniSignature("azure-cni", ("azure-cns", "azure-vnet")),
    CniSignature("gke-dataplane", ("anetd",), (), "GKE Dataplane V2"),
    CniSignature("kindnet", ("kindnet", "kindnetd")),
    CniSignature("weave", ("weave-net",)),
    CniSignature("antrea", ("antrea-agent",)),
    CniSignature("ovn-kubernetes", ("ovnkube-node",)),
)

# What a CNI means for the plan: CNI → (the planned component it concerns, the note).
NOTES: Mapping[str, tuple[str, str]] = {
    "cilium": (
        "istio",
        "with Istio, Cilium needs cni.exclusive=false (and socketLB.hostNamespaceOnly=true when it "
        "replaces kube-proxy)",
    ),
}
# CNIs that do not enforce NetworkPolicies: the plan's policies would have no effect.
NO_POLICY_ENFORCEMENT = frozenset({"flannel"})


@dataclass(frozen=True)
class DetectedCni:
    cni: str
    daemonset: str  # namespace/name
    installed_by: str
    ready: bool
    state: str
    ready_pods: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cni": self.cni,
            "daemonSet": self.daemonset,
            "installedBy": self.installed_by,
            "ready": self.ready,
            "state": self.state,
            "readyPods": self.ready_pods,
        }


def detect(daemonsets: list[dict[str, Any]]) -> list[DetectedCni]:
    """Every CNI whose DaemonSet is present; the first signature that matches a DaemonSet names it."""
    found: list[DetectedCni] = []
    for daemonset in daemonsets:
        for signature in SIGNATURES:
            if name_of(daemonset) in signature.daemonsets and (
                not signature.namespaces or namespace_of(daemonset) in signature.namespaces
            ):
                state = readiness(daemonset)
                ready_pods = int((daemonset.get("status") or {}).get("numberReady") or 0)
                found.append(
                    DetectedCni(
                        signature.cni, where(daemonset), signature.installed_by, state.ready, state.message, ready_pods
                    )
                )
                break
    return found


def evaluate(
    detected: list[DetectedCni],
    allowed: tuple[str, ...],
    network_policies: int = 0,
    components: frozenset[str] = frozenset(),
) -> Outcome:
    allowed_text = ", ".join(allowed)
    details: dict[str, Any] = {"detected": [d.as_dict() for d in detected], "allowed": list(allowed)}
    if not detected:
        message = "no known CNI found (no DaemonSet of " + ", ".join(sorted({s.cni for s in SIGNATURES})) + ")"
        if "any" in allowed:
            return warning(
                message + "; it may be built into the nodes",
                "check that pods get addresses and can reach each other (`kubectl get pods -A -o wide`)",
                **details,
            )
        return failed(
            message,
            f"install one of the CNIs the profile allows ({allowed_text}); without one, no pod gets a network",
            **details,
        )
    names = sorted({d.cni for d in detected})
    unhealthy = [d for d in detected if not d.ready]
    disallowed = [d for d in detected if "any" not in allowed and d.cni not in allowed]
    described = listing([f"{d.cni} ({d.daemonset}, {d.installed_by}: {d.state})" for d in detected])
    notes = [NOTES[name][1] for name in names if name in NOTES and NOTES[name][0] in components]
    no_policies = sorted(set(names) & NO_POLICY_ENFORCEMENT)
    if network_policies and no_policies:
        notes.append(f"{', '.join(no_policies)} does not enforce the plan's {network_policies} NetworkPolicies")
    if notes:
        details["notes"] = notes
    if disallowed and len(disallowed) == len(detected):
        return failed(
            f"CNI {', '.join(names)} is not one the profile allows ({allowed_text})",
            "use a cluster with an allowed CNI, or a profile made for this one (`kfctl profiles list`)",
            **details,
        )
    down = [d for d in unhealthy if not d.ready_pods]
    if down:
        return failed(
            f"CNI not running: {listing([f'{d.daemonset} {d.state}' for d in down])}",
            "check the CNI's pods: `kubectl -n NAMESPACE describe daemonset NAME`",
            **details,
        )
    if unhealthy:
        return warning(
            f"CNI not ready on every node: {listing([f'{d.daemonset} {d.state}' for d in unhealthy])}",
            "pods on those nodes get no network; check the nodes (nodes-ready) and the CNI's pods there",
            **details,
        )
    if len(names) > 1:
        return warning(
            f"more than one CNI runs: {described}",
            "run one CNI (or configure chaining on purpose); two primary CNIs fight over pod networking",
            **details,
        )
    if network_policies and no_policies:
        return warning(f"{described}; {'; '.join(notes)}", "use a CNI that enforces NetworkPolicies", **details)
    return passed(described + (f"; note: {'; '.join(notes)}" if notes else ""), **details)


def check_cni(ctx: CheckContext) -> Outcome:
    return evaluate(
        detect(ctx.daemonsets()),
        ctx.profile.cni,
        len(ctx.planned("NetworkPolicy")),
        frozenset(ctx.component_names),
    )


CHECKS = (Check("cni", "CNI", check_cni),)
