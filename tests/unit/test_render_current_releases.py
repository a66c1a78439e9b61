"""The current releases (v1.11.0, 26.03) rendered offline: their remote resources come from the mirror in
../shared/upstream/mirror, through the config's `mirrors:` on kfctl's side and through a copy of the release
with every remote entry replaced by its mirror copy on the reference side (the README's recipe)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from kfctl.config.app import load_app_config
from kfctl.config.profiles import list_profiles
from kfctl.platform.catalog import Platform, load_platforms
from kfctl.render.kustomize import find_kustomize
from kfctl.render.resolve import resolve_app
from kfctl.render.service import BuildResult, RenderOptions, build

RELEASE_DIRS = {"kubeflow-1.11": "kubeflow-manifests-v1.11.0", "kubeflow-26.03": "kubeflow-manifests-26.03"}
# ../shared/upstream/README.md, measured with every remote entry pointed at its mirror copy:
# objects, CRDs, webhook configurations of `kustomize build example`.
README_COUNTS = {"kubeflow-1.11": (653, 70, 27), "kubeflow-26.03": (675, 74, 28)}
# The README's table of remote entries: 4 Argo Workflows folders, 2 JobSet release manifests, LeaderWorkerSet.
REMOTE_URLS_PER_RELEASE = 7
# Where a list entry of a kustomization is a URL (comments and scalars elsewhere are left alone).
REMOTE_ENTRY = re.compile(r"^(\s*-\s+)(https://\S+)", re.MULTILINE)

Identity = tuple[str, str, str, str]


def identity(obj: dict[str, Any]) -> Identity:
    metadata = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], metadata.get("namespace") or "", metadata["name"])


def counts(objects: list[dict[str, Any]]) -> tuple[int, int, int]:
    kinds = Counter(o["kind"] for o in objects)
    webhooks = kinds["MutatingWebhookConfiguration"] + kinds["ValidatingWebhookConfiguration"]
    return len(objects), kinds["CustomResourceDefinition"], webhooks


def mirror_copy(url: str, mirror: Path) -> Path:
    """Where the mirror holds a remote entry (upstream README): a git target `…/ORG/REPO[//]PATH?ref=REF`
    at `ORG/REPO@REF/PATH`, a plain file URL at its path."""
    parts = urlsplit(url)
    ref = parse_qs(parts.query).get("ref")
    path = parts.path.lstrip("/")
    if ref is None:
        return mirror / parts.netloc / path
    org, repo, rest = path.split("/", 2)
    return mirror / parts.netloc / org / f"{repo}@{ref[0]}" / rest.lstrip("/")


def mirrored_release(release: Path, mirror: Path, into: Path) -> tuple[Path, set[str]]:
    """A copy of the release with every remote entry replaced by the path of its mirror copy; returns
    the copy and the URLs replaced. A file is copied beside its kustomization (kustomize loads files
    only from inside the kustomization's folder), a folder is named by its relative path."""
    tree = into / release.name
    shutil.copytree(release, tree)
    replaced: set[str] = set()
    for kustomization in tree.rglob("kustomization.yaml"):
        text = kustomization.read_text(encoding="utf-8")

        def local(match: re.Match[str], kustomization: Path = kustomization) -> str:
            url = match.group(2)
            copy = mirror_copy(url, mirror)
            assert copy.exists(), f"{url} is not in the mirror at {copy}"
            replaced.add(url)
            if copy.is_file():
                shutil.copy(copy, kustomization.parent / copy.name)
                return match.group(1) + copy.name
            return match.group(1) + os.path.relpath(copy, kustomization.parent)

        rewritten = REMOTE_ENTRY.sub(local, text)
        if rewritten != text:
            kustomization.write_text(rewritten, encoding="utf-8")
    return tree, replaced


def write_config(
    directory: Path, platform: str, mirror: Path, overlays: dict[str, str] | None = None, *, profile: str = "generic"
) -> Path:
    """An app config whose one mirror entry covers every remote entry; `overlays`: the components to enable."""
    directory.mkdir(parents=True, exist_ok=True)
    listed = ""
    if overlays is not None:
        listed = "  components:\n" + "".join(f"  - {{name: {n}, overlay: {o}}}\n" for n, o in overlays.items())
    path = directory / "kfctl.yaml"
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: test}\n"
        f"spec:\n  profile: {profile}\n  platform: {platform}\n"
        f'  mirrors:\n    "https://github.com/": {mirror}/github.com/\n' + listed
    )
    return path


