"""apply runs preflight first: a failing check stops it before any write; ignoring it lets it proceed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster import LiveCluster
from tests.e2e.test_apply import events_of, kfctl, report_of, write_config

MUTATING = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


def test_apply_as_a_user_without_permissions_refuses_to_start_and_writes_nothing(
    cluster: LiveCluster, tmp_path: Path
) -> None:
    assert cluster.user_kubeconfig_path is not None
    config = write_config(tmp_path, "no-rights", ["kubeflow-namespace", "kubeflow-roles", "training-operator"])
    mark = cluster.audit.mark()
    result = kfctl(cluster, "apply", "-f", str(config), kubeconfig=cluster.user_kubeconfig_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "preflight" in result.stderr and "permissions" in result.stderr
    writes = [
        e
        for e in cluster.audit.events(mark, settle=1.0)
        if (e.get("user") or {}).get("username") == "alice@company.com"
        and e.get("verb") in MUTATING
        and (e.get("objectRef") or {}).get("resource") not in ("selfsubjectaccessreviews", "selfsubjectreviews")
    ]
    assert writes == [], "nothing but access reviews was sent by the user"


def test_version_outside_the_profile_range_fails_then_ignoring_it_lets_apply_proceed(
    cluster: LiveCluster, tmp_path: Path
) -> None:
    profile = tmp_path / "old-clusters.yaml"
    profile.write_text("""apiVersion: kfctl.dev/v1alpha1
kind: ClusterProfile
metadata: {name: old-clusters}
spec:
  description: clusters of Kubernetes 1.27 to 1.29 only
  requirements:
    kubernetes: {min: "1.27", max: "1.29"}
  simulation:
    relax: [webhook-answers, certificate-issuance, endpoints, load-balancers]
""")
    config = write_config(tmp_path, "old-range", ["kubeflow-namespace", "kubeflow-roles"], profile=str(profile))
    refused = kfctl(cluster, "apply", "-f", str(config))
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "kubernetes-version" in refused.stderr
    assert "1.27" in refused.stderr and "1.29" in refused.stderr, "the message gives the supported range"
    assert cluster.run_kubectl("get", "configmap", "kfctl-old-range", "-n", "kfctl-system").returncode != 0
    try:
        accepted = kfctl(
            cluster, "apply", "-f", str(config), "--ignore-preflight-errors=kubernetes-version", "-o", "json"
        )
        assert accepted.returncode == 0, accepted.stderr[-2000:]
        assert report_of(accepted)["status"] == "deployed"
        events = [e for e in events_of(accepted) if e["event"] == "preflight"]
        assert events and "kubernetes-version" in json.dumps(events[0]), "the ignored failure is reported as a warning"
    finally:
        kfctl(cluster, "delete", "-f", str(config), "--purge", "--yes")


def test_an_override_that_matches_nothing_stops_apply_with_zero_writes(cluster: LiveCluster, tmp_path: Path) -> None:
    mistaken = {"name": "training-operator", "resources": {"training-operater": {"requests": {"cpu": "1"}}}}
    config = write_config(tmp_path, "mistaken", ["kubeflow-namespace", "kubeflow-roles", mistaken])
    mark = cluster.audit.mark()
    result = kfctl(cluster, "apply", "-f", str(config))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "kfctl.yaml:" in lines[0] and "closest first: training-operator" in lines[0], lines
    writes = [
        e
        for e in cluster.audit.events(mark, settle=1.0)
        if e.get("verb") in MUTATING and (e.get("user") or {}).get("username") == "kfctl-admin"
    ]
    assert writes == []
