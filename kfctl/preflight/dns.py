"""Cluster DNS: the CoreDNS (or kube-dns) Deployment selected by `k8s-app=kube-dns`, available, and
its Service with ready endpoints. Every Kubeflow service finds the others by DNS name."""

from __future__ import annotations

from typing import Any

from kfctl.kube.api import ObjectRef
from kfctl.platform.readiness import readiness
from kfctl.preflight.context import Check, CheckContext, Outcome, failed, listing, passed, skipped, where

NAMESPACE = "kube-system"
SELECTOR = "k8s-app=kube-dns"
SERVICE = "kube-dns"


def ready_endpoints(slices: list[dict[str, Any]]) -> list[str]:
    """Addresses of ready endpoints (an absent `ready` condition means ready, as the API documents)."""
    addresses: list[str] = []
    for endpoint_slice in slices:
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True) is not False:
                addresses.extend(endpoint.get("addresses") or [])
    return addresses


def check_coredns(ctx: CheckContext) -> Outcome:
    if not ctx.profile.coredns:
        return skipped(f"profile {ctx.profile.name} does not need CoreDNS (coreDNS: false)")
    deployments = ctx.list_kind("apps/v1", "Deployment", namespace=NAMESPACE, label_selector=SELECTOR)
    if not deployments:
        return failed(
            f"no cluster DNS: no Deployment labelled {SELECTOR} in {NAMESPACE}",
            "install CoreDNS (kubeadm: `kubeadm init phase addon coredns`; or its Helm chart); "
            "without it no service finds another by name",
        )
    states = {where(d): readiness(d) for d in deployments}
    details: dict[str, Any] = {"deployments": {name: state.message for name, state in states.items()}}
    unavailable = [f"{name}: {state.message}" for name, state in states.items() if not state.ready]
    if unavailable:
        return failed(
            f"cluster DNS not available: {listing(unavailable)}",
            f"check its pods: `kubectl -n {NAMESPACE} get pods -l {SELECTOR}`",
            **details,
        )
    service = ctx.get(ObjectRef("v1", "Service", NAMESPACE, SERVICE))
    if service is None:
        return failed(
            f"Service {NAMESPACE}/{SERVICE} is missing: pods resolve names through it",
            f"recreate the {SERVICE} Service of your DNS add-on (clusterIP as the kubelets' --cluster-dns)",
            **details,
        )
    cluster_ip = (service.get("spec") or {}).get("clusterIP", "")
    slices = ctx.list_kind(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        namespace=NAMESPACE,
        label_selector=f"kubernetes.io/service-name={SERVICE}",
    )
    addresses = ready_endpoints(slices)
    details.update(service=f"{NAMESPACE}/{SERVICE}", clusterIP=cluster_ip, readyEndpoints=len(addresses))
    if not addresses:
        return failed(
            f"Service {NAMESPACE}/{SERVICE} has no ready endpoints",
            f"check that the Service's selector matches the DNS pods and that they are Ready ({SELECTOR})",
            **details,
        )
    deployed = "; ".join(f"{name} {state.message}" for name, state in states.items())
    return passed(
        f"{deployed}; Service {SERVICE} ({cluster_ip}) has {len(addresses)} ready endpoints",
        **details,
    )


CHECKS = (Check("coredns", "CoreDNS", check_coredns),)
