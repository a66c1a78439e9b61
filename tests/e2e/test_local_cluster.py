"""The simulated control plane behaves like a real cluster where kfctl depends on it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cluster import LOCAL_CLUSTER, LiveCluster


def apply(cluster: LiveCluster, manifest: str, namespace: str | None = None) -> None:
    args = ["apply", "--server-side", "-f", "-"]
    if namespace:
        args += ["-n", namespace]
    cluster.kubectl(*args, input=manifest)


def condition(obj: dict, kind: str) -> str | None:  # type: ignore[type-arg]
    for item in obj.get("status", {}).get("conditions", []):
        if item["type"] == kind:
            return str(item["status"])
    return None


def test_deployment_becomes_available_on_simulated_nodes(cluster: LiveCluster, namespace: str) -> None:
    apply(
        cluster,
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx:1.27, resources: {requests: {cpu: 100m}}}]
""",
        namespace,
    )
    cluster.kubectl("wait", "--for=condition=Available", "--timeout=60s", "-n", namespace, "deployment/web")
    pods = cluster.get_json("pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 3
    assert all(p["spec"]["nodeName"] for p in pods), "every pod is scheduled onto a node"
    assert all(condition(p, "Ready") == "True" for p in pods)


def test_statefulset_with_claims_daemonset_and_job_become_ready(cluster: LiveCluster, namespace: str) -> None:
    apply(
        cluster,
        """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: mysql:8.0}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: busybox:1.36}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: once, image: busybox:1.36}]
""",
        namespace,
    )
    cluster.kubectl("rollout", "status", "--timeout=90s", "-n", namespace, "statefulset/db")
    cluster.kubectl("rollout", "status", "--timeout=60s", "-n", namespace, "daemonset/agent")
    cluster.kubectl("wait", "--for=condition=Complete", "--timeout=60s", "-n", namespace, "job/once")
    claims = cluster.get_json("pvc", "-n", namespace)["items"]
    assert len(claims) == 2
    assert {c["status"]["phase"] for c in claims} == {"Bound"}
    assert {c["spec"]["storageClassName"] for c in claims} == {"standard"}, "the default class is applied"
    nodes = cluster.get_json("nodes")["items"]
    daemonset = cluster.get_json("daemonset/agent", "-n", namespace)
    assert daemonset["status"]["numberReady"] == len(nodes)


def test_crd_becomes_established_and_serves_custom_resources(cluster: LiveCluster, namespace: str) -> None:
    group = f"{namespace}.kfctl.test"
    apply(
        cluster,
        f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, properties: {{size: {{type: integer}}}}}}
