"""The render cache: a render with nothing changed runs no kustomize; any change to what determines a
component's output rebuilds it; damaged entries, --no-cache, the size bound and `kfctl cache clean`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kfctl.render.cache import entries, prune
from kfctl.render.service import RenderOptions, build

RELEASE = "kubeflow-manifests-v1.10.2"


def write_config(directory: Path, cert_manager: str = "cert-manager") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kfctl.yaml"
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: cached}\n"
        "spec:\n  profile: generic\n  platform: kubeflow-1.10\n"
        f"  components: [{cert_manager}, kubeflow-namespace, kubeflow-roles]\n"
    )
    return path


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kustomize that records every invocation (the version probe too) and runs the real one."""
    real = shutil.which("kustomize")
    assert real, "scripts/test puts the cluster's kustomize on PATH"
    log = tmp_path / "kustomize-runs.log"
    wrapper = tmp_path / "bin" / "kustomize"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("KFCTL_KUSTOMIZE_BIN", str(wrapper))
    monkeypatch.setenv("KFCTL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KFCTL_NO_CACHE", raising=False)
    return log


@pytest.fixture
def manifests(tmp_path: Path, upstream: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the release, so a test may edit it."""
    copy = tmp_path / "manifests" / RELEASE
    shutil.copytree(upstream / RELEASE, copy, symlinks=True)
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(copy.parent))
    return copy


def count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_second_render_with_nothing_changed_runs_no_kustomize(tmp_path: Path, runs: Path, manifests: Path) -> None:
    config = write_config(tmp_path / "app")
    first = build(RenderOptions(config))
    first_runs = count(runs)
    assert first_runs == 1 + 3  # the version probe and one build per component
    assert first.cache == {"hits": 0, "misses": 3}

    second = build(RenderOptions(config))
    assert count(runs) == first_runs, "no kustomize process at all: neither a build nor the version probe"
    assert second.cache == {"hits": 3, "misses": 0}
    assert second.text() == first.text()


def test_a_changed_source_file_or_override_rebuilds(tmp_path: Path, runs: Path, manifests: Path) -> None:
    config = write_config(tmp_path / "app")
    build(RenderOptions(config))
    namespace_file = manifests / "common" / "kubeflow-namespace" / "base" / "namespace.yaml"
    namespace_file.write_text(
        namespace_file.read_text().replace(
            "    control-plane: kubeflow", "    control-plane: kubeflow\n    edited: 'yes'"
        )
    )

    edited = build(RenderOptions(config))
    assert edited.cache is not None and edited.cache["misses"] == 3, "the release's tree changed: every component of it"
    namespace = next(o for o in edited.objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "kubeflow")
    assert namespace["metadata"]["labels"]["edited"] == "yes"

    overridden = write_config(tmp_path / "app", "{name: cert-manager, replicas: {cert-manager: 2}}")
    result = build(RenderOptions(overridden))
    assert result.cache == {"hits": 2, "misses": 1}, "only the component whose overrides changed"
    deployment = next(
        o for o in result.objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "cert-manager"
    )
    assert deployment["spec"]["replicas"] == 2


def test_no_cache_and_the_environment_switch_build_every_component(
    tmp_path: Path, runs: Path, manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "app")
    build(RenderOptions(config))
    before = count(runs)
    result = build(RenderOptions(config, use_cache=False))
    assert result.cache is None
    assert count(runs) == before + 3
    monkeypatch.setenv("KFCTL_NO_CACHE", "1")
    build(RenderOptions(config))
    assert count(runs) == before + 6


def test_a_damaged_entry_is_rebuilt_not_served(tmp_path: Path, runs: Path, manifests: Path) -> None:
    config = write_config(tmp_path / "app")
    first = build(RenderOptions(config))
    found = entries(tmp_path / "cache" / "render")
    assert len(found) == 3
    for path, _stat in found:
        path.write_text(path.read_text()[:-40])  # a write cut short
    again = build(RenderOptions(config))
    assert again.cache == {"hits": 0, "misses": 3}
    assert again.text() == first.text()


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path, runs: Path, manifests: Path) -> None:
    config = write_config(tmp_path / "app")
    with ThreadPoolExecutor(max_workers=3) as pool:
        texts = list(pool.map(lambda _: build(RenderOptions(config)).text(), range(3)))
    assert texts[0] == texts[1] == texts[2]
    assert build(RenderOptions(config)).cache == {"hits": 3, "misses": 0}
    assert not [p for p in (tmp_path / "cache" / "render").rglob(".*") if p.is_file()], "no temporary file left"


def test_prune_removes_least_recently_used_entries_first(tmp_path: Path) -> None:
    directory = tmp_path / "render"
    for index in range(5):
        path = directory / f"{index:02d}" / f"{index:02d}{'0' * 62}.yaml"
        path.parent.mkdir(parents=True)
        path.write_text("x" * 1000)
        os.utime(path, (1_000_000 + index, 1_000_000 + index))
    assert prune(directory, 2500) == 3
    left = sorted(path.parent.name for path, _stat in entries(directory))
    assert left == ["03", "04"]


def test_cache_clean_removes_the_renders(tmp_path: Path, runs: Path, manifests: Path) -> None:
    config = write_config(tmp_path / "app")
    build(RenderOptions(config))
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "kfctl", "cache", "clean", "-o", "json"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert '"renders": 3' in result.stdout
    assert entries(tmp_path / "cache" / "render") == []
    before = count(runs)
    build(RenderOptions(config))
    assert count(runs) == before + 3, "every component again (this process still knows the version)"


def test_parsed_objects_are_kept_beside_the_entries_and_equal_a_fresh_parse(
    tmp_path: Path, runs: Path, manifests: Path
) -> None:
    config = write_config(tmp_path / "app")
    first = build(RenderOptions(config))
    objects = first.objects  # parsed from kustomize's YAML
    first.remember_parsed()
    second = build(RenderOptions(config))
    assert [c.parsed_cached for c in second.rendered] == [True, True, True]
    assert second.objects == objects
    for sidecar in (tmp_path / "cache" / "render").glob("??/*.json"):
        sidecar.write_text(sidecar.read_text()[:-10])  # damaged: parsed from the YAML again
    third = build(RenderOptions(config))
    assert [c.parsed_cached for c in third.rendered] == [False, False, False]
    assert third.objects == objects
