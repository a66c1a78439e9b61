"""Faults during apply: an invalid object, the API server killed mid-apply, a flaky network."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ClusterUnavailable, LiveCluster
from tests.e2e.test_apply import kfctl, report_of, write_config
from tests.faultproxy import FaultProxy, mutating, reset, status

COMPONENTS = ["cert-manager", "istio", "kubeflow-namespace", "kubeflow-roles", "training-operator", "katib"]
# No PersistentVolumeClaim: when the API server dies while the volume controller binds one, the
# controller may give the claim up as Lost for good (its own "Error saving claim"), which no apply repairs.
WITHOUT_CLAIMS = [*COMPONENTS[:-1], "spark-operator", "pvcviewer-controller"]


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


@pytest.fixture
def app(cluster: LiveCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh app name per test; its release is deleted afterwards (data too)."""
    name = "faults-" + "".join(c for c in request.node.name.lower() if c.isalnum())[-20:]
    yield name
    subprocess.run(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), "delete", "--app", name, "--purge", "--yes"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def inventory_of(cluster: LiveCluster, app: str) -> tuple[str, set[str]]:
    """Status and objects of the app's latest release record, read straight from the cluster."""
    import base64
    import gzip

    records = cluster.get_json(
        "configmaps", "-n", "kfctl-system", "-l", f"kfctl.dev/app={app},kfctl.dev/release-record=true"
    )["items"]
    latest = max(records, key=lambda r: int(r["metadata"]["labels"]["kfctl.dev/revision"]))
    data = json.loads(gzip.decompress(base64.b64decode(latest["binaryData"]["release.json.gz"])))
    refs = {f"{e['kind']}/{e['namespace']}/{e['name']}" for e in data["inventory"]}
    return data["status"], refs


def live_members(cluster: LiveCluster, refs: set[str]) -> set[str]:
    present = set()
    for ref in refs:
        kind, namespace, name = ref.split("/", 2)
        args = ["get", kind, name] + (["-n", namespace] if namespace else [])
        if cluster.run_kubectl(*args).returncode == 0:
            present.add(ref)
    return present


def test_invalid_object_fails_fast_and_its_dependents_are_not_applied(
    cluster: LiveCluster, app: str, tmp_path: Path
) -> None:
    invalid = {
        "name": "training-operator",
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "training-operator"},
                "patch": "apiVersion: apps/v1\nkind: Deployment\n"
                "metadata: {name: training-operator}\nspec: {replicas: -1}\n",
            }
        ],
    }
    config = write_config(
        tmp_path,
        app,
        [
            "kubeflow-namespace",
            "kubeflow-roles",
            invalid,
            {"name": "spark-operator", "dependsOn": ["training-operator"]},
        ],
    )
    mark = cluster.audit.mark()
    result = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert result.returncode == 1, result.stderr[-2000:]
    report = report_of(result)
    components = {c["name"]: c for c in report["components"]}
    assert components["training-operator"]["status"] == "failed"
    assert "spec.replicas: Invalid value: -1" in components["training-operator"]["message"]
    assert components["spark-operator"]["status"] == "skipped"
    assert "training-operator" in components["spark-operator"]["message"]
    assert components["kubeflow-namespace"]["status"] == "applied"
    attempts = cluster.audit.find(mark, verb="patch", resource="deployments", name="training-operator")
    assert len(attempts) == 1, "a permanent error is not retried"
    assert cluster.run_kubectl("get", "deployment", "spark-operator-controller", "-n", "kubeflow").returncode != 0
    record_status, _ = inventory_of(cluster, app)
    assert record_status == "failed"


