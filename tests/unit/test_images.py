"""`kfctl images` against the real manifests: the listing equals what this test finds in the
`kfctl build` output on its own, and `--registry` overrides, merged into the config, leave no image
outside the new registry."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REGISTRY = "registry.internal:5000/mirror"
PLATFORMS = ["kubeflow-26.03", "kubeflow-1.10"]

# The test's own reading of an image reference: [host[:port]/]path[:tag][@digest], lowercase path.
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"(?:(?P<host>[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+(?::[0-9]+)?|[A-Za-z0-9.-]+:[0-9]+|localhost)/)?"
    rf"(?P<path>{_PATH}(?:/{_PATH})*)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}))?(?:@(?P<digest>sha256:[0-9a-f]{{64}}))?"
)
Use = tuple[str, str, str, str, str]  # image, component, kind, namespace, name


def kfctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args], capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )


def write_config(path: Path, platform: str, upstream: Path, components: list[Any] | None = None) -> Path:
    spec: dict[str, Any] = {"profile": "generic", "platform": platform}
    if platform != "kubeflow-1.10":  # the newer releases fetch remote resources: point them at the copies
        spec["mirrors"] = {"https://github.com/": f"{upstream / 'mirror' / 'github.com'}/"}
    if components is not None:
        spec["components"] = components
    config = {"apiVersion": "kfctl.dev/v1alpha1", "kind": "AppConfig", "metadata": {"name": "images"}, "spec": spec}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- the independent scan -----------------------------------------------------------------------


def parse(text: str) -> dict[str, str] | None:
    match = REFERENCE.fullmatch(text)
    return {k: v or "" for k, v in match.groupdict().items()} if match else None


def unmistakable(text: str) -> bool:
    """Outside a container's own image field a string counts only with a slash, a tag or a digest."""
    parts = parse(text)
    return parts is not None and bool(parts["host"] or "/" in parts["path"] or parts["tag"] or parts["digest"])


def scan_object(obj: dict[str, Any]) -> Iterator[str]:
    """Images of a non-ConfigMap object: containers (and their env and flags), CR fields named image."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, list):
            for item in node:
                yield from walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers", "ephemeralContainers") and isinstance(value, list):
                    for container in value:
                        yield from scan_container(container)
                elif key == "image" and isinstance(value, str) and unmistakable(value):
                    yield value
                else:
                    yield from walk(value)

    yield from walk({k: v for k, v in obj.items() if k not in ("metadata", "status")})


def scan_container(container: dict[str, Any]) -> Iterator[str]:
    if parse(str(container.get("image", ""))):
        yield container["image"]
    for variable in container.get("env") or []:
        value = variable.get("value")
        if not isinstance(value, str):
            continue
        parts = parse(value)
        named = variable["name"].endswith("IMAGE") and unmistakable(value)
        if named or (parts and parts["host"] and (parts["tag"] or parts["digest"])):
            yield value
    for key in ("command", "args"):
        items = [str(item) for item in container.get(key) or []]
        for index, item in enumerate(items):
            flag, equals, value = item.partition("=")
            if not (item.startswith("-") and flag.replace("-", "").replace("_", "").lower().endswith("image")):
                continue
            if equals and unmistakable(value):
                yield value
            elif not equals and index + 1 < len(items) and unmistakable(items[index + 1]):
                yield items[index + 1]


def scan_config_map(obj: dict[str, Any]) -> Iterator[str]:
    for key, value in (obj.get("data") or {}).items():
        if key.startswith("_example") or not isinstance(value, str):
            continue  # Knative's and KServe's _example keys are documentation
        if "image" in key.lower() and unmistakable(value.strip()):
            yield value.strip()
            continue
        if "\n" not in value and not value.lstrip().startswith(("{", "[")):
            continue
        try:
            document = json.loads(value)
        except ValueError:
            try:
                document = yaml.safe_load(value)
            except yaml.YAMLError:
                continue  # a Go template (Istio's injection template)
        yield from scan_embedded(document)


def scan_embedded(document: Any) -> Iterator[str]:
    """Strings under image keys; in Istio's values an image without a slash is HUB/IMAGE:TAG."""
    settings = document.get("global") if isinstance(document, dict) else None
    hub, tag = (settings.get("hub"), settings.get("tag")) if isinstance(settings, dict) else (None, None)

    def walk(node: Any, under_image: bool) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if hub and key == "image" and isinstance(value, str) and "/" not in value:
                    yield f"{node.get('hub') or hub}/{value}:{node.get('tag') or tag}"
                else:
                    lowered = str(key).lower()
                    yield from walk(value, under_image or ("image" in lowered and "pull" not in lowered))
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, under_image)
        elif isinstance(node, str) and under_image and unmistakable(node):
            yield node

    yield from walk(document, False)


