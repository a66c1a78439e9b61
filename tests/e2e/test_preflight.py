"""Preflight against the real API server: every check passing, and failing with the cluster add-on
fixtures of scripts/cluster-data/addons (no CNI, no CoreDNS, no default StorageClass or two,
no device plugin, a GPU node without allocatable GPUs, cert-manager half installed, leftovers of
an earlier install, a user without bindings).

Add-ons are switched for one test and restored after it. Most tests call run_preflight in-process
on a plan rendered once; the CLI tests run `kfctl preflight` for exit codes and JSON.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfctl.config.profiles import ClusterProfile, load_profile_file, profiles_dir
from kfctl.deploy.plan import Plan, PlannedObject, stage_of
from kfctl.deploy.service import plan_for
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.client import ClusterTarget
from kfctl.platform.catalog import Platform, load_platforms
from kfctl.preflight import PreflightOptions, PreflightReport, Status, run_preflight
from kfctl.render.service import RenderOptions
from tests.cluster import LiveCluster
from tests.e2e.test_webhook_gating import WebhookServer

REPO = Path(__file__).resolve().parents[2]
ADDONS = REPO / "scripts" / "cluster-data" / "addons"
BUILTIN_ADDONS = {"storage", "coredns", "calico", "cilium", "nvidia-device-plugin"}  # what local-cluster knows
SMALL = ["cert-manager", "kubeflow-namespace", "kubeflow-roles", "training-operator", "pvcviewer-controller"]
GPU_CHECKS = ("gpu-nodes", "gpu-device-plugin", "gpu-runtime-class")
CLI = (
    "import sys; from kfctl.cli.main import app; from kfctl.cli import preflight_commands; "
    "'preflight' in {c.name for c in app.registered_commands} or preflight_commands.register(app); "
    "sys.argv[0] = 'kfctl'; app()"
)


# -- fixtures -------------------------------------------------------------------------------------------------


def write_config(directory: Path, components: list[str] | None, profile: str = "simulated") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kfctl.yaml"
    listed = f"  components: {json.dumps(components)}\n" if components is not None else ""
    # Named like test_apply's platform, so CRDs that module leaves behind are this app's own.
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: kubeflow}\n"
        f"spec:\n  profile: {profile}\n  platform: kubeflow-1.10\n{listed}"
    )
    return path


@pytest.fixture(scope="module")
def manifests(upstream: Path) -> Iterator[None]:
    previous = os.environ.get("KFCTL_MANIFESTS_DIR")
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    yield
    if previous is None:
        os.environ.pop("KFCTL_MANIFESTS_DIR", None)
    else:
        os.environ["KFCTL_MANIFESTS_DIR"] = previous


@pytest.fixture(scope="module")
def small(manifests: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cert-manager, the training operator and the PVC viewer (it uses cert-manager), planned once."""
    config = write_config(tmp_path_factory.mktemp("small"), SMALL)
    plan = plan_for(RenderOptions(config)).plan
    return {"config": config, "plan": plan}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClusterProfile]:
    """The bundled profiles the tests use, and variants of `simulated` written for them."""
    directory = tmp_path_factory.mktemp("profiles")
    simulated = yaml.safe_load((profiles_dir() / "simulated.yaml").read_text())
    variants = {
        "future": {"kubernetes": {"min": "1.37", "max": "1.40"}},
        "preinstalled": {"certManager": "preinstalled"},
        "flannel-only": {"cni": ["flannel"]},
    }
    result = {name: load_profile_file(profiles_dir() / f"{name}.yaml") for name in ("simulated", "gpu-onprem")}
    for name, requirements in variants.items():
        document = json.loads(json.dumps(simulated))
        document["metadata"]["name"] = name
        document["spec"]["requirements"].update(requirements)
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        result[name] = load_profile_file(path)
    return result


@pytest.fixture(scope="module")
def platform() -> Platform:
    return load_platforms()["kubeflow-1.10"]


def preflight(
    cluster: LiveCluster,
    plan: Any,
    profile: ClusterProfile,
    platform: Platform,
    *,
    kubeconfig: Path | None = None,
    **options: Any,
) -> PreflightReport:
    with Api(ClusterTarget(str(kubeconfig or cluster.kubeconfig_path))) as api:
        return run_preflight(api, plan, profile, platform, PreflightOptions(**options))


def statuses(report: PreflightReport) -> dict[str, Status]:
    return {c.id: c.status for c in report.checks}


