"""kfctl apply / diff / status / delete against the real API server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import LiveCluster

ADMIN = "kfctl-admin"
MUTATING = {"create", "update", "patch", "delete", "deletecollection"}
SMALL = ["cert-manager", "istio", "kubeflow-namespace", "kubeflow-roles", "training-operator", "spark-operator"]


def write_config(directory: Path, name: str, components: list[Any] | None, profile: str = "simulated") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kfctl.yaml"
    listed = "" if components is None else "  components:\n" + "".join(f"  - {json.dumps(c)}\n" for c in components)
    path.write_text(
        f"apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {{name: {name}}}\n"
        f"spec:\n  profile: {profile}\n  platform: kubeflow-1.10\n{listed}"
    )
    return path


def kfctl(
    cluster: LiveCluster, *args: str, kubeconfig: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kfctl", "--kubeconfig", str(kubeconfig or cluster.kubeconfig_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON document `-o json` puts on stdout (events go to stderr)."""
    document = json.loads(result.stdout)
    assert isinstance(document, dict) and document["schemaVersion"], result.stdout[-500:]
    return document


def events_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON-line events `-o json` writes to stderr."""
    return [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"apiVersion"')]


def mutating_requests(cluster: LiveCluster, mark: int) -> list[str]:
    return [
        f"{e['verb']} {e.get('requestURI')}"
        for e in cluster.audit.events(mark, settle=1.0)
        if e.get("verb") in MUTATING and (e.get("user") or {}).get("username") == ADMIN
    ]


def deployments_of(cluster: LiveCluster, app_selector: str) -> list[dict[str, Any]]:
    return cluster.get_json("deployments", "-A", "-l", app_selector)["items"]


def available(deployment: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Available" and c["status"] == "True" for c in deployment.get("status", {}).get("conditions", [])
    )


@pytest.fixture(scope="module")
def full_platform(cluster: LiveCluster, upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole Kubeflow 1.10 platform, applied once by one `kfctl apply` to the cluster."""
    directory = tmp_path_factory.mktemp("full")
    config = write_config(directory, "kubeflow", None)
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    started = time.monotonic()
    result = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return {
        "config": config,
        "directory": directory,
        "report": report_of(result),
        "seconds": time.monotonic() - started,
        "stderr": result.stderr,
    }


def test_full_platform_applies_in_one_pass_and_every_deployment_is_available(
    cluster: LiveCluster, full_platform: dict[str, Any]
) -> None:
    report = full_platform["report"]
    assert report["status"] == "deployed"
    statuses = {c["name"]: c["status"] for c in report["components"]}
    assert len(statuses) == 25 and set(statuses.values()) == {"applied"}, statuses
    deployments = deployments_of(cluster, "kfctl.dev/component")
    assert len(deployments) > 40
    not_available = [d["metadata"]["name"] for d in deployments if not available(d)]
    assert not_available == []
    assert report["relaxed"], "the simulated profile says what it relaxes"
    waves = [c["wave"] for c in report["components"]]
    starts = {c["name"]: c["startedAt"] for c in report["components"]}
    ends = {c["name"]: c["finishedAt"] for c in report["components"]}
    assert max(waves) >= 2
    assert starts["dex"] >= ends["istio"], "dependents start after their dependencies are ready"


