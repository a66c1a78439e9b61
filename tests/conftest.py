"""Fixtures shared by every test."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO.parent / "shared" / "upstream"


def pytest_configure(config: pytest.Config) -> None:
    """`kfctl` in every test's subprocesses is this checkout's, whatever an editable install elsewhere
    (another clone's `pip install -e .`) points the installed command at."""
    shim_dir = Path(tempfile.mkdtemp(prefix="kfctl-test-bin-"))
    shim = shim_dir / "kfctl"
    path = f'PYTHONPATH="{REPO}${{PYTHONPATH:+:$PYTHONPATH}}"'
    shim.write_text(f'#!/bin/sh\n{path} exec "{sys.executable}" -m kfctl "$@"\n')
    shim.chmod(0o755)
    os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The real Kubeflow manifests (read-only test data beside the project)."""
    if not UPSTREAM.is_dir():
        pytest.fail(f"the upstream manifests are missing at {UPSTREAM}")
    return UPSTREAM
