"""Two apps, one cluster: an app never takes over, or deletes, what another app or a Helm release
manages, unless told to (--adopt); and what it was told to take is recorded and shown."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kfctl.deploy.record import applyset_id
from tests.cluster import LiveCluster
from tests.e2e.test_apply import kfctl, report_of, write_config

MUTATING = {"create", "update", "patch", "delete", "deletecollection"}
ADMIN = "kfctl-admin"
SHARED = ["kubeflow-namespace", "kubeflow-roles"]


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


@pytest.fixture
def apps(cluster: LiveCluster, tmp_path: Path) -> Iterator[dict[str, Path]]:
    tag = os.urandom(3).hex()
    configs = {
        "a": write_config(tmp_path / "a", f"own-a-{tag}", [*SHARED, "spark-operator"]),
        "b": write_config(tmp_path / "b", f"own-b-{tag}", [*SHARED, "training-operator"]),
    }
    yield configs
    for config in configs.values():
        kfctl(cluster, "delete", "-f", str(config), "--purge", "--yes")


def app_name(config: Path) -> str:
    return next(line.split("name: ")[1].rstrip("}") for line in config.read_text().splitlines() if "name: " in line)


def writes_since(cluster: LiveCluster, mark: int) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.audit.events(mark, settle=1.0)
        if e.get("verb") in MUTATING and (e.get("user") or {}).get("username") == ADMIN
    ]


def part_of(cluster: LiveCluster, kind: str, name: str, namespace: str | None = None) -> str:
    args = [kind, name] + (["-n", namespace] if namespace else [])
    labels: dict[str, str] = cluster.get_json(*args)["metadata"].get("labels") or {}
    return labels.get("applyset.kubernetes.io/part-of", "")


def test_a_second_app_is_refused_then_adopts_and_its_delete_spares_the_first_apps_objects(
    cluster: LiveCluster, apps: dict[str, Path]
) -> None:
    a, b = apps["a"], apps["b"]
    first = kfctl(cluster, "apply", "-f", str(a), "-o", "json")
    assert first.returncode == 0, first.stderr[-2000:]
    a_objects = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
        for o in cluster.get_json("clusterroles,namespaces", "-l", f"kfctl.dev/component in ({','.join(SHARED)})")[
            "items"
        ]
        if (o["metadata"].get("labels") or {}).get("applyset.kubernetes.io/part-of") == applyset_id(app_name(a))
    }
    assert len(a_objects) == 7, "kubeflow-roles' six ClusterRoles and the kubeflow namespace"

    # Refused: exit 2, one line naming the owner and how many objects it holds, no write at all.
    mark = cluster.audit.mark()
    refused = kfctl(cluster, "apply", "-f", str(b), "-o", "json")
    assert refused.returncode == 2, refused.stderr[-2000:]
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and f"kfctl app {app_name(a)} owns 7 of the planned objects" in lines[0], refused.stderr
    error = json.loads(refused.stdout)
    assert error["kind"] == "Error" and error["exitCode"] == 2
    assert error["detail"]["owners"] == [
        {"kind": "kfctl-app", "name": app_name(a), "objects": 7, "examples": error["detail"]["owners"][0]["examples"]}
    ]
    assert writes_since(cluster, mark) == [], "a refused apply writes nothing"

    # Adopted when asked: recorded in the release, and the first app's status names the new owner.
    adopted = kfctl(cluster, "apply", "-f", str(b), "--adopt", "-o", "json")
    assert adopted.returncode == 0, adopted.stderr[-2000:]
    from_a = [e for e in report_of(adopted)["adopted"] if e["from"] == f"kfctl app {app_name(a)}"]
    assert len(from_a) == 7, report_of(adopted)["adopted"]
    assert part_of(cluster, "clusterrole", "kubeflow-edit") == applyset_id(app_name(b))
    history = json.loads(kfctl(cluster, "history", "-f", str(b), "-o", "json").stdout)
    assert history["items"][-1]["adopted"] == report_of(adopted)["adopted"], "the release record says what was adopted"
    status = kfctl(cluster, "status", "-f", str(a), "-o", "json")
    assert status.returncode == 1
    roles = next(c for c in json.loads(status.stdout)["components"] if c["name"] == "kubeflow-roles")
    assert {n["message"] for n in roles["notReady"]} == {f"owned by another app ({app_name(b)})"}
    assert {n["state"] for n in roles["notReady"]} == {"OwnedElsewhere"}

    # The first app takes its objects back; deleting the second, even with --purge, deletes none of them.
    back = kfctl(cluster, "apply", "-f", str(a), "--adopt", "-o", "json")
    assert back.returncode == 0, back.stderr[-2000:]
    mark = cluster.audit.mark()
    deleted = kfctl(cluster, "delete", "-f", str(b), "--purge", "--yes", "-o", "json")
    assert deleted.returncode == 0, deleted.stderr[-2000:]
    deletes = [e for e in writes_since(cluster, mark) if e["verb"] == "delete"]
    deleted_names = {(e["objectRef"]["resource"], e["objectRef"].get("name")) for e in deletes}
    assert deleted_names, "the second app's own objects (the training operator) are deleted"
    spared = {("clusterroles", name) for kind, _, name in a_objects if kind == "ClusterRole"} | {
        ("namespaces", "kubeflow")
    }
    assert not deleted_names & spared, f"deleted objects of the first app: {deleted_names & spared}"
    kept = json.loads(deleted.stdout)["keptObjects"]
    assert len(kept) == 7 and {k["why"] for k in kept} == {f"now owned by kfctl app {app_name(a)}"}, kept
    assert kfctl(cluster, "status", "-f", str(a)).returncode == 0, "the first app is whole again"


def test_a_helm_release_is_refused_the_same_way(cluster: LiveCluster, apps: dict[str, Path]) -> None:
    """A Deployment a Helm release installed (Helm's label and annotations) is not taken over."""
    a = apps["a"]
    built = subprocess.run(
        ["kfctl", "build", "-f", str(a), "spark-operator"], capture_output=True, text=True, check=True
    ).stdout
    deployment = next(
        doc for doc in built.split("\n---\n") if "kind: Deployment" in doc and "spark-operator-controller" in doc
    )
    cluster.kubectl("create", "namespace", "kubeflow", check=False)
    helm = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "spark-operator-controller",
            "namespace": "kubeflow",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "spark", "meta.helm.sh/release-namespace": "spark-system"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "spark"}},
            "template": {
                "metadata": {"labels": {"app": "spark"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    assert "spark-operator-controller" in deployment
    cluster.kubectl("apply", "--server-side", "--field-manager=helm", "-f", "-", input=json.dumps(helm))
    try:
        mark = cluster.audit.mark()
        refused = kfctl(cluster, "apply", "-f", str(a))
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert "Helm release spark-system/spark owns 1 of the planned objects" in refused.stderr
        assert "Deployment.apps kubeflow/spark-operator-controller" in refused.stderr
        assert writes_since(cluster, mark) == []
        live = cluster.get_json("deployment", "spark-operator-controller", "-n", "kubeflow")
        assert "applyset.kubernetes.io/part-of" not in live["metadata"]["labels"]
    finally:
        cluster.kubectl("delete", "deployment", "spark-operator-controller", "-n", "kubeflow", "--ignore-not-found")
