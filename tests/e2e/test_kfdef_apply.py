"""Legacy kfctl v1 KfDef files install on the real API server: read directly, and as the kfctl.yaml
that `kfctl init --from-kfdef` writes for them (the same objects, so its apply changes nothing)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import LiveCluster

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kfdef"
PART_OF = "applyset.kubernetes.io/part-of"
# Well under the test's own timeout: a component that never gets ready fails the apply with its reason.
APPLY_TIMEOUT = "4m"


def kfctl(cluster: LiveCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kfctl", "--kubeconfig", str(cluster.kubeconfig_path), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ.copy(),
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON document `-o json` puts on stdout."""
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def volumes_of(cluster: LiveCluster, app: str) -> set[str]:
    """The PersistentVolumes bound to the app's claims (found through its ApplySet parent's id)."""
    parent = cluster.run_kubectl("get", "configmap", f"kfctl-{app}", "-n", "kfctl-system", "-o", "json")
    if parent.returncode != 0:
        return set()
    applyset = json.loads(parent.stdout)["metadata"]["labels"]["applyset.kubernetes.io/id"]
    claims = cluster.get_json("persistentvolumeclaims", "-A", "-l", f"{PART_OF}={applyset}")["items"]
    return {c["spec"]["volumeName"] for c in claims if c["spec"].get("volumeName")}


def delete_and_wait(cluster: LiveCluster, kfdef: Path, app: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Delete the app with its data, and wait until its volumes are gone: the next test creates claims
    of the same names, which must not meet a volume still being released. Never raises (it runs in a
    `finally`, where it must not hide the test's own failure)."""
    try:
        volumes = volumes_of(cluster, app)
    except AssertionError:
        volumes = set()
    deleted = kfctl(cluster, "delete", "-f", str(kfdef), "--purge", "--yes")
    try:
        cluster.wait_until(
            f"the volumes of {app} are deleted",
            lambda: not volumes & {v["metadata"]["name"] for v in cluster.get_json("persistentvolumes")["items"]},
            timeout=120,
        )
    except AssertionError:
        return deleted, False
    return deleted, True


def simulated_copy(fixture: Path, directory: Path, name: str) -> Path:
    """The fixture under an app name of this test's own, for the simulated profile (kwok runs no pod)."""
    raw = yaml.safe_load(fixture.read_text())
    raw["metadata"]["name"] = name
    raw["metadata"].setdefault("annotations", {})["kfctl.dev/profile"] = "simulated"
    path = directory / fixture.name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("fixture", "app", "added", "added_object"),
    [
        # v1.2: the bundle's central dashboard needs oauth2-proxy in Kubeflow 1.10.
        ("kfctl_k8s_istio.v1.2.0.yaml", "kfdef-v12", "oauth2-proxy", ("deployment", "oauth2-proxy", "oauth2-proxy")),
        # v1.0: no application created the kubeflow namespace, which most components need.
        ("kfctl_istio_dex.v1.0.2.yaml", "kfdef-v10", "kubeflow-namespace", ("namespace", "kubeflow", None)),
    ],
)
def test_kfdef_applies_directly_and_the_kfctl_yaml_init_writes_changes_nothing(
    cluster: LiveCluster,
    upstream: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fixture: str,
    app: str,
    added: str,
    added_object: tuple[str, str, str | None],
) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))
    kfdef = simulated_copy(FIXTURES / fixture, tmp_path, app)
    init = kfctl(cluster, "init", str(tmp_path / "app"), "--from-kfdef", str(kfdef), "--profile", "simulated")
    assert init.returncode == 0, init.stderr
    converted = tmp_path / "app" / "kfctl.yaml"
    try:
        applied = kfctl(cluster, "apply", "-f", str(kfdef), "--timeout", APPLY_TIMEOUT, "-o", "json")
        report = report_of(applied)
        assert report["status"] == "deployed"
        statuses = {c["name"]: c["status"] for c in report["components"]}
        assert statuses[added] == "applied", "the component added as a dependency is installed"
        assert set(statuses.values()) == {"applied"}, statuses

        kind, name, namespace = added_object
        live = cluster.get_json(kind, name, *(["-n", namespace] if namespace else []))
        assert PART_OF in live["metadata"]["labels"], "the added component's objects belong to the app"

        # The same app from the written kfctl.yaml: the same objects, so nothing to write.
        again = report_of(kfctl(cluster, "apply", "-f", str(converted), "--timeout", APPLY_TIMEOUT, "-o", "json"))
        assert again["status"] == "unchanged", again
        assert again["writes"] == 0
    finally:
        deleted, released = delete_and_wait(cluster, kfdef, app)
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert released, f"the volumes of {app} are still there 120 s after delete --purge"