def scan_build_dir(directory: Path) -> Counter[Use]:
    """Every image use in `kfctl build -o DIR` output (NN-COMPONENT.yaml files), by this test's rules."""
    uses: Counter[Use] = Counter()
    for path in sorted(directory.glob("*.yaml")):
        component = path.stem.split("-", 1)[1]
        for obj in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not obj or obj["kind"] in ("Secret", "CustomResourceDefinition"):
                continue
            found = scan_config_map(obj) if obj["kind"] == "ConfigMap" else scan_object(obj)
            metadata = obj["metadata"]
            for image in found:
                uses[(image, component, obj["kind"], metadata.get("namespace", ""), metadata["name"])] += 1
    return uses


def listed_uses(listing: dict[str, Any]) -> Counter[Use]:
    return Counter(
        (entry["image"], use["component"], use["kind"], use["namespace"], use["name"])
        for entry in listing["images"]
        for use in entry["uses"]
    )


def moved(image: str) -> str:
    """The README's rule: the path after the registry host kept; Docker Hub's short names under library/."""
    parts = parse(image)
    assert parts is not None, image
    docker_hub = parts["host"] in ("", "docker.io", "index.docker.io")
    path = f"library/{parts['path']}" if docker_hub and "/" not in parts["path"] else parts["path"]
    return (
        f"{REGISTRY}/{path}"
        + (f":{parts['tag']}" if parts["tag"] else "")
        + (f"@{parts['digest']}" if parts["digest"] else "")
    )


def same(identity: list[str]) -> tuple[str, ...]:
    """A ConfigMap whose data changed has a new generator hash suffix: compare without it."""
    component, kind, namespace, name = identity
    if kind == "ConfigMap":
        name = re.sub(r"-[a-z0-9]{10}$", "", name)
    return (component, kind, namespace, name)


# --- rendering once per release -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def manifests(upstream: Path) -> Iterator[None]:
    saved = os.environ.get("KFCTL_MANIFESTS_DIR")
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    yield
    if saved is None:
        del os.environ["KFCTL_MANIFESTS_DIR"]
    else:
        os.environ["KFCTL_MANIFESTS_DIR"] = saved


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


def built(config: Path, out: Path) -> Counter[Use]:
    result = kfctl("build", "-f", str(config), "-o", str(out))
    assert result.returncode == 0, result.stderr
    return scan_build_dir(out)


def listing_of(config: Path) -> dict[str, Any]:
    result = kfctl("images", "-f", str(config), "-o", "json")
    assert result.returncode == 0, result.stderr
    listing: dict[str, Any] = json.loads(result.stdout)
    return listing


@pytest.fixture(scope="module", params=PLATFORMS)
def release(request: pytest.FixtureRequest, workdir: Path, upstream: Path) -> dict[str, Any]:
    platform = request.param
    config = write_config(workdir / platform / "kfctl.yaml", platform, upstream)
    return {
        "platform": platform,
        "config": config,
        "listing": listing_of(config),
        "scanned": built(config, workdir / platform / "build"),
    }


# --- the tests ----------------------------------------------------------------------------------


def test_images_equal_the_independent_scan_of_the_build_output(release: dict[str, Any]) -> None:
    listing, scanned = release["listing"], release["scanned"]
    assert listing["kind"] == "ImageList" and listing["schemaVersion"]
    assert listed_uses(listing) == scanned
    images = [entry["image"] for entry in listing["images"]]
    assert images == sorted(set(images)), "sorted, one entry per image"
    print(f"{release['platform']}: {len(images)} images, {sum(scanned.values())} uses")