@pytest.fixture(autouse=True)
def manifests(upstream: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))
    # The mirrored copies of the release trees kfctl makes: one cache for the whole session.
    monkeypatch.setenv("KFCTL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kfctl-cache"))


@pytest.fixture(scope="module")
def mirror(upstream: Path) -> Path:
    return upstream / "mirror"


@pytest.fixture(scope="module")
def example(
    upstream: Path, mirror: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], list[dict[str, Any]]]:
    """`kustomize build example` of a release, every remote entry pointed at its mirror copy."""

    @cache
    def build_example(platform: str) -> list[dict[str, Any]]:
        tree, replaced = mirrored_release(upstream / RELEASE_DIRS[platform], mirror, tmp_path_factory.mktemp("ref"))
        assert len(replaced) == REMOTE_URLS_PER_RELEASE, sorted(replaced)
        # Parsed with PyYAML, not kfctl's reader: the reference side shares no code with the side under test.
        text = find_kustomize().build(tree / "example")
        return [obj for obj in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if obj]

    return build_example


@pytest.mark.parametrize("platform", sorted(RELEASE_DIRS))
def test_default_build_renders_the_example_with_remote_entries_from_the_mirror(
    tmp_path: Path, platform: str, mirror: Path, example: Callable[[str], list[dict[str, Any]]]
) -> None:
    result = build(RenderOptions(write_config(tmp_path, platform, mirror)))
    reference = example(platform)
    ours = {identity(o): o for o in result.objects}
    theirs = {identity(o): o for o in reference}
    print(f"{platform}: kfctl {counts(result.objects)}, example {counts(reference)} (objects, CRDs, webhooks)")
    assert len(ours) == len(result.objects), "no object is rendered twice"
    assert sorted(set(ours) - set(theirs)) == [], "objects kfctl renders and the example does not"
    assert sorted(set(theirs) - set(ours)) == [], "objects the example renders and kfctl does not"
    assert counts(result.objects) == counts(reference) == README_COUNTS[platform]
    assert "monitoring" not in result.summary()["perComponent"], "kfctl's own components are opt-in"
    assert_gates_are_rendered(result, load_platforms()[platform])
    # One object differs: in one `kustomize build example` the pvcviewer controller's `vars` reach every
    # object, so JobSet's CRD (whose release manifest carries cert-manager's placeholder) is told to take
    # pvcviewer's CA for its conversion webhook. Built on its own, as kfctl builds each component, the
    # placeholder stays and cert-manager leaves JobSet's own CA alone.
    different = [key for key in ours if ours[key] != theirs[key]]
    assert [key[3] for key in different] == ["jobsets.jobset.x-k8s.io"]
    annotation = "cert-manager.io/inject-ca-from"
    [key] = different
    assert theirs[key]["metadata"]["annotations"][annotation] == "kubeflow/pvcviewer-serving-cert"
    assert ours[key]["metadata"]["annotations"][annotation] == "$(CERTIFICATE_NAMESPACE)/$(CERTIFICATE_NAME)"
    for obj in (ours[key], theirs[key]):
        del obj["metadata"]["annotations"][annotation]
    assert ours[key] == theirs[key]


def overlay_sets(platform: Platform) -> list[tuple[dict[str, str], list[str]]]:
    """Every overlay of every component in few builds, none repeating the default build: the i-th set gives
    each component its i-th overlay (its default when it has fewer) and renders, with their dependencies,
    the components that have an i-th overlay; the first set renders those outside the default set."""
    components = platform.components
    most = max(len(c.overlays) for c in components.values())
    sets = []
    for index in range(most):
        overlays = {
            name: list(c.overlays)[index] if index < len(c.overlays) else c.default_overlay
            for name, c in components.items()
        }
        if index == 0:
            assert all(overlays[name] == c.default_overlay for name, c in components.items()), "defaults first"
            rendered = [name for name in components if name not in platform.default_components]
        else:
            rendered = [name for name, c in components.items() if index < len(c.overlays)]
        sets.append((overlays, rendered))
    return sets


