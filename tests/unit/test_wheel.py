"""The built wheel, installed into a clean venv with no checkout beside it, knows the same platforms,
profiles and components and renders the same objects as the editable install.

The wheel is built once per module, without build isolation (no network), from a copy of the
sources: building in the checkout would write build/ and *.egg-info there, shared with concurrent
runs, and a stale build/lib can carry files the tree no longer has into the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# Environment variables that would point either install at data other than its own.
DATA_OVERRIDES = ("KFCTL_CATALOG_DIR", "KFCTL_PROFILES_DIR", "KFCTL_KUSTOMIZE_DIR", "PYTHONPATH")
KUSTOMIZE_BIN_DIR = Path.home() / ".cache" / "kfctl" / "bin" / "current"
# Two project components: `monitoring` is a whole component of kfctl/data/kustomize, the training
# operator's `volcano` overlay adds one of its kustomize Components (`kfctl:` path) to upstream paths.
CONFIG = """\
apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {name: wheel-check}
spec:
  profile: generic
  platform: kubeflow-1.10
  components:
  - kubeflow-namespace
  - kubeflow-roles
  - cert-manager
  - istio
  - knative-serving
  - monitoring
  - {name: training-operator, overlay: volcano}
"""

# Where the venv's interpreter finds kfctl and the data it reads.
PROBE = """\
import kfctl
from kfctl.config.profiles import profiles_dir
from kfctl.platform.catalog import catalog_dir, project_kustomize_dir

print(kfctl.__file__, catalog_dir(), profiles_dir(), project_kustomize_dir(), sep="\\n")
"""


@dataclass(frozen=True)
class WheelInstall:
    venv: Path
    site_packages: Path
    workdir: Path  # an empty cwd: nothing of the checkout is reachable from it

    @property
    def kfctl(self) -> Path:
        return self.venv / "bin" / "kfctl"


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def clean_env(upstream: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DATA_OVERRIDES}
    env["KFCTL_MANIFESTS_DIR"] = str(upstream)
    if KUSTOMIZE_BIN_DIR.is_dir():  # the kustomize the manifests are tested with, as scripts/test has it
        env["PATH"] = os.pathsep.join((str(KUSTOMIZE_BIN_DIR), env.get("PATH", "")))
    return env


@pytest.fixture(scope="module")
def wheel_install(repo_root: Path, upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> WheelInstall:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo_root / name, source / name)
    shutil.copytree(repo_root / "kfctl", source / "kfctl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(base / "dist")], cwd=source
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = (base / "dist").glob("kfctl-*.whl")

    venv = base / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    assert created.returncode == 0, created.stderr
    installed = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=base,
    )
    assert installed.returncode == 0, installed.stderr
    (site_packages,) = (venv / "lib").glob("python3.*/site-packages")
    # The dependencies come from this interpreter's site-packages, added as plain path lines: Python
    # does not process the .pth files of a directory named that way, so the editable install's finder
    # there (which maps `kfctl` to the checkout) stays inactive.
    dependency_dirs = [*site.getsitepackages(), site.getusersitepackages()]
    (site_packages / "test-dependencies.pth").write_text("".join(f"{path}\n" for path in dependency_dirs))
    workdir = base / "work"
    workdir.mkdir()
    install = WheelInstall(venv, site_packages, workdir)
    # Guarded here rather than in one test: with the checkout leaking in, every comparison would pass.
    probe = run([str(venv / "bin" / "python"), "-c", PROBE], cwd=workdir, env=clean_env(upstream))
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.splitlines():
        assert Path(line).is_relative_to(site_packages), f"{line} is not the wheel's: {probe.stdout}"
    return install


def installed_kfctl(install: WheelInstall, upstream: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(install.kfctl), *args], cwd=install.workdir, env=clean_env(upstream))


def editable_kfctl(repo_root: Path, upstream: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "kfctl", *args], cwd=repo_root, env=clean_env(upstream))


def test_the_wheel_carries_every_data_file(wheel_install: WheelInstall, repo_root: Path) -> None:
    def data_files(root: Path) -> set[str]:
        return {
            str(path.relative_to(root))
            for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py"
        }

    in_checkout = data_files(repo_root / "kfctl" / "data")
    assert {"catalogs/kubeflow-1.10.yaml", "profiles/generic.yaml", "kustomize/monitoring/kustomization.yaml"} <= (
        in_checkout
    )
    assert data_files(wheel_install.site_packages / "kfctl" / "data") == in_checkout


@pytest.mark.parametrize(
    "command",
    [
        ("platforms", "list"),
        ("profiles", "list"),
        ("profiles", "show", "gpu-onprem"),
        ("components", "list", "--platform", "kubeflow-1.10"),
        ("components", "list", "--platform", "kubeflow-1.9"),
    ],
)
def test_the_wheel_lists_what_the_checkout_lists(
    wheel_install: WheelInstall, repo_root: Path, upstream: Path, command: tuple[str, ...]
) -> None:
    from_wheel = installed_kfctl(wheel_install, upstream, *command, "-o", "json")
    from_checkout = editable_kfctl(repo_root, upstream, *command, "-o", "json")
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert from_checkout.returncode == 0, from_checkout.stderr
    document = json.loads(from_wheel.stdout)
    assert document.get("items", [document]), "an empty listing would compare equal too"
    assert document == json.loads(from_checkout.stdout)


def test_the_wheel_renders_what_the_checkout_renders(
    wheel_install: WheelInstall, repo_root: Path, upstream: Path, tmp_path: Path
) -> None:
    config = tmp_path / "kfctl.yaml"
    config.write_text(CONFIG)
    with ThreadPoolExecutor(2) as pool:  # two independent renders of a few seconds each
        wheel_build = pool.submit(installed_kfctl, wheel_install, upstream, "build", "-f", str(config))
        checkout_build = pool.submit(editable_kfctl, repo_root, upstream, "build", "-f", str(config))
        from_wheel, from_checkout = wheel_build.result(), checkout_build.result()
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert from_checkout.returncode == 0, from_checkout.stderr
    assert from_wheel.stdout == from_checkout.stdout, "the same objects, in the same order"
    objects = [document for document in yaml.load_all(from_wheel.stdout, Loader=yaml.CSafeLoader) if document]
    kinds = {document["kind"] for document in objects}
    assert "ServiceMonitor" in kinds, "the monitoring component comes from the wheel's kustomize folder"
    volcano = [
        document
        for document in objects
        if document["kind"] == "Deployment" and "volcano" in json.dumps(document["spec"]["template"]["spec"])
    ]
    assert volcano, "the training operator's volcano overlay comes from the wheel's kustomize folder"
