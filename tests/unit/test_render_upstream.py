"""Rendering the real Kubeflow manifests (../shared/upstream) with the real kustomize."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfctl.config.app import load_app_config
from kfctl.platform.catalog import load_platforms
from kfctl.platform.kinds import object_key
from kfctl.render.build import parse_objects, render_app
from kfctl.render.kustomize import find_kustomize
from kfctl.render.resolve import resolve_app
from kfctl.render.service import RenderOptions, build, generate

RELEASE_DIRS = {"kubeflow-1.10": "kubeflow-manifests-v1.10.2", "kubeflow-1.9": "kubeflow-manifests-v1.9.1"}


def write_config(directory: Path, platform: str, components: list[str] | None, profile: str = "generic") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    listed = "" if components is None else "  components: [" + ", ".join(components) + "]\n"
    path = directory / "kfctl.yaml"
    path.write_text(
        f"apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {{name: test}}\n"
        f"spec:\n  profile: {profile}\n  platform: {platform}\n{listed}"
    )
    return path


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    return {object_key(o): o for o in objects}


def every_component_sets(platform: str) -> list[list[str]]:
    """All components of a release, split so that conflicting ones are in different sets."""
    components = load_platforms()[platform].components
    first = [n for n in components if n != "pipelines-tekton"]
    return [first, ["pipelines-tekton"]]


@pytest.fixture(autouse=True)
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))
    return upstream


def test_default_components_equal_kustomize_build_of_the_release_example(tmp_path: Path, upstream: Path) -> None:
    """kfctl's per-component renders, together, are exactly what `kustomize build example` gives."""
    result = build(RenderOptions(write_config(tmp_path, "kubeflow-1.10", None)))
    kustomize = find_kustomize()
    example = parse_objects(kustomize.build(upstream / RELEASE_DIRS["kubeflow-1.10"] / "example"), "example")
    ours = by_key(result.objects)
    theirs = by_key(example)
    assert len(result.objects) == len(ours), "no object is rendered twice"
    assert set(ours) == set(theirs)
    different = [key for key in ours if ours[key] != theirs[key]]
    assert different == [], f"objects differ from the example: {different[:5]}"


@pytest.mark.parametrize("platform", sorted(RELEASE_DIRS))
def test_every_component_of_both_releases_renders(tmp_path: Path, platform: str) -> None:
    for index, components in enumerate(every_component_sets(platform)):
        result = build(RenderOptions(write_config(tmp_path / str(index), platform, components)))
        counts = result.summary()["perComponent"]
        assert set(counts) == set(components)
        empty = [name for name, count in counts.items() if count == 0]
        assert empty == [], f"components that rendered nothing: {empty}"


def test_pipelines_on_tekton_renders_tekton_and_kfp(tmp_path: Path) -> None:
    result = build(RenderOptions(write_config(tmp_path, "kubeflow-1.10", ["pipelines-tekton"])))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in result.objects}
    assert ("Deployment", "tekton-pipelines-controller") in kinds
    assert ("Deployment", "ml-pipeline") in kinds
    crds = [o for o in result.objects if o["kind"] == "CustomResourceDefinition"]
    assert any(o["metadata"]["name"] == "pipelineruns.tekton.dev" for o in crds)


@pytest.mark.parametrize("platform", sorted(RELEASE_DIRS))
def test_generated_app_dir_builds_with_plain_kustomize_to_what_kfctl_renders(tmp_path: Path, platform: str) -> None:
    """`kfctl generate` output, built by plain `kustomize build`, equals `kfctl build`, per component."""
    kustomize = find_kustomize()
    for index, components in enumerate(every_component_sets(platform)):
        config_path = write_config(tmp_path / str(index), platform, components)
        expected = build(RenderOptions(config_path))
        generated = generate(RenderOptions(config_path))
        for component in expected.rendered:
            directory = generated.app_dir / "components" / component.name
            text = subprocess.run(
                [*kustomize.command, str(directory)], capture_output=True, text=True, check=True
            ).stdout
            plain = parse_objects(text, component.name)
            assert by_key(plain) == by_key(component.objects), component.name
        vendored = generated.vendored
        assert all(path.is_relative_to(generated.app_dir) for path in vendored.values()), "self-contained"


