"""Fail fast and say why: an unreachable cluster is exit 3 before anything is rendered; a 401 or 403
names the kubeconfig context and user, never their credentials; with -o json the error is a document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster import LiveCluster
from tests.e2e.test_apply import write_config

TOKEN = "s3cr3t-token-do-not-print"


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


def kubeconfig(tmp_path: Path, cluster: LiveCluster, *, server: str | None = None, token: bool = False) -> Path:
    """A kubeconfig of the test's own: the cluster's CA, a context named ci-context, and either the
    admin's certificate or a bearer token the server does not know."""
    admin = json.loads(cluster.kubeconfig_path.read_text())
    cluster_entry = admin["clusters"][0]["cluster"]
    if server:
        cluster_entry = {**cluster_entry, "server": server}
    user = {"token": TOKEN} if token else admin["users"][0]["user"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sim", "cluster": cluster_entry}],
        "users": [{"name": "intruder" if token else "admin", "user": user}],
        "contexts": [{"name": "ci-context", "context": {"cluster": "sim", "user": "intruder" if token else "admin"}}],
        "current-context": "ci-context",
    }
    path = tmp_path / "kubeconfig.json"
    path.write_text(json.dumps(config))
    return path


def kfctl(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kfctl", "--kubeconfig", str(config), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_an_unreachable_cluster_fails_with_exit_3_before_rendering(cluster: LiveCluster, tmp_path: Path) -> None:
    marker = tmp_path / "kustomize-ran"
    wrapper = tmp_path / "kustomize-wrapper"
    real = shutil.which("kustomize")
    assert real, "the tests run with kustomize on PATH (scripts/test)"
    wrapper.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    config = write_config(tmp_path, "unreachable", ["kubeflow-namespace", "kubeflow-roles"])
    env = {"KFCTL_KUSTOMIZE_BIN": str(wrapper)}
    closed = kubeconfig(tmp_path, cluster, server="https://127.0.0.1:1")
    result = kfctl(closed, "apply", "-f", str(config), "-o", "json", env=env)
    assert result.returncode == 3, result.stderr[-2000:]
    assert "cannot reach the API server at https://127.0.0.1:1" in result.stderr
    assert json.loads(result.stdout)["reason"] == "ClusterUnreachableError"
    assert not marker.exists(), "nothing was rendered for a cluster that cannot be reached"
    for command in ("diff", "preflight"):
        assert kfctl(closed, command, "-f", str(config), env=env).returncode == 3
    assert not marker.exists()
    # The same command against the reachable cluster renders (the wrapper is the kustomize in use).
    reachable = kubeconfig(tmp_path, cluster)
    assert kfctl(reachable, "diff", "-f", str(config), env=env).returncode in (0, 1)
    assert marker.exists()


def test_refused_credentials_name_the_context_and_user_never_the_token(cluster: LiveCluster, tmp_path: Path) -> None:
    bad = kubeconfig(tmp_path, cluster, token=True)
    result = kfctl(bad, "status", "--app", "anything", "-o", "json")
    assert result.returncode == 3, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["reason"] == "Unauthorized" and document["exitCode"] == 3
    assert "as user intruder in context ci-context" in document["message"]
    assert "credentials were refused" in document["hint"]
    assert TOKEN not in result.stdout + result.stderr


def test_a_forbidden_request_names_the_user_and_what_to_check(cluster: LiveCluster) -> None:
    assert cluster.user_kubeconfig_path is not None
    result = kfctl(cluster.user_kubeconfig_path, "status", "--app", "anything")
    assert result.returncode == 1, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: list configmaps: ") and "forbidden" in line
    assert "(as user alice@company.com in context kfctl)" in line
    assert "kubectl auth can-i" in line