def test_api_server_killed_mid_apply_then_the_next_apply_converges(
    cluster: LiveCluster, app: str, tmp_path: Path
) -> None:
    if not cluster.is_local:
        raise ClusterUnavailable("this test stops the simulated cluster's API server")
    config = write_config(tmp_path, app, WITHOUT_CLAIMS)
    process = subprocess.Popen(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), "apply", "-f", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "wave 2/" in line:
            break
    cluster.local_cluster("stop", "kube-apiserver")
    time.sleep(2)
    cluster.local_cluster("start", "kube-apiserver")
    process.wait(timeout=600)
    first = process.returncode
    # Whatever the first run made of the restart, the next one needs no flag: the first has ended, so
    # the lock is free (or stale), and a pending record is resumed from.
    second = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert second.returncode == 0, (
        f"first run exited {first} ({''.join(seen)[-1000:]}); second: {second.stderr[-2000:]}"
    )
    assert report_of(second)["status"] in ("deployed", "unchanged")
    record_status, refs = inventory_of(cluster, app)
    assert record_status == "deployed"
    built = subprocess.run(["kfctl", "build", "-f", str(config)], capture_output=True, text=True, check=True)
    # Rendered cluster-scoped objects may name a namespace (spark-operator's ClusterRoles do); the server drops it.
    cluster_scoped = {
        line.split()[-1] for line in cluster.kubectl("api-resources", "--namespaced=false", "--no-headers").splitlines()
    }
    planned = set()
    for o in _objects(built.stdout):
        namespace = "" if o["kind"] in cluster_scoped else o["metadata"].get("namespace", "")
        planned.add(f"{o['kind']}/{namespace}/{o['metadata']['name']}")
    assert refs == planned, "the inventory holds exactly the planned objects"
    assert live_members(cluster, refs) == refs, "nothing lost"


def _objects(text: str) -> list[dict[str, Any]]:
    import yaml

    return [o for o in yaml.safe_load_all(text) if o]


def test_apply_succeeds_through_429s_500s_and_connection_resets(cluster: LiveCluster, app: str, tmp_path: Path) -> None:
    if cluster.state_dir is None:
        raise ClusterUnavailable("the fault proxy needs the simulated cluster's PKI (scripts/local-cluster)")
    config = write_config(tmp_path, app, COMPONENTS)
    with FaultProxy(cluster.state_dir) as proxy:
        proxy.add_rule(status(429, retry_after=1), every=7)
        proxy.add_rule(status(500), every=11)
        proxy.add_rule(status(503), when=mutating, every=13)
        proxy.add_rule(reset(), every=17)
        result = kfctl(
            cluster,
            "apply",
            "-f",
            str(config),
            "-o",
            "json",
            kubeconfig=proxy.kubeconfig(tmp_path / "proxy.kubeconfig"),
        )
        stats = proxy.stats()
    assert result.returncode == 0, result.stderr[-3000:]
    assert report_of(result)["status"] == "deployed"
    assert stats.statuses.get(429, 0) > 0 and stats.statuses.get(500, 0) > 0
    assert stats.faults.get("reset", 0) > 0
    _, refs = inventory_of(cluster, app)
    assert live_members(cluster, refs) == refs


def test_timeout_names_the_component_object_conditions_and_events(
    cluster: LiveCluster, app: str, tmp_path: Path
) -> None:
    """A workload that can never be scheduled: exit code 4 and one screen that says why."""
    unschedulable = {
        "name": "training-operator",
        "patches": [
            {
                "target": {"kind": "Deployment", "name": "training-operator"},
                "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: training-operator}\n"
                "spec: {template: {spec: {nodeSelector: {kfctl.dev/no-such-node: 'true'}}}}\n",
            }
        ],
    }
    config = write_config(tmp_path, app, ["kubeflow-namespace", "kubeflow-roles", unschedulable])
    result = kfctl(cluster, "apply", "-f", str(config), "-o", "json", "--timeout", "15s")
    assert result.returncode == 4, result.stderr[-2000:]
    component = next(c for c in report_of(result)["components"] if c["name"] == "training-operator")
    assert component["status"] == "timeout"
    assert "Deployment.apps kubeflow/training-operator" in component["message"]
    detail = component["detail"]
    assert any(c["type"] == "Available" and c["status"] == "False" for c in detail["conditions"])
    assert detail["events"], "the latest events of the object are in the report"
