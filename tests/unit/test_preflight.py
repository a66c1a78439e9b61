"""Preflight's pure logic: version parsing and ranges, quantities, CNI detection, storage, GPUs,
cert-manager error causes, permissions derived from a plan, leftovers, the report and its exit codes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kfctl.deploy import plan
from kfctl.deploy.record import ReleaseRecord, ReleaseStatus
from kfctl.errors import InputError
from kfctl.kube.api import ObjectRef
from kfctl.kube.lease import Holder, LockState
from kfctl.kube.ownership import REVISION_LABEL, STATUS_ANNOTATION, Owner, OwnerKind
from kfctl.preflight import (
    CHECK_IDS,
    CheckResult,
    FailOn,
    PreflightOptions,
    PreflightReport,
    Status,
    certmanager,
    cni,
    gpu,
    leftovers,
    nodes,
    parse_ids,
    permissions,
    storage,
    version,
)
from kfctl.preflight.context import Check, Outcome
from kfctl.preflight.runner import run_check
from kfctl.preflight.version import Bound, KubeVersion, parse_kube_version


def planned(manifest: dict[str, Any], component: str = "app") -> plan.PlannedObject:
    return plan.PlannedObject(ObjectRef.of(manifest), manifest, component, plan.stage_of(manifest), "")


def obj(kind: str, name: str, namespace: str = "", api_version: str = "v1", **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


# -- version -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("git_version", "major", "minor", "expected", "suffix"),
    [
        ("v1.29.3", "1", "29", (1, 29, 3), ""),
        ("v1.29.3-eks-a18cd3a", "1", "29+", (1, 29, 3), "-eks-a18cd3a"),
        ("v1.28.9-gke.1000", "1", "28", (1, 28, 9), "-gke.1000"),
        ("v1.27.6+k3s1", "1", "27", (1, 27, 6), "+k3s1"),
        ("v1.27.4+rke2r1", "1", "27", (1, 27, 4), "+rke2r1"),
        ("v1.30.2-aliyun.1", "1", "30", (1, 30, 2), "-aliyun.1"),
        ("v1.31.0-rc.1", "1", "31", (1, 31, 0), "-rc.1"),
        ("v1.26.15-tke.12", "1", "26", (1, 26, 15), "-tke.12"),
        ("v1.28.3+0fcc6c1", "1", "28", (1, 28, 3), "+0fcc6c1"),  # OpenShift
        ("v1.36.3", "1", "36", (1, 36, 3), ""),
        ("1.25.16", "", "", (1, 25, 16), ""),
        ("v1.24", "1", "24", (1, 24, 0), ""),
        (" v1.29.1-dirty ", "1", "29", (1, 29, 1), "-dirty"),
        ("", "1", "27+", (1, 27, 0), ""),  # no gitVersion: the major/minor fields, `27+` as 27
        ("unknown", "1", "30+", (1, 30, 0), ""),
        (None, "1", "28", (1, 28, 0), ""),
    ],
)
def test_kubernetes_versions_parse_as_vendors_write_them(
    git_version: str | None, major: str, minor: str, expected: tuple[int, int, int], suffix: str
) -> None:
    parsed = parse_kube_version(git_version, major, minor)
    assert parsed.release == expected
    assert parsed.suffix == suffix


@pytest.mark.parametrize(("git_version", "major", "minor"), [("", "", ""), ("garbage", "x", "y"), (None, None, None)])
def test_a_version_that_is_not_one_is_an_error(git_version: str | None, major: str | None, minor: str | None) -> None:
    with pytest.raises(ValueError):
        parse_kube_version(git_version, major, minor)


BOUNDS = [Bound("kfctl", "1.24"), Bound("profile kind", "1.29", "1.33"), Bound("kubeflow-1.10", "1.29", "1.33")]


@pytest.mark.parametrize(
    ("release", "status"),
    [
        ((1, 29, 0), Status.PASS),
        ((1, 33, 9), Status.PASS),  # a bound of 1.33 covers every 1.33 patch release
        ((1, 34, 0), Status.WARN),
        ((1, 36, 3), Status.WARN),
        ((1, 28, 15), Status.FAIL),
        ((1, 23, 0), Status.FAIL),
    ],
)
def test_version_ranges_fail_below_and_warn_above(release: tuple[int, int, int], status: Status) -> None:
    outcome = version.evaluate(KubeVersion(*release), BOUNDS)
    assert outcome.status is status
    if status is not Status.PASS:
        assert "supported range 1.29 to 1.33" in outcome.message


def test_a_version_above_a_profiles_range_fails_with_the_range() -> None:
    bounds = [
        Bound("kfctl", "1.24"),
        Bound("profile old", "1.27", "1.29", strict=True),
        Bound("kubeflow-1.10", "1.29", "1.33"),
    ]
    outcome = version.evaluate(KubeVersion(1, 36, 3), bounds)
    assert outcome.status is Status.FAIL
    assert "newer than profile old supports" in outcome.message and "1.27 to 1.29" in outcome.message
    assert version.evaluate(KubeVersion(1, 29, 4), bounds).status is Status.PASS


def test_a_too_old_version_names_the_strictest_minimum() -> None:
    bounds = [Bound("kfctl", "1.24"), Bound("profile x", "1.37", "1.40"), Bound("component y", "1.30")]
    outcome = version.evaluate(KubeVersion(1, 36, 3), bounds)
    assert outcome.status is Status.FAIL
    assert "older than profile x supports" in outcome.message
    assert "1.37 to 1.40" in outcome.message
    assert "1.37 or newer" in outcome.remediation


def test_kfctl_floor_applies_without_profile_bounds() -> None:
    assert version.evaluate(KubeVersion(1, 23, 17), [Bound("kfctl", "1.24")]).status is Status.FAIL
    assert version.evaluate(KubeVersion(1, 24, 0), [Bound("kfctl", "1.24")]).status is Status.PASS


# -- nodes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", 0.25),
        ("2", 2.0),
        ("1.5", 1.5),
        ("128Gi", 128 * 2**30),
        ("70Mi", 70 * 2**20),
        ("1k", 1000.0),
        ("1e3", 1000.0),
        ("1E", 1e18),
        ("500M", 5e8),
        ("100u", 1e-4),
        (4, 4.0),
    ],
)
def test_quantities(text: str | int, value: float) -> None:
    assert nodes.parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "--1"])
def test_not_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        nodes.parse_quantity(text)


def container(cpu: str | None = None, memory: str | None = None, *, limits: bool = False) -> dict[str, Any]:
    values = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    return {"name": "c", "resources": {"limits" if limits else "requests": values}}


def test_planned_load_counts_replicas_init_containers_limits_and_daemonsets() -> None:
    deployment = obj(
        "Deployment",
        "api",
        "kubeflow",
        "apps/v1",
        spec={
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [container("500m", "1Gi"), container(cpu="1", limits=True)],
                    "initContainers": [container("100m", "4Gi")],
                }
            },
        },
    )
    daemonset = obj(
        "DaemonSet",
        "agent",
        "kube-system",
        "apps/v1",
        spec={"template": {"spec": {"containers": [container("100m", "64Mi")]}}},
    )
    cronjob = obj("CronJob", "nightly", "kubeflow", "batch/v1", spec={})
    load = nodes.planned_load([planned(deployment), planned(daemonset), planned(cronjob)], schedulable_nodes=4)
    assert load.pods == 3 + 4
    assert load.cpu == pytest.approx(3 * 1.5 + 4 * 0.1)
    assert load.memory == pytest.approx(3 * 4 * 2**30 + 4 * 64 * 2**20)  # the init container's 4Gi wins
    assert load.largest == "Deployment.apps kubeflow/api"


def node(name: str, *, ready: bool = True, cpu: str = "4", memory: str = "16Gi", **extra: Any) -> dict[str, Any]:
    labels = extra.pop("labels", {})
    allocatable = {"cpu": cpu, "memory": memory, **extra.pop("allocatable", {})}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": extra.pop("spec", {}),
        "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_control_plane_and_cordoned_nodes_take_no_workloads() -> None:
    taint = {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
    assert not nodes.node_schedulable(node("cp", spec=taint))
    assert not nodes.node_schedulable(node("c", spec={"unschedulable": True}))
    assert nodes.node_schedulable(node("w", spec={"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}))
    assert not nodes.node_ready(node("n", ready=False))


# -- CNI -------------------------------------------------------------------------------------------------


def daemonset(name: str, namespace: str = "kube-system", ready: int = 3, desired: int = 3) -> dict[str, Any]:
    status = {
        "observedGeneration": 1,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "updatedNumberScheduled": desired,
        "numberAvailable": ready,
        "numberReady": ready,
    }
    return {**obj("DaemonSet", name, namespace, "apps/v1"), "status": status}


@pytest.mark.parametrize(
    ("name", "namespace", "expected", "by"),
    [
        ("calico-node", "kube-system", "calico", "manifest"),
        ("calico-node", "calico-system", "calico", "Tigera operator"),
        ("cilium", "kube-system", "cilium", "manifest"),
        ("kube-flannel-ds", "kube-flannel", "flannel", "manifest"),
        ("aws-node", "kube-system", "aws-vpc-cni", "manifest"),
        ("anetd", "kube-system", "gke-dataplane", "GKE Dataplane V2"),
        ("kindnet", "kube-system", "kindnet", "manifest"),
        ("weave-net", "kube-system", "weave", "manifest"),
        ("antrea-agent", "kube-system", "antrea", "manifest"),
        ("ovnkube-node", "ovn-kubernetes", "ovn-kubernetes", "manifest"),
    ],
)
def test_cnis_are_recognised_by_their_daemonsets(name: str, namespace: str, expected: str, by: str) -> None:
    detected = cni.detect([daemonset("kube-proxy"), daemonset(name, namespace)])
    assert [(d.cni, d.installed_by) for d in detected] == [(expected, by)]


def test_cni_verdicts() -> None:
    calico = cni.detect([daemonset("calico-node")])
    assert cni.evaluate(calico, ("calico", "cilium")).status is Status.PASS
    assert cni.evaluate(calico, ("any",)).status is Status.PASS
    refused = cni.evaluate(calico, ("cilium",))
    assert refused.status is Status.FAIL and "not one the profile allows (cilium)" in refused.message
    assert cni.evaluate([], ("calico",)).status is Status.FAIL
    assert cni.evaluate([], ("any",)).status is Status.WARN
    assert cni.evaluate(cni.detect([daemonset("calico-node", ready=2)]), ("any",)).status is Status.WARN
    assert cni.evaluate(cni.detect([daemonset("calico-node", ready=0)]), ("any",)).status is Status.FAIL
    both = cni.detect([daemonset("calico-node"), daemonset("cilium")])
    assert cni.evaluate(both, ("calico", "cilium")).status is Status.WARN
    flannel = cni.detect([daemonset("kube-flannel-ds", "kube-flannel")])
    assert cni.evaluate(flannel, ("any",), network_policies=0).status is Status.PASS
    unenforced = cni.evaluate(flannel, ("any",), network_policies=22)
    assert unenforced.status is Status.WARN and "22 NetworkPolicies" in unenforced.message
    cilium = cni.evaluate(cni.detect([daemonset("cilium")]), ("any",), components=frozenset({"istio"}))
    assert cilium.status is Status.PASS and "cni.exclusive=false" in cilium.message


# -- storage -----------------------------------------------------------------------------------------------


def storage_class(name: str, default: bool, created: str = "2025-01-01T00:00:00Z", **spec: Any) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    metadata = {"name": name, "annotations": annotations, "creationTimestamp": created}
    return {"metadata": metadata, "provisioner": spec.pop("provisioner", "kwok.x-k8s.io/volume"), **spec}


def default_class(classes: list[dict[str, Any]], **kwargs: Any) -> Outcome:
    arguments: dict[str, Any] = {"required": True, "provisioners": (), "planned_claims": [], **kwargs}
    return storage.evaluate_default_class(classes, **arguments)


def test_default_storage_class_verdicts() -> None:
    assert default_class([storage_class("standard", True)]).status is Status.PASS
    none = default_class([storage_class("slow", False)], planned_claims=[{"spec": {}}])
    assert none.status is Status.FAIL and "1 claims that name no class" in none.message.replace("'s ", " ")
    assert "is-default-class" in none.remediation
    assert default_class([]).status is Status.FAIL
    assert default_class([], required=False).status is Status.SKIP
    two = default_class(
        [storage_class("a", True, "2025-01-01T00:00:00Z"), storage_class("b", True, "2025-02-01T00:00:00Z")]
    )
    assert two.status is Status.WARN and "the newest, b" in two.message
    other = default_class([storage_class("gp2", True, provisioner="ebs.csi.aws.com")], provisioners=("nfs.csi.k8s.io",))
    assert other.status is Status.WARN and "ebs.csi.aws.com" in other.message
    missing = default_class([storage_class("standard", True)], planned_claims=[{"spec": {"storageClassName": "fast"}}])
    assert missing.status is Status.FAIL and "fast" in missing.message


# -- GPUs ----------------------------------------------------------------------------------------------


GFD = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100", "nvidia.com/gpu.memory": "81920"}


def test_gpu_nodes_and_nodes_with_hardware_but_no_allocatable_gpus() -> None:
    cluster = [
        node("cpu-1"),
        node("gpu-1", labels=GFD, allocatable={"nvidia.com/gpu": "8"}),
        node("gpu-2", labels={"feature.node.kubernetes.io/pci-10de.present": "true"}),
    ]
    with_gpus, flagged = gpu.gpu_nodes(cluster)
    assert with_gpus == [
        {"node": "gpu-1", "gpus": 8, "product": "NVIDIA-A100", "memoryMiB": "81920"},
    ]
    assert flagged == ["gpu-2"]
    warned = gpu.evaluate_gpu_nodes(with_gpus, flagged)
    assert warned.status is Status.WARN and "gpu-2 has NVIDIA hardware labels" in warned.message
    assert gpu.evaluate_gpu_nodes(with_gpus, []).status is Status.PASS
    assert "8 GPUs on 1 node" in gpu.evaluate_gpu_nodes(with_gpus, []).message
    assert gpu.evaluate_gpu_nodes([], flagged).status is Status.FAIL


@pytest.mark.parametrize(
    ("name", "namespace", "by"),
    [
        ("nvidia-device-plugin-daemonset", "kube-system", "static manifest"),
        ("nvidia-device-plugin-daemonset", "gpu-operator", "GPU operator"),
        ("nvdp-nvidia-device-plugin", "nvidia-device-plugin", "Helm chart"),
        ("nvidia-device-plugin", "kube-system", "Helm chart"),
    ],
)
def test_device_plugins_by_how_they_were_installed(name: str, namespace: str, by: str) -> None:
    match = next(s for s in gpu.DEVICE_PLUGINS if s.matches(daemonset(name, namespace)))
    assert match.installed_by == by


# -- cert-manager ------------------------------------------------------------------------------------------------


WEBHOOK = 'Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: '


@pytest.mark.parametrize(
    ("status", "message", "cause"),
    [
        (404, "the server could not find the requested resource", "crds-missing"),
        (
            500,
            WEBHOOK + 'Post "https://cert-manager-webhook.cert-manager.svc:443/validate": '
            'service "cert-manager-webhook" not found',
            "webhook-service-missing",
        ),
        (500, WEBHOOK + "Post ...: dial tcp 10.96.1.2:443: connect: network is unreachable", "webhook-not-ready"),
        (500, WEBHOOK + 'Post ...: no endpoints available for service "cert-manager-webhook"', "webhook-not-ready"),
        (500, WEBHOOK + "Post ...: dial tcp 10.96.1.2:443: connect: connection refused", "webhook-not-ready"),
        (500, WEBHOOK + "Post ...: context deadline exceeded", "webhook-not-ready"),
        (
            500,
            WEBHOOK + "Post ...: tls: failed to verify certificate: x509: certificate signed by unknown authority",
            "ca-not-injected",
        ),
        (500, WEBHOOK + "Post ...: something else entirely", "webhook-error"),
    ],
)
def test_dry_run_failures_are_classified(status: int, message: str, cause: str) -> None:
    outcome = certmanager.evaluate_dry_run(status, message, ignored_failures=False, relaxed=False, version="v1.16.1")
    assert outcome.status is Status.FAIL
    assert outcome.details["cause"] == cause
    assert outcome.remediation


def test_dry_run_answers() -> None:
    def verdict(status: int, message: str = "", **kwargs: Any) -> Status:
        arguments = {"ignored_failures": False, "relaxed": False, "version": "v1.16.1", **kwargs}
        return certmanager.evaluate_dry_run(status, message, **arguments).status

    assert verdict(201) is Status.PASS
    assert verdict(400, 'admission webhook "webhook.cert-manager.io" denied the request: bad') is Status.PASS
    assert verdict(201, ignored_failures=True) is Status.WARN  # failurePolicy Ignore proves nothing
    assert verdict(201, ignored_failures=True, relaxed=True) is Status.PASS
    assert verdict(403, "certificates.cert-manager.io is forbidden") is Status.UNKNOWN


def test_cert_manager_versions_and_use() -> None:
    assert certmanager.too_old("v1.11.0") and not certmanager.too_old("v1.16.1") and not certmanager.too_old(None)
    crd = {"metadata": {"labels": {"helm.sh/chart": "cert-manager-v1.15.3"}}}
    assert certmanager.installed_version(crd) == "v1.15.3"
    issuer = planned(obj("Issuer", "selfsigned", "kubeflow", "cert-manager.io/v1"))
    injected = planned(
        {
            **obj("MutatingWebhookConfiguration", "w", "", "admissionregistration.k8s.io/v1"),
            "metadata": {"name": "w", "annotations": {"cert-manager.io/inject-ca-from": "kubeflow/cert"}},
        }
    )
    plain = planned(obj("ConfigMap", "c", "kubeflow"))
    assert certmanager.uses_cert_manager([plain, issuer])
    assert certmanager.uses_cert_manager([injected])
    assert not certmanager.uses_cert_manager([plain])


# -- permissions ------------------------------------------------------------------------------------------


def test_permissions_come_from_the_plan_with_plurals_of_its_own_crds() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "notebooks.kubeflow.org"},
        "spec": {"group": "kubeflow.org", "scope": "Namespaced", "names": {"kind": "Notebook", "plural": "notebooks"}},
    }
    objects = [
        planned(crd),
        planned(obj("Notebook", "nb", "team-a", "kubeflow.org/v1")),
        planned(obj("Deployment", "api", "kubeflow", "apps/v1")),
        planned(obj("ConfigMap", "unnamespaced")),
        planned(obj("Widget", "w", "kubeflow", "example.com/v1")),
    ]
    served = {
        ("apiextensions.k8s.io", "CustomResourceDefinition"): ("customresourcedefinitions", False),
        ("apps", "Deployment"): ("deployments", True),
        ("", "ConfigMap"): ("configmaps", True),
    }
    crds = permissions.planned_crd_resources(objects)
    needs = permissions.required_permissions(
        (o.ref for o in objects), lambda g, k: served.get((g, k)) or crds.get((g, k))
    )
    perms = needs.permissions
    for verb in ("create", "patch", "get"):
        assert permissions.Permission(verb, "apiextensions.k8s.io", "customresourcedefinitions", "") in perms
        assert permissions.Permission(verb, "kubeflow.org", "notebooks", "team-a") in perms
        assert permissions.Permission(verb, "apps", "deployments", "kubeflow") in perms
        assert permissions.Permission(verb, "", "configmaps", "default") in perms  # where the server puts it
        assert permissions.Permission(verb, "", "namespaces", "") in perms  # kfctl's own needs
    assert permissions.Permission("list", "", "configmaps", "kfctl-system") in perms
    assert needs.unresolved == {"Widget.example.com"}
    assert needs.kinds[("kubeflow.org", "notebooks")] == "Notebook"


def test_access_reviews_go_in_tiers() -> None:
    needed = {
        permissions.Permission(verb, group, resource, namespace)
        for verb in ("create", "get")
        for group, resource, namespace in (
            ("apps", "deployments", "kubeflow"),
            ("apps", "deployments", "istio-system"),
            ("apiextensions.k8s.io", "customresourcedefinitions", ""),
        )
    }
    asked: list[permissions.Permission] = []

    def answers(granted: set[permissions.Permission]) -> Any:
        def allowed(questions: list[permissions.Permission]) -> dict[permissions.Permission, bool]:
            asked.extend(questions)
            return {q: q in granted for q in questions}

        return allowed

    missing, reviews = permissions.missing_permissions(needed, answers({permissions.EVERYTHING}))
    assert (missing, reviews) == ([], 1), "a cluster admin takes one review"

    asked.clear()
    kubeflow_only = {permissions.Permission(v, "apps", "deployments", "kubeflow") for v in ("create", "get")}
    missing, reviews = permissions.missing_permissions(needed, answers(kubeflow_only))
    assert (
        reviews == len(asked) == 1 + 4 + 4
    )  # everything; each verb x resource cluster-wide; deployments per namespace
    assert {(p.verb, p.resource, p.namespace) for p in missing} == {
        ("create", "deployments", "istio-system"),
        ("get", "deployments", "istio-system"),
        ("create", "customresourcedefinitions", ""),
        ("get", "customresourcedefinitions", ""),
    }

    asked.clear()
    cluster_wide = {permissions.Permission(v, "apps", "deployments", "") for v in ("create", "get")}
    missing, reviews = permissions.missing_permissions(needed, answers(cluster_wide))
    assert reviews == 1 + 4, "a cluster-wide grant is not asked again per namespace"
    assert {p.resource for p in missing} == {"customresourcedefinitions"}
    lines = permissions.describe_missing(
        missing, {("apiextensions.k8s.io", "customresourcedefinitions"): "CustomResourceDefinition"}
    )
    assert lines == ["CustomResourceDefinition: create, get cluster-wide"]


# -- leftovers ------------------------------------------------------------------------------------------------


def webhook_config(name: str, namespace: str, service: str, policy: str | None = "Fail") -> dict[str, Any]:
    webhook: dict[str, Any] = {
        "name": f"{name}.example.com",
        "clientConfig": {"service": {"namespace": namespace, "name": service}},
    }
    if policy:
        webhook["failurePolicy"] = policy
    return {
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [webhook, {"name": "url", "clientConfig": {"url": "https://x"}}],
    }


def test_webhooks_without_their_service() -> None:
    configs = [
        webhook_config("ok", "a", "svc"),
        webhook_config("gone", "old", "svc"),
        webhook_config("soft", "old", "x", "Ignore"),
    ]
    targets = leftovers.webhook_targets(configs)
    assert len(targets) == 3
    failing = leftovers.evaluate_webhooks(targets, {("a", "svc")}, set())
    assert failing.status is Status.FAIL and "gone" in failing.message and "soft" not in failing.message
    assert leftovers.evaluate_webhooks(targets, {("a", "svc")}, {("old", "svc")}).status is Status.WARN
    assert leftovers.evaluate_webhooks(targets[:1], {("a", "svc")}, set()).status is Status.PASS
    default_policy = leftovers.webhook_targets([webhook_config("d", "old", "svc", None)])
    assert default_policy[0].failure_policy == "Fail", "admissionregistration/v1 defaults to Fail"


def api_service(name: str, reason: str | None, service: bool = True) -> dict[str, Any]:
    condition = {"type": "Available", "status": "True" if reason is None else "False", "reason": reason or "Passed"}
    spec = {"service": {"namespace": "ns", "name": "svc"}} if service else {}
    return {"metadata": {"name": name}, "spec": spec, "status": {"conditions": [condition]}}


def test_aggregated_apis() -> None:
    assert leftovers.evaluate_api_services([api_service("v1.", None, service=False)]).status is Status.PASS
    assert leftovers.evaluate_api_services([api_service("v1beta1.metrics.k8s.io", None)]).status is Status.PASS
    assert leftovers.evaluate_api_services([api_service("a", "FailedDiscoveryCheck")]).status is Status.WARN
    assert leftovers.evaluate_api_services([api_service("a", "ServiceNotFound")]).status is Status.FAIL


def managed(*managers: tuple[str, str | None], labels: dict[str, str] | None = None) -> dict[str, Any]:
    fields = [{"manager": m, "operation": "Apply", **({"subresource": s} if s else {})} for m, s in managers]
    return {"metadata": {"name": "x", "labels": labels or {}, "managedFields": fields}}


def test_other_installers_of_a_crd_come_from_managed_fields() -> None:
    assert leftovers.other_installers(managed(("kfctl", None), ("kube-apiserver", "status"))) == []
    assert leftovers.other_installers(managed(("kfctl", None), ("cert-manager-cainjector", None))) == []
    assert leftovers.other_installers(managed(("helm", None))) == ["Helm (helm)"]
    assert leftovers.other_installers(managed(("kubectl-client-side-apply", None))) == [
        "kubectl (kubectl-client-side-apply)"
    ]


def test_crds_owned_by_another_app_or_helm_fail_unless_adopting() -> None:
    other = Owner(OwnerKind.KFCTL_APP, "kf")
    helm = Owner(OwnerKind.HELM, "cert-manager/cert-manager")
    owners = {"certificates.cert-manager.io": ("cert-manager", helm), "gateways.networking.istio.io": ("istio", other)}
    refused = leftovers.evaluate_crd_owners(owners, {}, adopt=False)
    assert refused is not None and refused.status is Status.FAIL
    assert "kfctl app kf" in refused.message and "Helm release cert-manager/cert-manager" in refused.message
    assert "--adopt" in refused.remediation
    adopting = leftovers.evaluate_crd_owners(owners, {}, adopt=True)
    assert adopting is not None and adopting.status is Status.WARN
    written = leftovers.evaluate_crd_owners({}, {"a.example.com": ("x", ["kubectl (kubectl)"])}, adopt=False)
    assert written is not None and written.status is Status.WARN and "kubectl" in written.message
    assert leftovers.evaluate_crd_owners({}, {}, adopt=False) is None


def record(revision: int, status: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"kfctl-app-v{revision}",
            "labels": {REVISION_LABEL: str(revision)},
            "annotations": {STATUS_ANNOTATION: status},
        }
    }


FREE: tuple[LockState, Holder | None, str] = (LockState.FREE, None, "")


def test_release_in_progress_is_decided_by_the_lock_not_by_the_age_of_a_record() -> None:
    now = time.time()
    assert leftovers.evaluate_release("app", [], FREE, now).status is Status.PASS
    deployed = leftovers.evaluate_release("app", [record(1, "deployed")], FREE, now)
    assert deployed.status is Status.PASS and "revision 1, deployed" in deployed.message
    holder = Holder("h/1/x", user="bob", host="build-7", pid=41, command="apply", acquired=now - 30, renewed=now - 5)
    running = leftovers.evaluate_release("app", [record(2, "pending")], (LockState.HELD, holder, ""), now)
    assert running.status is Status.FAIL
    assert "kfctl apply by bob on build-7 (pid 41)" in running.message and "kfctl unlock" in running.remediation
    interrupted = leftovers.evaluate_release("app", [record(2, "pending")], (LockState.STALE, holder, "gone"), now)
    assert interrupted.status is Status.WARN and "interrupted" in interrupted.message
    newer = leftovers.evaluate_release("app", [record(3, "pending"), record(10, "deployed")], FREE, now)
    assert newer.status is Status.PASS


def test_preflight_reads_release_records_as_deploy_writes_them() -> None:
    written = ReleaseRecord("app", 3, ReleaseStatus.PENDING).to_configmap()
    assert written["metadata"]["annotations"][STATUS_ANNOTATION] == "pending"
    assert written["metadata"]["labels"][REVISION_LABEL] == "3"


# -- options, the runner and the report --------------------------------------------------------------------------


def test_check_ids_are_stable_and_unique() -> None:
    assert CHECK_IDS == (
        "kubernetes-version",
        "nodes-ready",
        "node-capacity",
        "cni",
        "coredns",
        "default-storage-class",
        "storage-binding",
        "cert-manager",
        "gpu-nodes",
        "gpu-device-plugin",
        "gpu-runtime-class",
        "tenancy-quota",
        "tenancy-network-policy",
        "permissions",
        "leftover-webhooks",
        "leftover-apiservices",
        "foreign-crds",
        "release-in-progress",
    )


def test_options_parse_and_reject_unknown_ids() -> None:
    assert parse_ids(["cni,coredns", " permissions ", ""]) == {"cni", "coredns", "permissions"}
    PreflightOptions(only=frozenset({"cni"}), ignore=frozenset({"all"})).validate(CHECK_IDS)
    with pytest.raises(InputError, match="unknown preflight check 'corends'") as raised:
        PreflightOptions(skip=frozenset({"corends"})).validate(CHECK_IDS)
    assert raised.value.hint == "did you mean 'coredns'?"
    with pytest.raises(InputError):
        PreflightOptions(only=frozenset({"all"})).validate(CHECK_IDS)


class FakeContext:
    def __init__(self, options: PreflightOptions) -> None:
        self.options = options


def run(outcome: Any, options: PreflightOptions, check_id: str = "cni", deep: bool = False) -> CheckResult:
    def body(_: Any) -> Outcome:
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, Outcome)
        return outcome

    return run_check(FakeContext(options), Check(check_id, "t", body, deep=deep))  # type: ignore[arg-type]


def test_a_check_that_raises_is_unknown_never_pass() -> None:
    from kfctl.kube.errors import Forbidden

    forbidden = run(Forbidden("nodes is forbidden", status=403), PreflightOptions())
    assert forbidden.status is Status.UNKNOWN and "--skip cni" in forbidden.remediation
    broken = run(KeyError("status"), PreflightOptions())
    assert broken.status is Status.UNKNOWN and "internal error" in broken.message


def test_selection_deep_checks_and_ignored_failures() -> None:
    failure = Outcome(Status.FAIL, "bad", "fix it")
    assert run(failure, PreflightOptions(skip=frozenset({"cni"}))).status is Status.SKIP
    assert run(failure, PreflightOptions(only=frozenset({"coredns"}))).status is Status.SKIP
    assert run(failure, PreflightOptions(), deep=True).status is Status.SKIP, "deep checks are opt-in"
    assert run(failure, PreflightOptions(deep=True), deep=True).status is Status.FAIL
    assert run(failure, PreflightOptions(only=frozenset({"cni"})), deep=True).status is Status.FAIL
    ignored = run(failure, PreflightOptions(ignore=frozenset({"cni"})))
    assert (ignored.status, ignored.ignored) == (Status.WARN, True)
    assert "ignored" in ignored.message and "bad" in ignored.message
    assert run(failure, PreflightOptions(ignore=frozenset({"all"}))).status is Status.WARN


def report(*statuses: Status, fail_on: FailOn = FailOn.FAIL, ignored: bool = False) -> PreflightReport:
    checks = [CheckResult(f"c{i}", s, "m", ignored=ignored) for i, s in enumerate(statuses)]
    options = PreflightOptions(fail_on=fail_on)
    return PreflightReport(
        "app", "kubeflow-1.10", "kind", {"name": "ctx", "server": "https://x"}, {}, {}, checks, options
    )


def test_exit_codes() -> None:
    assert report(Status.PASS, Status.SKIP, Status.WARN, Status.UNKNOWN).exit_code == 0
    assert report(Status.PASS, Status.FAIL).exit_code == 1
    assert report(Status.PASS, Status.WARN, fail_on=FailOn.WARN).exit_code == 1
    assert report(Status.PASS, Status.UNKNOWN, fail_on=FailOn.WARN).exit_code == 1
    assert report(Status.WARN, fail_on=FailOn.WARN, ignored=True).exit_code == 0, "ignored warnings never fail"


def test_report_document_and_refusal_for_apply() -> None:
    failing = report(Status.PASS, Status.FAIL, Status.WARN)
    document = failing.as_dict()
    assert document["schemaVersion"] == "kfctl.dev/v1alpha1"
    assert document["summary"] == {"PASS": 1, "WARN": 1, "FAIL": 1, "SKIP": 0, "UNKNOWN": 0}
    assert document["result"] == "failed" and document["exitCode"] == 1
    assert [c["id"] for c in document["checks"]] == ["c0", "c1", "c2"]
    with pytest.raises(Exception, match="preflight failed, nothing was applied: c1: m") as raised:
        failing.raise_for_failures()
    assert "--ignore-preflight-errors=c1" in str(getattr(raised.value, "hint", ""))
    report(Status.PASS, Status.WARN).raise_for_failures()
