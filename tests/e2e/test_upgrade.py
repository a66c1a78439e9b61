"""`kfctl upgrade` across the real releases on the real API server: Kubeflow 1.9 installed with users'
objects in it (each accepted by its real CRD), then each release step in turn to 26.03. The facts are
the server's: the audit log for what a step deleted, the live objects for what survived."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import LiveCluster
from tests.e2e.test_apply import ADMIN, kfctl, mutating_requests, report_of

SUFFIX = os.urandom(2).hex()
USERS = f"upgrade-users-{SUFFIX}"


def users_objects() -> list[dict[str, Any]]:
    """One object of each kind users make, in their own namespace (a Profile is cluster-scoped)."""
    container = {"name": "main", "image": "busybox"}
    return [
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "Profile",
            "metadata": {"name": f"user-profile-{SUFFIX}"},
            "spec": {"owner": {"kind": "User", "name": "someone@company.com"}},
        },
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "Notebook",
            "metadata": {"name": "notebook", "namespace": USERS},
            "spec": {"template": {"spec": {"containers": [container]}}},
        },
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "pytorch", "namespace": USERS},
            "spec": {
                "pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}}}
            },
        },
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": "model", "namespace": USERS},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://bucket/model"}}},
        },
        {
            "apiVersion": "kubeflow.org/v1beta1",
            "kind": "Experiment",
            "metadata": {"name": "experiment", "namespace": USERS},
            "spec": {
                "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
                "algorithm": {"algorithmName": "random"},
                "parameters": [
                    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.1"}}
                ],
                "trialTemplate": {
                    "primaryContainerName": "main",
                    "trialParameters": [{"name": "lr", "reference": "lr"}],
                    "trialSpec": {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
                    },
                },
            },
        },
        {
            "apiVersion": "kubeflow.org/v1alpha1",
            "kind": "PodDefault",
            "metadata": {"name": "pod-default", "namespace": USERS},
            "spec": {
                "selector": {"matchLabels": {"add-it": "true"}},
                "desc": "a default",
                "env": [{"name": "A", "value": "1"}],
            },
        },
    ]


def snapshot(cluster: LiveCluster) -> dict[str, tuple[str, Any]]:
    """uid and spec of each user object, as the server holds it."""
    found = {}
    for obj in users_objects():
        kind, name = obj["kind"], obj["metadata"]["name"]
        args = [kind.lower(), name] + (["-n", USERS] if "namespace" in obj["metadata"] else [])
        live = cluster.get_json(*args)
        found[f"{kind}/{name}"] = (live["metadata"]["uid"], live["spec"])
    return found


def write_config(directory: Path, platform: str) -> Path:
    path = directory / "kfctl.yaml"
    path.write_text(
        "# the platform, upgraded in place\n"
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: upgraded}\n"
        f"spec:\n  profile: simulated\n  platform: {platform}\n"
        "  mirrors: {'https://github.com/': '"
        + str(Path(os.environ["KFCTL_MANIFESTS_DIR"]) / "mirror" / "github.com")
        + "/'}\n"
    )
    return path


@pytest.fixture(scope="module")
def installed(cluster: LiveCluster, upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    directory = tmp_path_factory.mktemp("upgrade")
    config = write_config(directory, "kubeflow-1.9")
    first = kfctl(cluster, "apply", "-f", str(config), "-o", "json", timeout=1500)
    assert first.returncode == 0, first.stderr[-3000:]
    cluster.kubectl("create", "namespace", USERS)
    cluster.kubectl("create", "-f", "-", input="\n---\n".join(json.dumps(o) for o in users_objects()))
    yield {"config": config, "before": snapshot(cluster)}
    kfctl(cluster, "delete", "--app", "upgraded", "--purge", "--yes", timeout=900)
    cluster.run_kubectl("delete", "namespace", USERS, "--wait=false")


def deletions_by_kfctl(cluster: LiveCluster, mark: int) -> set[tuple[str, str]]:
    """(namespace, name) of every object kfctl deleted since `mark`, by the audit log."""
    found = set()
    for event in cluster.audit.events(mark, settle=1.0):
        ref = event.get("objectRef") or {}
        by_kfctl = (event.get("user") or {}).get("username") == ADMIN
        done = (event.get("responseStatus") or {}).get("code", 500) < 300
        if event.get("verb") == "delete" and by_kfctl and done and ref.get("resource") != "leases":
            found.add((ref.get("namespace") or "", ref.get("name") or ""))
    return found


def test_more_than_one_step_with_no_chain_is_refused_without_a_write(
    cluster: LiveCluster, installed: dict[str, Any]
) -> None:
    mark = cluster.audit.mark()
    result = kfctl(cluster, "upgrade", "-f", str(installed["config"]), "--to", "kubeflow-26.03", "--no-chain", "--yes")
    assert result.returncode == 2 and "--no-chain" in result.stderr, result.stderr[-2000:]
    assert mutating_requests(cluster, mark) == []


def test_each_step_does_what_its_dry_run_said_and_users_objects_survive(
    cluster: LiveCluster, installed: dict[str, Any]
) -> None:
    config = str(installed["config"])
    for target in ("kubeflow-1.10", "kubeflow-1.11", "kubeflow-26.03"):
        mark = cluster.audit.mark()
        planned = kfctl(cluster, "upgrade", "-f", config, "--to", target, "--dry-run", "-o", "json", timeout=900)
        assert planned.returncode == 0, planned.stderr[-3000:]
        writes = [r for r in mutating_requests(cluster, mark) if "dryRun=All" not in r]
        assert writes == []  # a dry run writes nothing (server-side dry-runs store nothing)
        plan = report_of(planned)["steps"][0]
        assert plan["blocked"] == [], plan["blocked"]

        mark = cluster.audit.mark()
        ran = kfctl(cluster, "upgrade", "-f", config, "--to", target, "--yes", "-o", "json", timeout=1800)
        assert ran.returncode == 0, ran.stderr[-4000:]
        step = report_of(ran)["steps"][0]
        assert step["status"] == "deployed" and step["to"]["platform"] == target
        # What the dry run said would be deleted (re-created, pruned, by a migration) is what was deleted.
        expected = {(c["namespace"], c["name"]) for c in plan["changes"] if c["action"] in ("recreate", "prune")}
        migrated = " ".join(line for m in step["migrationsRun"] for line in m["did"])
        deleted = deletions_by_kfctl(cluster, mark)
        assert expected <= deleted, sorted(expected - deleted)
        unexplained = {d for d in deleted - expected if d[1] not in migrated}
        assert unexplained == set(), (unexplained, migrated)
        assert {c["object"] for c in step["changes"] if c["action"] == "recreate"} == {
            c["object"] for c in plan["changes"] if c["action"] == "recreate"
        }
        assert yaml.safe_load(installed["config"].read_text())["spec"]["platform"] == target
        assert "# the platform, upgraded in place" in installed["config"].read_text()
        status = kfctl(cluster, "status", "-f", config, "-o", "json")
        unhealthy = [c for c in report_of(status)["components"] if c["health"] != "Healthy"]
        assert status.returncode == 0 and unhealthy == [], (target, unhealthy)
        assert snapshot(cluster) == installed["before"]  # same uid, same spec
