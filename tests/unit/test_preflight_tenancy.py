"""Preflight's tenancy checks, pure logic: the tenants' quotas against the nodes' allocatable, and
whether the detected CNI enforces the NetworkPolicies that isolate tenants."""

from __future__ import annotations

from typing import Any

import pytest

from kfctl.config.tenants import TenantConfig
from kfctl.deploy import plan
from kfctl.kube.api import ObjectRef
from kfctl.preflight import CHECK_IDS, Status, cni, tenancy
from kfctl.tenancy.objects import COMPONENT, ISOLATION_NAME, QUOTA_NAME, PlatformFacts, tenant_objects

GIB = 2**30
WITH_PROFILES = PlatformFacts(profile_component="profiles")


def planned(manifest: dict[str, Any], component: str = COMPONENT) -> plan.PlannedObject:
    return plan.PlannedObject(ObjectRef.of(manifest), manifest, component, plan.stage_of(manifest), "")


def tenants(*configs: TenantConfig, facts: PlatformFacts | None = None) -> list[plan.PlannedObject]:
    """The plan's objects for these tenants, as kfctl.tenancy writes them."""
    return [planned(o) for t in configs for o in tenant_objects(t, facts or PlatformFacts())]


def team(name: str, *, isolation: bool = True, **quota: Any) -> TenantConfig:
    return TenantConfig(name, f"{name}@example.com", quota=quota, isolation=isolation)


def node(name: str, cpu: str = "16", memory: str = "64Gi", gpus: int = 0, **spec: Any) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {
        "metadata": {"name": name},
        "spec": spec,
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True"}]},
    }


CLUSTER = [
    node("cpu-1"),
    node("gpu-1", gpus=4),
    node("gpu-2", gpus=4),
    # neither counts: a control-plane node and a cordoned one
    node("cp", gpus=8, taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
    node("cordoned", gpus=8, unschedulable=True),
]


def daemonset(name: str, namespace: str = "kube-system") -> dict[str, Any]:
    status = {"desiredNumberScheduled": 3, "numberReady": 3, "numberAvailable": 3, "updatedNumberScheduled": 3}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    }


# -- the plan's tenants --------------------------------------------------------------------------------------


def test_quotas_come_from_resource_quotas_or_from_profiles() -> None:
    objects = tenants(team("a", gpu=2, cpu="8", memory="32Gi"), team("b"))
    assert tenancy.tenant_quotas(objects) == {
        "a": {"requests.nvidia.com/gpu": "2", "requests.cpu": "8", "requests.memory": "32Gi"},
        "b": {"requests.nvidia.com/gpu": "0"},
    }
    assert QUOTA_NAME in {o.ref.name for o in objects if o.ref.kind == "ResourceQuota"}
    with_profiles = tenants(team("a", gpu=2, cpu="8"), facts=WITH_PROFILES)
    assert not [o for o in with_profiles if o.ref.kind == "ResourceQuota"]
    assert tenancy.tenant_quotas(with_profiles) == {"a": {"requests.nvidia.com/gpu": "2", "requests.cpu": "8"}}


def test_only_the_tenants_component_counts() -> None:
    foreign = planned(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": "kubeflow"},
            "spec": {"hard": {"requests.nvidia.com/gpu": "64"}},
        },
        component="app",
    )
    assert tenancy.tenant_quotas([foreign]) == {}
    assert tenancy.isolated_tenants([foreign]) == []


def test_isolated_tenants_are_those_with_the_isolation_policy() -> None:
    objects = tenants(team("a"), team("b", isolation=False), team("c"))
    assert ISOLATION_NAME in {o.ref.name for o in objects if o.ref.kind == "NetworkPolicy"}
    assert tenancy.isolated_tenants(objects) == ["a", "c"]


# -- tenancy-quota ----------------------------------------------------------------------------------------------


def quotas(*configs: TenantConfig) -> dict[str, dict[str, Any]]:
    return tenancy.tenant_quotas(tenants(*configs))


def test_no_tenants_skip() -> None:
    assert tenancy.evaluate_quotas({}, CLUSTER).status is Status.SKIP