def local_cluster_env(cluster: LiveCluster) -> dict[str, str]:
    """scripts/local-cluster names the cluster by KFCTL_CLUSTER_NAME: never let it fall back to the default one."""
    env = {**os.environ, **cluster.env}
    if cluster.netns:
        env["KFCTL_CLUSTER_NAME"] = cluster.netns.removesuffix("-sim")
    return env


def addon(cluster: LiveCluster, action: str, name: str) -> None:
    """Switch an add-on: local-cluster's own, or one of the preflight fixtures beside them (applied as it would)."""
    if name in BUILTIN_ADDONS:
        result = subprocess.run(
            [str(REPO / "scripts" / "local-cluster"), "addon", action, name],
            capture_output=True,
            text=True,
            timeout=300,
            env=local_cluster_env(cluster),
        )
        assert result.returncode == 0, result.stderr
    elif action == "enable":
        path = str(ADDONS / f"{name}.yaml")
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=local-cluster", "-f", path)
    else:
        # A CRD deleted soon after it was created can take minutes to go ("storage is (re)initializing").
        path = str(ADDONS / f"{name}.yaml")
        cluster.kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=300s", "-f", path, timeout=330)


@contextmanager
def addons(cluster: LiveCluster, *, enable: tuple[str, ...] = (), disable: tuple[str, ...] = ()) -> Iterator[None]:
    assert cluster.is_local, "add-on fixtures need the simulated cluster of scripts/local-cluster"
    try:
        for name in disable:
            addon(cluster, "disable", name)
        for name in enable:
            addon(cluster, "enable", name)
        yield
    finally:
        for name in reversed(enable):
            addon(cluster, "disable", name)
        for name in disable:
            addon(cluster, "enable", name)


@contextmanager
def applied(cluster: LiveCluster, manifest: str) -> Iterator[None]:
    cluster.kubectl("apply", "--server-side", "--field-manager=kubectl", "-f", "-", input=manifest)
    try:
        yield
    finally:
        cluster.kubectl("delete", "--ignore-not-found", "--wait=true", "-f", "-", input=manifest)


def without_cert_manager(cluster: LiveCluster) -> None:
    """No cert-manager: an earlier `kfctl delete` without --purge keeps its CRDs (they hold data)."""
    crds = cluster.kubectl("get", "crd", "-o", "name").split()
    leftover = [c for c in crds if c.endswith("cert-manager.io")]
    if leftover:
        cluster.kubectl("delete", "--wait=true", "--timeout=300s", *leftover, timeout=330)
    webhooks = cluster.get_json("validatingwebhookconfigurations,mutatingwebhookconfigurations")["items"]
    assert not [w for w in webhooks if any(h["name"].endswith("cert-manager.io") for h in w.get("webhooks") or [])]


def kfctl_preflight(
    cluster: LiveCluster, *args: str, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, "--kubeconfig", str(kubeconfig or cluster.kubeconfig_path), "preflight", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        cwd=REPO,
    )


# -- the whole report -----------------------------------------------------------------------------------------


