"""What kfctl renders is valid Kubernetes: the real API server accepts every object.

Namespaces and CRDs are created for real (CRs need their CRD served, namespaced objects their
namespace); every other object goes through a server-side dry-run, so admission, schema
validation and defaulting all run. What the test created is removed after it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import LiveCluster

REPO = Path(__file__).resolve().parents[2]


def render(tmp_path: Path, upstream: Path, platform: str, components: list[str] | None) -> list[dict[str, Any]]:
    config = tmp_path / "kfctl.yaml"
    listed = "" if components is None else f"  components: [{', '.join(components)}]\n"
    config.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: e2e}\n"
        f"spec:\n  profile: generic\n  platform: {platform}\n{listed}"
    )
    result = subprocess.run(
        ["kfctl", "build", "-f", str(config), "--manifests-dir", str(upstream)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if o]


def existing(cluster: LiveCluster, resource: str) -> set[str]:
    return {item["metadata"]["name"] for item in cluster.get_json(resource)["items"]}


def apply(cluster: LiveCluster, objects: list[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
    stream = "\n---\n".join(json.dumps(o) for o in objects)
    return cluster.run_kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kfctl-e2e",
        *extra,
        "-f",
        "-",
        input=stream,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("platform", "components"),
    [("kubeflow-1.10", None), ("kubeflow-1.9", None), ("kubeflow-1.10", ["pipelines-tekton"])],
    ids=["kubeflow-1.10", "kubeflow-1.9", "pipelines-on-tekton"],
)
def test_full_render_is_accepted_by_the_api_server(
    cluster: LiveCluster, upstream: Path, tmp_path: Path, platform: str, components: list[str] | None
) -> None:
    objects = render(tmp_path, upstream, platform, components)
    definitions = [o for o in objects if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    rest = [o for o in objects if o["kind"] not in ("Namespace", "CustomResourceDefinition")]
    assert definitions and rest
    namespaces_before = existing(cluster, "namespaces")
    crds_before = existing(cluster, "customresourcedefinitions")
    created_namespaces = [
        o["metadata"]["name"]
        for o in definitions
        if o["kind"] == "Namespace" and o["metadata"]["name"] not in namespaces_before
    ]
    created_crds = [
        o["metadata"]["name"]
        for o in definitions
        if o["kind"] == "CustomResourceDefinition" and o["metadata"]["name"] not in crds_before
    ]
    try:
        created = apply(cluster, definitions)
        assert created.returncode == 0, created.stderr[-2000:]
        crds = [f"crd/{o['metadata']['name']}" for o in definitions if o["kind"] == "CustomResourceDefinition"]
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=120s", *crds)
        dry_run = apply(cluster, rest, "--dry-run=server")
        assert dry_run.returncode == 0, dry_run.stderr[-3000:]
        accepted = [line for line in dry_run.stdout.splitlines() if "(server dry run)" in line]
        assert len(accepted) == len(rest), "every object went through the server"
        deployment = next(o for o in rest if o["kind"] == "Deployment")
        probe = cluster.run_kubectl(
            "get", "deployment", deployment["metadata"]["name"], "-n", deployment["metadata"]["namespace"]
        )
        assert probe.returncode != 0 and "NotFound" in probe.stderr, "a dry-run writes nothing"
    finally:
        if created_crds:
            cluster.run_kubectl("delete", "crd", *created_crds, "--wait=true", timeout=300)
        if created_namespaces:
            cluster.run_kubectl("delete", "namespace", *created_namespaces, "--wait=true", timeout=300)