def test_images_kubeflow_configures_outside_container_fields_are_listed(release: dict[str, Any]) -> None:
    """Spot checks the scan above could share a blind spot on, read off the release's manifests."""
    by_image = {entry["image"]: entry["uses"] for entry in release["listing"]["images"]}
    sources = {(use["kind"], use["name"], use["source"]) for uses in by_image.values() for use in uses}
    newer = release["platform"] != "kubeflow-1.10"
    expected = {
        # Pipelines' driver and launcher (env), Argo's executor (a flag), KServe's agent (JSON in a ConfigMap)
        ("ghcr.io/kubeflow/kfp-driver:" + ("2.16.0" if newer else "2.5.0")),
        ("quay.io/argoproj/argoexec:" + ("v3.7.3" if newer else "v3.5.14")),
        ("kserve/agent:" + ("v0.16.0" if newer else "v0.15.0")),
        # Katib's suggestion images and the Jupyter spawner's image options (YAML in ConfigMaps)
        ("ghcr.io/kubeflow/katib/suggestion-hyperopt:" + ("v0.19.0" if newer else "v0.18.0")),
        "ghcr.io/kubeflow/kubeflow/notebook-servers/codeserver-python:v1.10.0",
        # the sidecar Istio injects: global.hub + proxyv2 + global.tag of the injector's values
        "gcr.io/istio-release/proxyv2:" + ("1.29.0" if newer else "1.26.1"),
    }
    assert expected <= set(by_image)
    assert ("Image", "queue-proxy", "field") in sources, "Knative's caching Image spec.image"
    assert not {"true", "auto", "proxyv2", "pilot"} & set(by_image), "no bare words taken for images"


def test_registry_overrides_leave_no_image_outside_the_registry(
    release: dict[str, Any], workdir: Path, upstream: Path
) -> None:
    platform, upstream_config = release["platform"], release["config"]
    json_mode = platform == "kubeflow-1.10"  # one release through each output form
    args = ["images", "-f", str(upstream_config), "--registry", f"{REGISTRY}/", *(["-o", "json"] if json_mode else [])]
    result = kfctl(*args)
    assert result.returncode == 0, result.stderr
    if json_mode:
        document = json.loads(result.stdout)
        assert document["kind"] == "ImageOverrides" and document["registry"] == REGISTRY
        components = document["components"]
    else:
        components = yaml.safe_load(result.stdout)["components"]
    # Merged into a config without spec.components (the release's defaults): the list, pasted whole.
    config = write_config(workdir / platform / "moved" / "kfctl.yaml", platform, upstream, components)
    after = built(config, workdir / platform / "moved" / "build")
    before = release["scanned"]
    outside = sorted({use[0] for use in after if not use[0].startswith(f"{REGISTRY}/")})
    assert outside == [], "every image the independent scan finds is in the registry"
    expected = {(moved(image), *same(rest)) for (image, *rest) in before}
    assert expected == {(image, *same(rest)) for (image, *rest) in after}, "each use moved by the rule, none lost"
    relisted = listing_of(config)
    assert all(entry["image"].startswith(f"{REGISTRY}/") for entry in relisted["images"])
    assert relisted["count"] == release["listing"]["count"]


@pytest.mark.parametrize(
    ("registry", "problem"),
    [
        ("https://registry.internal/mirror", "no scheme"),
        ("mirror", "no registry host"),
        ("registry.internal/Mirror", "lowercase"),
        ("registry.internal/mirror:v1", "no tag"),
    ],
)
def test_a_bad_registry_is_one_line_and_exit_2_before_rendering(
    tmp_path: Path, upstream: Path, registry: str, problem: str
) -> None:
    config = write_config(tmp_path / "kfctl.yaml", "kubeflow-1.10", upstream)
    result = kfctl("images", "-f", str(config), "--registry", registry)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--registry {registry!r}" in lines[0] and problem in lines[0], result.stderr