def test_simulated_profile_passes_on_the_default_addons(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    report = preflight(cluster, small["plan"], profiles["simulated"], platform)
    found = statuses(report)
    expected = dict.fromkeys(found, Status.PASS) | {
        "kubernetes-version": Status.WARN,  # v1.36 is newer than Kubeflow 1.10 was tested with (1.33)
        "storage-binding": Status.SKIP,  # opt-in (--deep)
        **dict.fromkeys(GPU_CHECKS, Status.SKIP),  # the profile needs no GPU
        **dict.fromkeys(("tenancy-quota", "tenancy-network-policy"), Status.SKIP),  # the plan has no tenants
    }
    assert found == expected, [c.as_dict() for c in report.checks if c.status is not expected[c.id]]
    assert report.exit_code == 0 and report.ok
    assert report.identity["username"] == "kfctl-admin"
    assert report.server_version["gitVersion"].startswith("v1.36")
    assert report.check("gpu-nodes").details["nodes"][0]["product"] == "NVIDIA-A100-SXM4-80GB"
    assert report.check("permissions").details["reviews"] == 1, "a cluster admin takes one access review"
    assert 0 < report.requests < 40, report.requests
    assert "calico" in report.check("cni").message
    assert "kfctl installs cert-manager" in report.check("cert-manager").message


def test_cli_json_report_and_exit_codes(cluster: LiveCluster, small: dict[str, Any]) -> None:
    result = kfctl_preflight(cluster, "-f", str(small["config"]), "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kind"] == "PreflightReport" and document["schemaVersion"] == "kfctl.dev/v1alpha1"
    assert document["identity"]["username"] == "kfctl-admin"
    assert document["serverVersion"]["version"].startswith("1.36.")
    assert document["summary"]["FAIL"] == 0 and document["exitCode"] == 0
    assert document["requests"] > 0 and document["context"]["server"].startswith("https://127.0.0.1")
    checks = {c["id"]: c for c in document["checks"]}
    assert checks["kubernetes-version"]["status"] == "WARN" and checks["kubernetes-version"]["remediation"]

    strict = kfctl_preflight(cluster, "-f", str(small["config"]), "--fail-on", "warn", "--only", "kubernetes-version")
    assert strict.returncode == 1, "--fail-on warn: a warning fails the run"
    assert "kubernetes-version" in strict.stdout and "WARN" in strict.stdout

    mark = cluster.audit.mark()
    bad = kfctl_preflight(cluster, "-f", str(small["config"]), "--skip", "corends")
    assert bad.returncode == 2 and "unknown preflight check 'corends'" in bad.stderr and "coredns" in bad.stderr
    assert cluster.audit.find(mark, user="kfctl-admin") == [], "bad input: not a single request"


# -- version ----------------------------------------------------------------------------------------------------


def test_version_outside_the_profiles_range_fails_and_can_be_ignored(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform, tmp_path: Path
) -> None:
    report = preflight(cluster, small["plan"], profiles["future"], platform, only=frozenset({"kubernetes-version"}))
    check = report.check("kubernetes-version")
    assert check.status is Status.FAIL and report.exit_code == 1
    assert "older than profile future supports" in check.message
    assert "supported range 1.37 or newer" in check.message and "profile future: 1.37 to 1.40" in check.message

    profile_path = profiles["future"].file
    config = write_config(tmp_path, SMALL, profile=str(profile_path))
    failed = kfctl_preflight(cluster, "-f", str(config), "--only", "kubernetes-version", "-o", "json")
    assert failed.returncode == 1, failed.stderr
    assert json.loads(failed.stdout)["checks"][0]["status"] == "FAIL"
    ignored = kfctl_preflight(
        cluster, "-f", str(config), "--only", "kubernetes-version", "--ignore-preflight-errors", "kubernetes-version"
    )
    assert ignored.returncode == 0, ignored.stderr
    assert "failure ignored" in ignored.stdout and "WARN" in ignored.stdout


def test_version_in_the_tested_range_passes(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    tested = replace(platform, kubernetes_tested_max="1.37")
    report = preflight(cluster, small["plan"], profiles["simulated"], tested, only=frozenset({"kubernetes-version"}))
    assert report.check("kubernetes-version").status is Status.PASS
    assert "in the supported range 1.29 to 1.37" in report.check("kubernetes-version").message


# -- nodes --------------------------------------------------------------------------------------------------------


@dataclass
class Component:
    name: str


@dataclass
class AdHocPlan:
    """A plan of the test's own making (run_preflight reads a plan by its shape)."""

    app: str
    objects: list[PlannedObject]
    components: list[Component] = field(default_factory=list)


def with_object(plan: Plan, manifest: dict[str, Any]) -> AdHocPlan:
    extra = PlannedObject(ObjectRef.of(manifest), manifest, "extra", stage_of(manifest), "")
    return AdHocPlan(plan.app, [*plan.objects, extra], [Component(c.name) for c in plan.components])


def test_nodes_ready_and_capacity(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    only = frozenset({"nodes-ready", "node-capacity"})
    report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
    assert report.check("nodes-ready").message == "4/4 nodes Ready"
    assert report.check("node-capacity").status is Status.PASS
    assert report.check("node-capacity").details["allocatable"]["cpu"] == 160

    huge = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "huge", "namespace": "kubeflow"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100"}}}]}}},
    }
    report = preflight(cluster, with_object(small["plan"], huge), profiles["simulated"], platform, only=only)
    capacity = report.check("node-capacity")
    assert capacity.status is Status.FAIL and "more than any single node allocates" in capacity.message

    with extra_node(cluster, "node-not-ready", "dead-node-1"):
        report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
    ready = report.check("nodes-ready")
    assert ready.status is Status.WARN and "not Ready: dead-node-1" in ready.message
    assert ready.details["notReady"] == ["dead-node-1"]


@contextmanager
def extra_node(cluster: LiveCluster, fixture: str, name: str) -> Iterator[None]:
    """A node of an add-on fixture, and once it is gone, the DaemonSets settled again."""
    with addons(cluster, enable=(fixture,)):
        cluster.wait_until(f"{name} exists", lambda: f"node/{name}" in cluster.kubectl("get", "nodes", "-o", "name"))
        yield
    # The DaemonSets' pods on the node go with it now, not when pod GC gets to them a minute later.
    cluster.kubectl("delete", "pods", "-A", f"--field-selector=spec.nodeName={name}", "--force", "--grace-period=0")
    wait_for_daemonsets(cluster)


def wait_for_daemonsets(cluster: LiveCluster) -> None:
    """After a node comes or goes, until every DaemonSet has counted the nodes again."""

    def settled() -> bool:
        items = cluster.get_json("daemonsets", "-A")["items"]
        return all(
            d["status"].get("numberReady") == d["status"].get("desiredNumberScheduled") == len(nodes_for(cluster, d))
            for d in items
        )

    cluster.wait_until("DaemonSets settled", settled, timeout=120, interval=1)


def nodes_for(cluster: LiveCluster, daemonset: dict[str, Any]) -> list[str]:
    selector = daemonset["spec"]["template"]["spec"].get("nodeSelector") or {}
    labels = ",".join(f"{k}={v}" for k, v in selector.items())
    return cluster.kubectl("get", "nodes", "-o", "name", *(["-l", labels] if labels else [])).split()


# -- CNI and DNS ---------------------------------------------------------------------------------------------------


def test_cni_detected_missing_doubled_and_not_allowed(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    def cni(profile: str = "simulated") -> Any:
        report = preflight(cluster, small["plan"], profiles[profile], platform, only=frozenset({"cni"}))
        return report.check("cni")

    assert cni().status is Status.PASS
    refused = cni("flannel-only")
    assert refused.status is Status.FAIL and "calico is not one the profile allows (flannel)" in refused.message
    with addons(cluster, disable=("calico",)):
        missing = cni()
        assert missing.status is Status.FAIL and missing.message.startswith("no known CNI found")
        with addons(cluster, enable=("cilium",)):
            cluster.wait_until("cilium ready", lambda: cni().status is Status.PASS, timeout=60)
            assert "cilium (kube-system/cilium" in cni().message
    with addons(cluster, enable=("cilium",)):
        cluster.wait_until("cilium ready", lambda: cni().status is not Status.FAIL, timeout=60)
        both = cni()
        assert both.status is Status.WARN and "more than one CNI runs" in both.message


def test_coredns_present_and_missing(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    def coredns() -> Any:
        return preflight(cluster, small["plan"], profiles["simulated"], platform, only=frozenset({"coredns"})).check(
            "coredns"
        )

    passing = coredns()
    assert passing.status is Status.PASS and "ready endpoints" in passing.message
    with addons(cluster, disable=("coredns",)):
        missing = coredns()
        assert missing.status is Status.FAIL and "no cluster DNS" in missing.message
    cluster.kubectl("wait", "--for=condition=Available", "--timeout=60s", "-n", "kube-system", "deployment/coredns")
    cluster.wait_until("CoreDNS endpoints", lambda: coredns().status is Status.PASS, timeout=60)


# -- storage -------------------------------------------------------------------------------------------------------


def test_default_storage_class_none_one_and_two(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    def storage_class() -> Any:
        only = frozenset({"default-storage-class"})
        return preflight(cluster, small["plan"], profiles["simulated"], platform, only=only).check(
            "default-storage-class"
        )

    assert storage_class().message == "default StorageClass standard (kwok.x-k8s.io/volume, Immediate binding)"
    with addons(cluster, enable=("storage-second-default",)):
        two = storage_class()
        assert two.status is Status.WARN and "2 default StorageClasses" in two.message
    with addons(cluster, disable=("storage",)):
        none = storage_class()
        assert none.status is Status.FAIL and none.message.startswith("no default StorageClass")


def test_deep_storage_check_binds_a_claim_and_deletes_it(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    report = preflight(
        cluster, small["plan"], profiles["simulated"], platform, only=frozenset({"storage-binding"}), deep=True
    )
    check = report.check("storage-binding")
    assert check.status is Status.PASS, check.as_dict()
    assert "bound to" in check.message and check.details["deleted"]
    name = check.details["claim"].split("/")[1]
    cluster.wait_until(
        "the test claim is gone",
        lambda: cluster.run_kubectl("get", "pvc", "-n", "default", name).returncode != 0,
        timeout=30,
    )
    with addons(cluster, disable=("storage",)):
        report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=frozenset({"storage-binding"}))
    assert report.check("storage-binding").status is Status.FAIL, "named in --only: the deep check runs"


# -- GPUs ----------------------------------------------------------------------------------------------------------


def test_gpu_checks_pass_on_a_gpu_cluster(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    report = preflight(cluster, small["plan"], profiles["gpu-onprem"], platform, only=frozenset(GPU_CHECKS))
    assert [report.check(i).status for i in GPU_CHECKS] == [Status.PASS] * 3, [c.as_dict() for c in report.checks]
    nodes = report.check("gpu-nodes")
    assert nodes.message == "8 GPUs on 1 node (gpu-node-1: 8 x NVIDIA-A100-SXM4-80GB (81920 MiB))"
    assert nodes.details["nodes"][0]["memoryMiB"] == "81920"
    assert "kube-system/nvidia-device-plugin-daemonset (static manifest)" in report.check("gpu-device-plugin").message
    assert report.check("gpu-runtime-class").message == "RuntimeClass nvidia (handler nvidia)"


def test_gpu_device_plugin_absent_and_a_node_without_allocatable_gpus(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    def gpu() -> PreflightReport:
        return preflight(cluster, small["plan"], profiles["gpu-onprem"], platform, only=frozenset(GPU_CHECKS))

    with addons(cluster, disable=("nvidia-device-plugin",)):
        report = gpu()
    plugin = report.check("gpu-device-plugin")
    assert plugin.status is Status.FAIL and "no NVIDIA device plugin DaemonSet" in plugin.message
    runtime = report.check("gpu-runtime-class")
    assert runtime.status is Status.FAIL and "RuntimeClass nvidia is missing" in runtime.message
    assert report.exit_code == 1

    with extra_node(cluster, "gpu-node-unallocatable", "gpu-node-2"):
        report = gpu()
    nodes = report.check("gpu-nodes")
    assert nodes.status is Status.WARN, nodes.as_dict()
    assert "gpu-node-2 has NVIDIA hardware labels but no allocatable nvidia.com/gpu" in nodes.message
    assert nodes.details["withoutAllocatableGpus"] == ["gpu-node-2"]


# -- cert-manager --------------------------------------------------------------------------------------------------


def url_webhook(server: WebhookServer, *, trusted: bool) -> str:
    """cert-manager's validating webhook, served by the test's own server on loopback."""
    client: dict[str, Any] = {"url": f"https://127.0.0.1:{server.port}/validate"}
    if trusted:
        client["caBundle"] = base64.b64encode(server.cert.read_bytes()).decode()
    webhook = {
        "name": "webhook.cert-manager.io",
        "rules": [
            {
                "apiGroups": ["cert-manager.io"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["*/*"],
            }
        ],
        "admissionReviewVersions": ["v1"],
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "timeoutSeconds": 5,
        "clientConfig": client,
    }
    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "cert-manager-webhook"},
            "webhooks": [webhook],
        }
    )


def test_cert_manager_installed_by_kfctl_or_preinstalled_why_it_does_not_answer_and_foreign_crds(
    cluster: LiveCluster,
    small: dict[str, Any],
    profiles: dict[str, ClusterProfile],
    platform: Platform,
    tmp_path: Path,
) -> None:
    def cert_manager(profile: str = "preinstalled") -> Any:
        only = frozenset({"cert-manager"})
        return preflight(cluster, small["plan"], profiles[profile], platform, only=only).check("cert-manager")

    without_cert_manager(cluster)
    assert cert_manager("simulated").status is Status.PASS, "the plan installs it"
    missing = cert_manager()
    assert missing.status is Status.FAIL and missing.details["cause"] == "crds-missing"
    assert "expects it preinstalled" in missing.message
    with addons(cluster, enable=("cert-manager-crds",)):
        crds_only = cert_manager()
        assert crds_only.status is Status.FAIL and crds_only.details["cause"] == "webhook-missing"
        assert "installed (v1.16.1) but not its webhook" in crds_only.message
        # The same CRDs are another installer's to a plan that installs cert-manager itself.
        report = preflight(
            cluster, small["plan"], profiles["simulated"], platform, only=frozenset({"cert-manager", "foreign-crds"})
        )
        foreign = report.check("foreign-crds")
        assert foreign.status is Status.WARN
        assert foreign.details["installers"]["certificates.cert-manager.io"] == {
            "component": "cert-manager",
            "managers": ["local-cluster"],
        }
        assert "cert-manager: " in foreign.message and "takes over their fields" in foreign.message
        assert "already installed by local-cluster" in report.check("cert-manager").message
        with addons(cluster, enable=("cert-manager-webhook",)):
            no_service = cert_manager()
            assert no_service.details["cause"] == "webhook-service-missing", no_service.as_dict()
            assert 'service "cert-manager-webhook" not found' in no_service.message
            with addons(cluster, enable=("cert-manager-webhook-service",)):
                silent = cert_manager()
                assert silent.details["cause"] == "webhook-not-ready", silent.as_dict()
                assert "does not answer" in silent.message
        server = WebhookServer(tmp_path)
        server.start()
        try:
            with applied(cluster, url_webhook(server, trusted=False)):
                untrusted = cert_manager()
                assert untrusted.details["cause"] == "ca-not-injected", untrusted.as_dict()
                assert "x509" in untrusted.message
            with applied(cluster, url_webhook(server, trusted=True)):
                answering = cert_manager()
                assert answering.status is Status.PASS, answering.as_dict()
                assert answering.message == "cert-manager v1.16.1 answers: a dry-run Certificate passed its webhook"
        finally:
            server.stop()
        reviewed = [r for r in server.reviews if r["kind"]["kind"] == "Certificate"]
        assert reviewed and all(r["dryRun"] for r in reviewed), "only dry runs: nothing was stored"
    assert cluster.run_kubectl("get", "certificates.cert-manager.io", "-A").returncode != 0, "CRDs removed again"


# -- permissions ------------------------------------------------------------------------------------------------


def test_a_user_without_bindings_gets_each_missing_permission(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    assert cluster.user_kubeconfig_path is not None
    report = preflight(cluster, small["plan"], profiles["simulated"], platform, kubeconfig=cluster.user_kubeconfig_path)
    assert report.identity["username"] == "alice@company.com"
    check = report.check("permissions")
    assert check.status is Status.FAIL and report.exit_code == 1
    assert check.message.startswith("alice@company.com lacks")
    assert "CustomResourceDefinition: create, get, patch cluster-wide" in check.message
    missing = {(m["kind"], m["verb"], m["namespace"]) for m in check.details["missing"]}
    assert ("Deployment", "create", "kubeflow") in missing
    assert ("Namespace", "create", "(cluster-wide)") in missing
    assert ("ConfigMap", "list", "kfctl-system") in missing
    assert len(missing) == check.details["needed"], "alice may do nothing"
    # What alice may not read is not known, and never passes.
    found = statuses(report)
    for check_id in ("nodes-ready", "cni", "coredns", "default-storage-class", "leftover-webhooks"):
        assert found[check_id] is Status.UNKNOWN, (check_id, report.check(check_id).as_dict())
    assert "forbidden" in report.check("nodes-ready").message


def test_a_namespace_editor_lacks_only_the_cluster_wide_permissions(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    assert cluster.user_kubeconfig_path is not None
    name = f"t-preflight-edit-{os.urandom(3).hex()}"
    cluster.kubectl("create", "clusterrolebinding", name, "--clusterrole=edit", "--user=alice@company.com")
    try:
        report = preflight(
            cluster,
            small["plan"],
            profiles["simulated"],
            platform,
            kubeconfig=cluster.user_kubeconfig_path,
            only=frozenset({"permissions"}),
        )
    finally:
        cluster.kubectl("delete", "clusterrolebinding", name)
    check = report.check("permissions")
    assert check.status is Status.FAIL
    kinds = {m["kind"] for m in check.details["missing"]}
    assert {"CustomResourceDefinition", "ClusterRole", "Namespace"} <= kinds
    assert not {"Deployment", "Service", "ConfigMap"} & kinds, "edit grants these in every namespace"
    assert check.details["reviews"] > 1


# -- leftovers ---------------------------------------------------------------------------------------------------


def test_leftover_webhooks_and_apiservices(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    only = frozenset({"leftover-webhooks", "leftover-apiservices"})
    with addons(cluster, enable=("leftovers",)):
        cluster.wait_until(
            "the APIService is marked unavailable",
            lambda: (
                "ServiceNotFound"
                in cluster.kubectl("get", "apiservice", "v1beta1.metrics.old-kubeflow.example.com", "-o", "json")
            ),
            timeout=30,
        )
        report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
    webhooks = report.check("leftover-webhooks")
    assert webhooks.status is Status.FAIL
    assert "old-notebook-webhook" in webhooks.message and "old-kubeflow/notebook-webhook-service" in webhooks.message
    api_services = report.check("leftover-apiservices")
    assert api_services.status is Status.FAIL
    assert "v1beta1.metrics.old-kubeflow.example.com (ServiceNotFound" in api_services.message
    report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
    assert [report.check(i).status for i in sorted(only)] == [Status.PASS, Status.PASS]


def lease(app: str, *, host: str, pid: int, renewed: float, duration: int = 60) -> dict[str, Any]:
    """The app's lock as another kfctl run writes it (kfctl.kube.lease)."""
    stamp = datetime.fromtimestamp(renewed, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": f"kfctl-{app}-lock",
            "namespace": "kfctl-system",
            "annotations": {
                "kfctl.dev/holder": json.dumps({"user": "bob", "host": host, "pid": pid, "command": "apply"})
            },
        },
        "spec": {
            "holderIdentity": f"{host}/{pid}/test",
            "leaseDurationSeconds": duration,
            "acquireTime": stamp,
            "renewTime": stamp,
        },
    }


def test_a_release_in_progress(
    cluster: LiveCluster, small: dict[str, Any], profiles: dict[str, ClusterProfile], platform: Platform
) -> None:
    created_namespace = cluster.run_kubectl("create", "namespace", "kfctl-system").returncode == 0
    record = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "kfctl-kubeflow-v9999",
            "namespace": "kfctl-system",
            "labels": {"kfctl.dev/app": "kubeflow", "kfctl.dev/release-record": "true", "kfctl.dev/revision": "9999"},
            "annotations": {"kfctl.dev/status": "pending"},
        },
    }
    only = frozenset({"release-in-progress"})
    try:
        with applied(cluster, json.dumps(record)):
            with applied(cluster, json.dumps(lease("kubeflow", host="build-7", pid=4242, renewed=time.time()))):
                report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
                check = report.check("release-in-progress")
                assert check.status is Status.FAIL, check.as_dict()
                assert "another kfctl run of kubeflow is in progress: kfctl apply by bob on build-7" in check.message
                ignored = preflight(
                    cluster, small["plan"], profiles["simulated"], platform, only=only, ignore=frozenset({"all"})
                )
                assert ignored.check("release-in-progress").status is Status.WARN and ignored.exit_code == 0
            # The holder stopped renewing 5 minutes ago: the pending record is an interrupted run's.
            stale = lease("kubeflow", host="build-7", pid=4242, renewed=time.time() - 300)
            with applied(cluster, json.dumps(stale)):
                report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
                check = report.check("release-in-progress")
                assert check.status is Status.WARN and "interrupted" in check.message, check.as_dict()
            cluster.kubectl(
                "annotate",
                "--overwrite",
                "-n",
                "kfctl-system",
                "configmap/kfctl-kubeflow-v9999",
                "kfctl.dev/status=deployed",
            )
            report = preflight(cluster, small["plan"], profiles["simulated"], platform, only=only)
            assert report.check("release-in-progress").message == "latest release of kubeflow: revision 9999, deployed"
    finally:
        if created_namespace:
            cluster.run_kubectl("delete", "namespace", "kfctl-system", "--wait=false")


# -- the full platform --------------------------------------------------------------------------------------------


def test_full_platform_preflight_in_a_few_requests(
    cluster: LiveCluster,
    manifests: None,
    profiles: dict[str, ClusterProfile],
    platform: Platform,
    tmp_path: Path,
) -> None:
    plan = plan_for(RenderOptions(write_config(tmp_path, None))).plan
    assert len(plan.objects) > 500
    report = preflight(cluster, plan, profiles["simulated"], platform)
    assert report.exit_code == 0, [c.as_dict() for c in report.checks if c.status is Status.FAIL]
    assert report.check("permissions").details["needed"] > 200
    assert report.requests < 40, report.requests
    print(f"\nfull v1.10 platform: preflight {report.seconds:.2f}s, {report.requests} requests")