def test_overrides_reach_the_rendered_objects(tmp_path: Path) -> None:
    config_path = tmp_path / "kfctl.yaml"
    config_path.write_text("""
apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {name: overrides}
spec:
  profile: generic
  platform: kubeflow-1.10
  components:
  - cert-manager
  - istio
  - kubeflow-namespace
  - kubeflow-roles
  - kubeflow-istio-resources
  - name: pipelines
    images: [{name: ghcr.io/kubeflow/kfp-api-server, newName: mirror.local/kfp-api-server, newTag: "9.9.9"}]
    replicas: {ml-pipeline-ui: 3}
    resources:
      ml-pipeline-ui: {container: ml-pipeline-ui, requests: {cpu: "2"}}
    parameters:
      pipeline-install-config: {bucketName: my-bucket}
  - name: training-operator
    overlay: volcano
""")
    result = build(RenderOptions(config_path))
    objects = {(o["kind"], o["metadata"]["name"]): o for o in result.objects}
    api = objects[("Deployment", "ml-pipeline")]["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == "mirror.local/kfp-api-server:9.9.9"
    ui = objects[("Deployment", "ml-pipeline-ui")]
    assert ui["spec"]["replicas"] == 3
    assert ui["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "2"
    assert ui["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"], "merged, not replaced"
    assert objects[("ConfigMap", "pipeline-install-config")]["data"]["bucketName"] == "my-bucket"
    operator = objects[("Deployment", "training-operator")]["spec"]["template"]["spec"]["containers"][0]
    assert operator["args"] == ["--gang-scheduler-name=volcano"]


def test_named_components_bring_their_dependencies(tmp_path: Path) -> None:
    config = load_app_config(write_config(tmp_path, "kubeflow-1.10", None))
    app = resolve_app(config, only=["kserve"])
    assert [c.name for c in app.components][-1] == "kserve"
    assert {c.name for c in app.components} == {
        "kserve",
        "cert-manager",
        "istio",
        "knative-serving",
        "kubeflow-namespace",
    }
    rendered = render_app(app, find_kustomize())
    assert all(c.objects for c in rendered)


def test_build_writes_one_numbered_file_per_component_in_wave_order(tmp_path: Path) -> None:
    config_path = write_config(tmp_path / "app", "kubeflow-1.10", ["cert-manager", "istio", "oauth2-proxy", "dex"])
    out = tmp_path / "out"
    result = subprocess.run(
        ["kfctl", "build", "-f", str(config_path), "-o", str(out)], capture_output=True, text=True, check=True
    )
    assert result.stdout == ""
    files = sorted(p.name for p in out.iterdir())
    assert files[-1] == "04-dex.yaml"
    assert files[:2] == ["01-cert-manager.yaml", "02-istio.yaml"]
    dex = list(yaml.safe_load_all((out / "04-dex.yaml").read_text()))
    assert dex[0]["kind"] == "Namespace", "inside a component, Namespaces come first"


def test_monitoring_servicemonitors_select_real_services_and_ports(tmp_path: Path) -> None:
    """The project's monitoring component: each ServiceMonitor matches Services of the release, by label and port."""
    result = build(RenderOptions(write_config(tmp_path, "kubeflow-1.10", None)))
    services = [o for o in result.objects if o["kind"] == "Service"]
    config = write_config(
        tmp_path / "monitoring",
        "kubeflow-1.10",
        ["cert-manager", "istio", "knative-serving", "kubeflow-namespace", "monitoring"],
    )
    monitors = [o for o in build(RenderOptions(config)).objects if o["kind"] == "ServiceMonitor"]
    assert len(monitors) >= 5

    def selected(selector: dict[str, Any], labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
            return False
        return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))

    for monitor in monitors:
        namespace = monitor["metadata"]["namespace"]
        matches = [
            s
            for s in services
            if s["metadata"].get("namespace") == namespace
            and selected(monitor["spec"]["selector"], s["metadata"].get("labels") or {})
        ]
        assert matches, f"{monitor['metadata']['name']} selects no Service"
        ports = {p.get("name") for s in matches for p in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports, f"{monitor['metadata']['name']}: no port {endpoint['port']}"