""",
    )
    try:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/widgets.{group}")
        apply(cluster, f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n", namespace)
        widget = cluster.get_json(f"widgets.{group}/w1", "-n", namespace)
        assert widget["spec"]["size"] == 3
        rejected = cluster.run_kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w2}}\nspec: {{size: many}}\n",
        )
        assert rejected.returncode != 0 and "spec.size: Invalid value" in rejected.stderr, "the schema is enforced"
    finally:
        cluster.run_kubectl("delete", f"crd/widgets.{group}", "--wait=false")


def test_user_without_bindings_is_forbidden_until_granted(cluster: LiveCluster, namespace: str) -> None:
    alice = cluster.user_kubeconfig_path
    assert alice is not None, "set KFCTL_TEST_USER_KUBECONFIG for an external cluster"

    def review() -> dict:  # type: ignore[type-arg]
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "alice@company.com",
                "groups": ["system:authenticated"],
                "resourceAttributes": {"namespace": namespace, "verb": "list", "resource": "pods"},
            },
        }
        out = cluster.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(body))
        return json.loads(out)["status"]  # type: ignore[no-any-return]

    assert review()["allowed"] is False
    denied = cluster.run_kubectl("get", "pods", "-n", namespace, kubeconfig=alice)
    assert denied.returncode != 0
    assert 'User "alice@company.com" cannot list resource "pods"' in denied.stderr

    cluster.kubectl(
        "create", "rolebinding", "alice-view", "--clusterrole=view", "--user=alice@company.com", "-n", namespace
    )
    cluster.wait_until("the binding to take effect", lambda: review()["allowed"] is True, timeout=10)
    allowed = cluster.run_kubectl("get", "pods", "-n", namespace, kubeconfig=alice)
    assert allowed.returncode == 0, allowed.stderr
    still_denied = cluster.run_kubectl("get", "pods", "-n", "kube-system", kubeconfig=alice)
    assert still_denied.returncode != 0, "the grant is limited to its namespace"


def test_deleting_a_namespace_removes_its_content(cluster: LiveCluster) -> None:
    name = f"t-doomed-{os.urandom(3).hex()}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", name)
    cluster.kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", name)
    cluster.kubectl("wait", "--for=condition=Available", "--timeout=60s", "-n", name, "deployment/web")
    cluster.kubectl("delete", "namespace", name, "--timeout=90s")
    gone = cluster.run_kubectl("get", "namespace", name)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    leftovers = cluster.get_json(
        "pods,configmaps,deployments,replicasets", "-A", f"--field-selector=metadata.namespace={name}"
    )["items"]
    assert leftovers == []


def test_gpu_node_reports_allocatable_gpus(cluster: LiveCluster) -> None:
    nodes = cluster.get_json("nodes", "-l", "nvidia.com/gpu.present=true")["items"]
    assert nodes, "at least one GPU node"
    for node in nodes:
        assert int(node["status"]["allocatable"]["nvidia.com/gpu"]) > 0
        assert node["metadata"]["labels"]["nvidia.com/gpu.product"]
        assert condition(node, "Ready") == "True"
    cpu_nodes = cluster.get_json("nodes", "-l", "!nvidia.com/gpu.present")["items"]
    assert len(cpu_nodes) >= 3


def test_audit_log_records_a_write_by_the_test(cluster: LiveCluster, namespace: str) -> None:
    mark = cluster.audit.mark()
    cluster.kubectl("create", "configmap", "audited", "--from-literal=k=v", "-n", namespace)
    events = cluster.audit.find(mark, verb="create", resource="configmaps", namespace=namespace, name="audited")
    assert len(events) == 1
    assert events[0]["level"] == "Metadata"
    assert events[0]["user"]["username"] == "kfctl-admin"
    assert "requestObject" not in events[0], "Metadata level never records bodies (secrets stay out)"


def test_loopback_is_the_only_interface(cluster: LiveCluster) -> None:
    interfaces = sorted(os.listdir("/sys/class/net"))
    assert interfaces == ["lo"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        with pytest.raises(OSError) as refused:
            probe.connect(("10.96.0.1", 443))
        assert refused.value.errno in (101, 113), "no route leaves the namespace"
    if cluster.is_local:
        apiserver_pid = int((cluster.state_dir / "pids" / "kube-apiserver.pid").read_text())  # type: ignore[operator]
        assert os.readlink(f"/proc/{apiserver_pid}/ns/net") == os.readlink("/proc/self/ns/net"), (
            "the API server runs in the same loopback-only namespace as the tests"
        )


def test_kfctl_version_reports_the_server(cluster: LiveCluster) -> None:
    out = subprocess.run(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), "version", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = json.loads(out)
    assert versions["server"]["gitVersion"].startswith("v1.")
    assert versions["server"]["gitVersion"] != "v0.0.0-master", "the release is stamped into the binaries"


def test_api_server_restarts_alone_and_keeps_its_data(cluster: LiveCluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "survivor", "--from-literal=k=v", "-n", namespace)
    cluster.local_cluster("stop", "kube-apiserver")
    down = cluster.run_kubectl("get", "--raw", "/readyz", timeout=20)
    assert down.returncode != 0 and "refused" in down.stderr
    cluster.local_cluster("start", "kube-apiserver")
    assert cluster.get_json("configmap/survivor", "-n", namespace)["data"] == {"k": "v"}


def test_down_leaves_no_process_and_up_recovers(tmp_path: Path, cluster: LiveCluster) -> None:
    """A second cluster in its own namespace: killed component recovered by `up`, then `down` cleans all."""
    if not cluster.is_local:
        pytest.fail("this test needs the simulated cluster of scripts/local-cluster")
    env = {**os.environ, "KFCTL_CLUSTER_NAME": "kfctl-second", "KFCTL_CLUSTER_DIR": str(tmp_path / "second")}

    def local_cluster(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LOCAL_CLUSTER), *args], env=env, capture_output=True, text=True, timeout=300)

    up = local_cluster("up", "--addons=storage")
    assert up.returncode == 0, up.stderr
    pids_dir = tmp_path / "second" / "pids"
    pids = {p.stem: int(p.read_text()) for p in pids_dir.glob("*.pid")}
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    os.kill(pids["kube-scheduler"], 9)  # a crash
    recovered = local_cluster("up")
    assert recovered.returncode == 0, recovered.stderr
    new_pids = {p.stem: int(p.read_text()) for p in pids_dir.glob("*.pid")}
    assert new_pids["kube-scheduler"] != pids["kube-scheduler"]
    assert new_pids["kube-apiserver"] == pids["kube-apiserver"], "healthy components are left running"
    down = local_cluster("down")
    assert down.returncode == 0, down.stderr
    alive = [
        name
        for name, pid in new_pids.items()
        if Path(f"/proc/{pid}").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    ]
    assert alive == []
    assert not (tmp_path / "second").exists()
    assert not Path("/run/netns/kfctl-second-sim").exists()