def test_second_apply_sends_no_mutating_request(cluster: LiveCluster, full_platform: dict[str, Any]) -> None:
    mark = cluster.audit.mark()
    result = kfctl(cluster, "apply", "-f", str(full_platform["config"]), "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = report_of(result)
    assert report["status"] == "unchanged"
    assert report["writes"] == 0
    assert mutating_requests(cluster, mark) == []
    render = next(e for e in events_of(result) if e["event"] == "render")
    assert render["cache"] == {"hits": 25, "misses": 0}, "every component from the render cache"


def test_a_no_op_apply_runs_no_kustomize(
    cluster: LiveCluster, full_platform: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted by a kustomize that logs each run: the first apply through it renders (its cache key names
    the binary), the second runs it not even once, and writes nothing."""
    real = shutil.which("kustomize")
    assert real, "the cluster's PATH has kustomize"
    log = tmp_path / "runs.log"
    wrapper = tmp_path / "kustomize"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("KFCTL_KUSTOMIZE_BIN", str(wrapper))
    first = kfctl(cluster, "apply", "-f", str(full_platform["config"]), "-o", "json")
    assert first.returncode == 0, first.stderr[-2000:]
    runs = len(log.read_text().splitlines())
    assert runs == 1 + 25, "the version probe and one build per component"
    mark = cluster.audit.mark()
    second = kfctl(cluster, "apply", "-f", str(full_platform["config"]), "-o", "json")
    assert second.returncode == 0, second.stderr[-2000:]
    assert len(log.read_text().splitlines()) == runs, "no kustomize process"
    assert report_of(second)["status"] == "unchanged" and report_of(second)["writes"] == 0
    assert mutating_requests(cluster, mark) == []


def test_status_reports_every_component_healthy(cluster: LiveCluster, full_platform: dict[str, Any]) -> None:
    result = kfctl(cluster, "status", "-f", str(full_platform["config"]), "-o", "json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["healthy"] is True
    assert {c["name"] for c in status["components"]} >= {"istio", "pipelines", "kserve", "katib"}


def test_diff_is_empty_then_shows_a_change(cluster: LiveCluster, full_platform: dict[str, Any]) -> None:
    clean = kfctl(cluster, "diff", "-f", str(full_platform["config"]), "-o", "json")
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-2000:]
    assert json.loads(clean.stdout)["changed"] is False
    cluster.kubectl("scale", "deployment/training-operator", "-n", "kubeflow", "--replicas=3")
    drifted = kfctl(cluster, "diff", "-f", str(full_platform["config"]), "-o", "json")
    assert drifted.returncode == 1
    changes = json.loads(drifted.stdout)["changes"]
    assert [c["object"] for c in changes] == ["Deployment.apps kubeflow/training-operator"]
    assert "-  replicas: 3" in changes[0]["diff"] and "+  replicas: 1" in changes[0]["diff"]
    mark = cluster.audit.mark()
    again = kfctl(cluster, "apply", "-f", str(full_platform["config"]), "-o", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    writes = [w for w in mutating_requests(cluster, mark) if "/deployments/" in w]
    assert writes and all("training-operator" in w for w in writes), "only the drifted object is re-applied"


def test_removing_a_component_prunes_exactly_its_objects(
    cluster: LiveCluster, full_platform: dict[str, Any], upstream: Path
) -> None:
    before = cluster.get_json(
        "all,configmaps,serviceaccounts,roles,rolebindings", "-A", "-l", "kfctl.dev/component=volumes-web-app"
    )["items"]
    assert before
    others_before = len(cluster.get_json("deployments", "-A", "-l", "kfctl.dev/component")["items"])
    platform_components = [c["name"] for c in full_platform["report"]["components"]]
    config = write_config(
        full_platform["directory"] / "pruned", "kubeflow", [c for c in platform_components if c != "volumes-web-app"]
    )
    result = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = report_of(result)
    assert len(report["pruned"]) > 0
    assert all("volumes-web-app" in p or "volumes" in p for p in report["pruned"]), report["pruned"]
    after = cluster.get_json(
        "all,configmaps,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings",
        "-A",
        "-l",
        "kfctl.dev/component=volumes-web-app",
    )["items"]
    assert after == []
    others_after = len(cluster.get_json("deployments", "-A", "-l", "kfctl.dev/component")["items"])
    assert others_after == others_before - 1


def test_delete_leaves_only_the_data_it_keeps(cluster: LiveCluster, full_platform: dict[str, Any]) -> None:
    config = full_platform["directory"] / "pruned" / "kfctl.yaml"
    result = kfctl(cluster, "delete", "-f", str(config), "--yes", "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = report_of(result)
    kept_kinds = {entry["kind"] for entry in report["kept"]}
    assert kept_kinds <= {"PersistentVolumeClaim", "CustomResourceDefinition.apiextensions.k8s.io", "Namespace"}
    assert {entry["object"].split(" ")[0] for entry in report["keptObjects"]} == kept_kinds
    assert all("--purge deletes it" in entry["why"] for entry in report["kept"]), report["kept"]
    leftovers = cluster.get_json(
        "all,configmaps,secrets,serviceaccounts,roles,rolebindings,clusterroles,"
        "clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations",
        "-A",
        "-l",
        "kfctl.dev/component",
    )["items"]
    assert [f"{o['kind']} {o['metadata']['name']}" for o in leftovers] == []
    records = cluster.get_json("configmaps", "-A", "-l", "kfctl.dev/app=kubeflow")["items"]
    assert records == [], "release records go with the release"


def test_kubectl_can_prune_through_the_applyset_when_asked_to(
    cluster: LiveCluster, upstream: Path, tmp_path: Path
) -> None:
    """With settings.applysetTooling: kubectl, the set kfctl wrote is one `kubectl apply --prune --applyset` runs on."""
    config = write_config(tmp_path, "interop", ["kubeflow-namespace", "kubeflow-roles"])
    config.write_text(config.read_text() + "  settings: {applysetTooling: kubectl}\n")
    env_dir = {"KFCTL_MANIFESTS_DIR": str(upstream)}
    os.environ.update(env_dir)
    try:
        assert kfctl(cluster, "apply", "-f", str(config)).returncode == 0
        built = subprocess.run(
            ["kfctl", "build", "-f", str(config), "kubeflow-namespace"], capture_output=True, text=True, check=True
        ).stdout
        kept = tmp_path / "namespace-only.yaml"
        kept.write_text(built)
        result = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(cluster.kubeconfig_path),
                "apply",
                "--server-side",
                "--prune",
                "--applyset=configmap/kfctl-interop",
                "-n",
                "kfctl-system",
                "-f",
                str(kept),
                "--dry-run=server",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECTL_APPLYSET": "true"},
        )
        assert result.returncode == 0, result.stderr
        pruned = [line for line in result.stdout.splitlines() if "pruned" in line]
        assert len(pruned) == 6 and all("clusterrole" in line for line in pruned), result.stdout
    finally:
        kfctl(cluster, "delete", "-f", str(config), "--purge", "--yes")


def test_events_go_to_a_file_and_stdout_keeps_one_document(
    cluster: LiveCluster, upstream: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, "events", ["kubeflow-namespace", "kubeflow-roles"])
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    events_file = tmp_path / "events.jsonl"
    try:
        result = kfctl(cluster, "apply", "-f", str(config), "-o", "json", "--events", str(events_file))
        assert result.returncode == 0, result.stderr[-2000:]
        assert report_of(result)["status"] == "deployed"
        assert result.stderr.strip() == "", "with --events, progress goes to the file only"
        events = [json.loads(line) for line in events_file.read_text().splitlines()]
        kinds = [e["event"] for e in events]
        assert kinds[:2] == ["render", "preflight"] and "start" in kinds and kinds.count("component") == 2
        assert all(e["kind"] == "Event" and e["apiVersion"] == "kfctl.dev/v1alpha1" for e in events)
        plain = kfctl(cluster, "apply", "-f", str(config))
        assert plain.returncode == 0 and "unchanged" in plain.stdout
        assert "kubeflow-roles: unchanged" in plain.stderr, "people get plain progress lines on stderr"
    finally:
        kfctl(cluster, "delete", "-f", str(config), "--purge", "--yes")
