"""Fixtures shared by every test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UPSTREAM = REPO.parent / "shared" / "upstream"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def upstream() -> Path:
    """The real Kubeflow manifests (read-only test data beside the project)."""
    if not UPSTREAM.is_dir():
        pytest.fail(f"the upstream manifests are missing at {UPSTREAM}")
    return UPSTREAM
