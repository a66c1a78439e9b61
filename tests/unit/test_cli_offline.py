"""The offline commands end to end: init, build, generate, and the catalog listings as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


def kfctl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=os.environ.copy(),
    )


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


def test_init_writes_a_config_that_builds(tmp_path: Path) -> None:
    app_dir = tmp_path / "my-platform"
    result = kfctl("init", str(app_dir), "--profile", "kind", "--components", "cert-manager,istio,oauth2-proxy")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((app_dir / "kfctl.yaml").read_text())
    listed = json.loads(kfctl("platforms", "list", "-o", "json").stdout)["items"]
    newest_release = listed[-1]["name"]  # listed oldest first
    assert {p["name"] for p in listed} >= {"kubeflow-1.9", "kubeflow-1.10"}
    assert config["spec"] == {
        **config["spec"],
        "profile": "kind",
        "platform": newest_release,
        "components": ["cert-manager", "istio", "oauth2-proxy"],
    }
    again = kfctl("init", str(app_dir), "--profile", "kind")
    assert again.returncode == 2 and "already exists" in again.stderr, "init never overwrites silently"
    built = kfctl("build", "-f", str(app_dir / "kfctl.yaml"))
    assert built.returncode == 0, built.stderr
    objects = [o for o in yaml.safe_load_all(built.stdout) if o]
    oauth2 = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "oauth2-proxy"]
    assert oauth2, "the profile's oauth2-proxy overlay is rendered"
    assert objects[0]["kind"] == "Namespace" and objects[0]["metadata"]["name"] == "cert-manager", "wave order"


def test_init_rejects_unknown_names(tmp_path: Path) -> None:
    result = kfctl("init", str(tmp_path / "x"), "--profile", "kind", "--components", "istio,kubeflow-dashboard")
    assert result.returncode == 2
    assert "unknown component 'kubeflow-dashboard'" in result.stderr
    assert not (tmp_path / "x").exists(), "nothing written on bad input"


def test_generate_writes_components_and_order(tmp_path: Path) -> None:
    assert (
        kfctl(
            "init",
            str(tmp_path),
            "--profile",
            "generic",
            "--platform",
            "kubeflow-1.10",
            "--components",
            "cert-manager,istio,oauth2-proxy,dex",
        ).returncode
        == 0
    )
    result = kfctl("generate", "-f", str(tmp_path / "kfctl.yaml"), "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["components"] == ["cert-manager", "istio", "oauth2-proxy", "dex"]
    order = yaml.safe_load((tmp_path / "components" / "order.yaml").read_text())
    assert order["waves"] == [["cert-manager", "istio"], ["oauth2-proxy"], ["dex"]]
    assert (tmp_path / "upstream" / "kubeflow-manifests-v1.10.2" / "common").is_dir()


@pytest.mark.parametrize(
    "command",
    [
        ("platforms", "list"),
        ("profiles", "list"),
        ("components", "list", "--platform", "kubeflow-1.10"),
        ("profiles", "show", "gpu-onprem"),
    ],
)
def test_read_commands_speak_json(command: tuple[str, ...]) -> None:
    result = kfctl(*command, "-o", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["apiVersion"] == "kfctl.dev/v1alpha1"
    if command[0] == "platforms":
        assert {p["name"] for p in document["items"]} >= {"kubeflow-1.9", "kubeflow-1.10"}
    if command[0] == "components":
        names = {c["name"] for c in document["items"]}
        assert {
            "cert-manager",
            "istio",
            "pipelines",
            "pipelines-tekton",
            "kserve",
            "katib",
            "model-registry",
            "spark-operator",
            "monitoring",
        } <= names
    if command == ("profiles", "show", "gpu-onprem"):
        assert document["requirements"]["gpu"]["required"] is True
        assert set(document["requirements"]["cni"]) == {"calico", "cilium"}


def test_every_profile_loads() -> None:
    result = kfctl("profiles", "list", "-o", "json")
    names = {p["name"] for p in json.loads(result.stdout)["items"]}
    assert {"simulated", "kind", "gpu-onprem", "gke", "eks", "generic"} <= names