def assert_gates_are_rendered(result: BuildResult, catalog: Platform) -> None:
    """A readiness gate names an object its component renders, whatever the overlay: a gate on an object
    that never comes would only ever time out."""
    for component in result.rendered:
        names = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in component.objects}
        for gate in catalog.components[component.name].readiness:
            assert (gate.kind, gate.namespace, gate.name) in names, f"{component.name}: gate on {gate}"


SETS = [(platform, index) for platform in sorted(RELEASE_DIRS) for index in range(4)]


@pytest.mark.parametrize(("platform", "index"), SETS)
def test_every_overlay_of_every_component_builds_with_the_mirror(
    tmp_path: Path, platform: str, index: int, mirror: Path
) -> None:
    catalog = load_platforms()[platform]
    sets = overlay_sets(catalog)
    assert len(sets) == 4, "SETS covers every overlay index"
    overlays, rendered = sets[index]
    result = build(RenderOptions(write_config(tmp_path, platform, mirror, overlays), components=rendered))
    per_component = result.summary()["perComponent"]
    assert set(rendered) <= set(per_component)
    empty = [name for name, count in per_component.items() if count == 0]
    assert empty == [], f"components that rendered nothing: {empty}"
    assert_gates_are_rendered(result, catalog)
    # kfctl's fast YAML reader (kfctl.render.yamlload) reads every overlay's objects as PyYAML does.
    pyyaml = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for component in result.rendered:
        assert component.objects == [yaml.load(d.text, Loader=pyyaml) for d in component.documents], component.name


@pytest.mark.parametrize("platform", ["kubeflow-1.9", "kubeflow-1.10", *sorted(RELEASE_DIRS)])
def test_every_profile_chooses_overlays_the_platform_has(tmp_path: Path, platform: str, mirror: Path) -> None:
    """A profile's overlay choice is by component name; on every platform it names an overlay that exists."""
    profiles = list_profiles()
    assert {"generic", "kind", "eks", "gke", "gpu-onprem", "simulated"} <= set(profiles)
    for name in profiles:
        config = load_app_config(write_config(tmp_path / name, platform, mirror, profile=name))
        app = resolve_app(config, check_remote=False)
        chosen = app.profile.component_overlays
        for component in app.components:
            assert component.overlay == chosen.get(component.name, component.definition.default_overlay)


def kfctl(*args: str) -> subprocess.CompletedProcess[str]:
    # Run from the checkout, so that this tree's kfctl (and its catalogs) answers.
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args], capture_output=True, text=True, timeout=120, cwd=root, check=False
    )


def test_platforms_list_shows_the_four_releases() -> None:
    table = kfctl("platforms", "list")
    assert table.returncode == 0, table.stderr
    for name, release in [
        ("kubeflow-1.9", "v1.9.1"),
        ("kubeflow-1.10", "v1.10.2"),
        ("kubeflow-1.11", "v1.11.0"),
        ("kubeflow-26.03", "26.03"),
    ]:
        assert re.search(rf"^{re.escape(name)}\s+{re.escape(release)}\s", table.stdout, re.MULTILINE), table.stdout
    listed = json.loads(kfctl("platforms", "list", "-o", "json").stdout)["items"]
    assert [p["name"] for p in listed] == ["kubeflow-1.9", "kubeflow-1.10", "kubeflow-1.11", "kubeflow-26.03"]
    ranges = {p["name"]: (p["kubernetes"]["min"], p["kubernetes"]["testedMax"]) for p in listed}
    assert ranges["kubeflow-1.11"] == ("1.33", "1.34")
    assert ranges["kubeflow-26.03"] == ("1.34", "1.35")
