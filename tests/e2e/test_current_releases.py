"""The releases people install today, whole, on the simulated cluster (Kubernetes 1.36): Kubeflow
v1.11.0 and 26.03, their remote resources taken from the mirror (one `mirrors:` entry), every
Deployment Available, `status` Healthy and `diff` clean after one `kfctl apply`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kfctl.deploy.record import applyset_id
from tests.cluster import LiveCluster
from tests.e2e.test_apply import available, kfctl, report_of


@pytest.mark.parametrize("platform", ["kubeflow-1.11", "kubeflow-26.03"])
def test_a_full_install_is_available_healthy_and_clean(
    cluster: LiveCluster, upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))
    app = "current-" + platform.removeprefix("kubeflow-").replace(".", "-")
    config = tmp_path / "kfctl.yaml"
    mirror = upstream / "mirror" / "github.com"
    config.write_text(
        f"apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {{name: {app}}}\n"
        f"spec:\n  profile: simulated\n  platform: {platform}\n"
        f"  mirrors: {{'https://github.com/': '{mirror}/'}}\n"
    )
    os.environ.pop("KFCTL_OFFLINE", None)
    try:
        result = kfctl(cluster, "apply", "-f", str(config), "-o", "json", "--timeout", "10m")
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
        report = report_of(result)
        assert report["status"] == "deployed"
        assert {c["status"] for c in report["components"]} == {"applied"}, report["components"]
        deployments = cluster.get_json("deployments", "-A", "-l", f"applyset.kubernetes.io/part-of={applyset_id(app)}")[
            "items"
        ]
        assert len(deployments) > 30
        assert [d["metadata"]["name"] for d in deployments if not available(d)] == []
        status = kfctl(cluster, "status", "-f", str(config), "-o", "json")
        assert status.returncode == 0, status.stdout[-2000:]
        assert json.loads(status.stdout)["healthy"] is True
        diff = kfctl(cluster, "diff", "-f", str(config), "-o", "json")
        assert diff.returncode == 0, diff.stdout[-3000:]
        assert json.loads(diff.stdout)["changed"] is False
        print(
            f"\n{platform}: {len(report['components'])} components, {report['requests']} requests, {report['seconds']}s"
        )
    finally:
        kfctl(cluster, "delete", "-f", str(config), "--purge", "--yes", timeout=1200)