def test_quotas_that_fit_pass_with_figures_per_resource() -> None:
    outcome = tenancy.evaluate_quotas(quotas(team("a", gpu=4, cpu="8"), team("b", gpu=2, memory="64Gi")), CLUSTER)
    assert outcome.status is Status.PASS
    assert (
        outcome.message
        == "the quotas of 2 tenants fit the 3 usable nodes: GPU 6 of 8, CPU 8 of 48, memory 64 GiB of 192 GiB"
    )
    gpus = outcome.details["resources"]["requests.nvidia.com/gpu"]
    assert gpus == {"asked": 6, "allocatable": 8, "perTenant": {"a": 4, "b": 2}, "unit": "GPUs", "unlimited": []}
    assert outcome.details["resources"]["requests.cpu"]["unlimited"] == ["b"]
    assert outcome.details["resources"]["requests.memory"]["asked"] == 64 * GIB


def test_gpu_quotas_summing_past_the_cluster_warn() -> None:
    outcome = tenancy.evaluate_quotas(quotas(team("a", gpu=6), team("b", gpu=6)), CLUSTER)
    assert outcome.status is Status.WARN
    assert outcome.message == "the GPU quotas sum to 12 but the cluster has 8 allocatable GPUs"
    assert "lower the tenants' `quota:`" in outcome.remediation
    assert outcome.details["resources"]["requests.nvidia.com/gpu"]["perTenant"] == {"a": 6, "b": 6}


def test_one_tenant_alone_past_the_cluster_warns_and_is_named() -> None:
    outcome = tenancy.evaluate_quotas(quotas(team("a", gpu=10), team("b", gpu=1)), CLUSTER)
    assert outcome.status is Status.WARN
    assert outcome.message == "the GPU quotas sum to 11 (a alone asks 10) but the cluster has 8 allocatable GPUs"
    single = tenancy.evaluate_quotas(quotas(team("a", memory="256Gi")), CLUSTER)
    assert single.status is Status.WARN
    assert single.message == "tenant a's memory quota is 256 GiB but the cluster has 192 GiB of allocatable memory"


def test_every_resource_past_the_cluster_is_reported_on_one_line() -> None:
    outcome = tenancy.evaluate_quotas(quotas(team("a", gpu=1, cpu="40", memory="1Ti"), team("b", cpu="9")), CLUSTER)
    assert outcome.status is Status.WARN
    assert outcome.message == (
        "the CPU quotas sum to 49 but the cluster has 48 allocatable CPUs; "
        "tenant a's memory quota is 1024 GiB but the cluster has 192 GiB of allocatable memory"
    )
    assert "\n" not in outcome.message


def test_gpu_quotas_on_a_cluster_without_gpus() -> None:
    cpu_only = [node("cpu-1"), node("cpu-2")]
    assert tenancy.evaluate_quotas(quotas(team("a"), team("b")), cpu_only).status is Status.PASS  # 0 of 0
    outcome = tenancy.evaluate_quotas(quotas(team("a", gpu=1)), cpu_only)
    assert outcome.message == "tenant a's GPU quota is 1 but the cluster has 0 allocatable GPUs"


def test_quantities_are_parsed_as_kubernetes_writes_them() -> None:
    outcome = tenancy.evaluate_quotas({"a": {"requests.cpu": "500m"}, "b": {"requests.cpu": "47500m"}}, CLUSTER)
    assert outcome.status is Status.PASS and "CPU 48 of 48" in outcome.message
    broken = tenancy.evaluate_quotas({"a": {"requests.cpu": "lots"}}, CLUSTER)
    assert broken.status is Status.UNKNOWN and "'lots' is not a quantity" in broken.message


# -- tenancy-network-policy ----------------------------------------------------------------------------------------


def policy(isolated: list[str], *daemonsets: dict[str, Any], allowed: tuple[str, ...] = ("any",)) -> Any:
    return tenancy.evaluate_network_policy(isolated, cni.detect(list(daemonsets)), allowed)


@pytest.mark.parametrize(
    ("name", "namespace"),
    [
        ("calico-node", "calico-system"),
        ("cilium", "kube-system"),
        ("weave-net", "kube-system"),
        ("antrea-agent", "kube-system"),
        ("anetd", "kube-system"),
        ("ovnkube-node", "ovn-kubernetes"),
    ],
)
def test_cnis_that_enforce_network_policies_pass(name: str, namespace: str) -> None:
    outcome = policy(["a", "b"], daemonset("kube-proxy"), daemonset(name, namespace))
    assert outcome.status is Status.PASS
    assert "enforces the NetworkPolicies isolating 2 tenants (a, b)" in outcome.message


