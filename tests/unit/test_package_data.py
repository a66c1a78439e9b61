"""The data folders kfctl reads (catalogs, profiles, kustomize components): an empty or missing one is
bad input naming the folder and the fix, never an empty listing; a zipped install is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kfctl.config.profiles import profiles_dir
from kfctl.platform.catalog import catalog_dir, project_kustomize_dir


def kfctl(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def env_with(**overrides: str) -> dict[str, str]:
    return {**os.environ, **overrides}


def test_the_bundled_folders_are_in_the_package(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KFCTL_CATALOG_DIR", "KFCTL_PROFILES_DIR", "KFCTL_KUSTOMIZE_DIR"):
        monkeypatch.delenv(name, raising=False)
    data = repo_root / "kfctl" / "data"
    assert catalog_dir() == data / "catalogs"
    assert profiles_dir() == data / "profiles"
    assert project_kustomize_dir() == data / "kustomize"


def test_the_overrides_replace_the_bundled_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_CATALOG_DIR", str(tmp_path / "catalogs"))
    monkeypatch.setenv("KFCTL_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.setenv("KFCTL_KUSTOMIZE_DIR", str(tmp_path / "kustomize"))
    assert (catalog_dir(), profiles_dir(), project_kustomize_dir()) == (
        tmp_path / "catalogs",
        tmp_path / "profiles",
        tmp_path / "kustomize",
    )


@pytest.mark.parametrize("command", [("platforms", "list"), ("components", "list")])
def test_an_empty_catalog_is_bad_input(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = kfctl(*command, env=env_with(KFCTL_CATALOG_DIR=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", "no empty table"
    assert f"the catalog directory {tmp_path} holds no platform catalogs" in result.stderr
    assert "point KFCTL_CATALOG_DIR at a folder holding" in result.stderr


def test_a_catalog_of_component_sets_only_is_bad_input(repo_root: Path, tmp_path: Path) -> None:
    shared = repo_root / "kfctl" / "data" / "catalogs" / "kfctl-components.yaml"
    (tmp_path / shared.name).write_text(shared.read_text())
    result = kfctl("platforms", "list", env=env_with(KFCTL_CATALOG_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert result.stdout == "", "no empty table"
    assert f"{tmp_path} holds no platform catalogs (*.yaml of kind Platform)" in result.stderr


def test_a_missing_catalog_directory_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = kfctl("platforms", "list", env=env_with(KFCTL_CATALOG_DIR=str(missing)))
    assert result.returncode == 2
    assert f"the catalog directory {missing} does not exist" in result.stderr


@pytest.mark.parametrize("command", [("profiles", "list"), ("profiles", "show", "kind")])
def test_an_empty_profiles_directory_is_bad_input(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = kfctl(*command, env=env_with(KFCTL_PROFILES_DIR=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"the profiles directory {tmp_path} holds no cluster profiles (*.yaml)" in result.stderr
    assert "KFCTL_PROFILES_DIR" in result.stderr


def test_a_zipped_install_is_refused(repo_root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "kfctl.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (repo_root / "kfctl").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(repo_root))
    # The archive goes first on sys.path, ahead of the editable install, as a zipapp would put it.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import kfctl; assert kfctl.__file__.startswith(sys.argv[1]); "
        "sys.argv = ['kfctl', 'platforms', 'list']; from kfctl.cli.main import run; run()"
    )
    env = {key: value for key, value in os.environ.items() if key != "KFCTL_CATALOG_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(archive)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "kfctl's bundled catalogs are inside an archive" in result.stderr
    assert "install kfctl unzipped" in result.stderr