def test_flannel_alone_fails_with_the_fixes() -> None:
    outcome = policy(["a"], daemonset("kube-flannel-ds", "kube-flannel"))
    assert outcome.status is Status.FAIL
    assert (
        outcome.message
        == "flannel does not enforce NetworkPolicies: the isolation of 1 tenant (a) would have no effect"
    )
    assert "Calico" in outcome.remediation and "`isolation: false`" in outcome.remediation


def test_flannel_with_an_enforcing_cni_passes() -> None:
    assert policy(["a"], daemonset("kube-flannel-ds"), daemonset("calico-node")).status is Status.PASS


@pytest.mark.parametrize(
    ("name", "note"),
    [("aws-node", "network policy agent"), ("azure-cns", "network policy engine"), ("kindnet", "kind v0.24")],
)
def test_cnis_whose_enforcement_depends_on_their_setup_warn(name: str, note: str) -> None:
    outcome = policy(["a"], daemonset(name))
    assert outcome.status is Status.WARN
    assert outcome.message.startswith("cannot tell whether") and note in outcome.message
    assert "deny-all NetworkPolicy" in outcome.remediation


def test_no_cni_found_warns_never_fails() -> None:
    """The simulated cluster without its CNI add-on: a warning, so an apply with tenants goes on."""
    outcome = policy(["a"], daemonset("kube-proxy"), allowed=("calico", "cilium"))
    assert outcome.status is Status.WARN
    assert outcome.message == (
        "no known CNI found, so the NetworkPolicies isolating 1 tenant (a) may be ignored; "
        "the profile expects calico or cilium, which would enforce them"
    )
    assert "may be ignored" in policy(["a"]).message
    assert "profile expects" not in policy(["a"], allowed=("any",)).message
    assert "profile expects" not in policy(["a"], allowed=("calico", "flannel")).message


def test_no_isolated_tenant_skips() -> None:
    assert policy([], daemonset("kube-flannel-ds")).status is Status.SKIP


def test_every_cni_preflight_detects_has_a_policy_verdict() -> None:
    detected = {signature.cni for signature in cni.SIGNATURES}
    assert detected <= set(tenancy.POLICY_SUPPORT)
    assert all(not tenancy.POLICY_SUPPORT[name].enforces for name in cni.NO_POLICY_ENFORCEMENT)


# -- wiring ------------------------------------------------------------------------------------------------------


class FakeContext:
    """What the two checks read of a CheckContext; a read the check should not need fails the test."""

    def __init__(self, objects: list[plan.PlannedObject], cluster: bool = True) -> None:
        self.objects = objects
        self.cluster = cluster
        self.profile = type("Profile", (), {"cni": ("calico", "cilium")})()

    def nodes(self) -> list[dict[str, Any]]:
        assert self.cluster, "read nodes without tenants"
        return CLUSTER

    def daemonsets(self) -> list[dict[str, Any]]:
        assert self.cluster, "read DaemonSets without isolated tenants"
        return [daemonset("calico-node")]


def test_checks_read_the_cluster_only_for_tenants() -> None:
    empty = FakeContext([], cluster=False)
    assert tenancy.check_tenancy_quota(empty).status is Status.SKIP  # type: ignore[arg-type]
    assert tenancy.check_tenancy_network_policy(empty).status is Status.SKIP  # type: ignore[arg-type]
    full = FakeContext(tenants(team("a", gpu=2), team("b", gpu=1)))
    assert tenancy.check_tenancy_quota(full).status is Status.PASS  # type: ignore[arg-type]
    assert tenancy.check_tenancy_network_policy(full).status is Status.PASS  # type: ignore[arg-type]


def test_tenancy_checks_follow_the_gpu_checks() -> None:
    index = CHECK_IDS.index("gpu-runtime-class")
    assert CHECK_IDS[index + 1 : index + 3] == ("tenancy-quota", "tenancy-network-policy")
    assert CHECK_IDS[index + 3] == "permissions"
