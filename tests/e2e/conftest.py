"""e2e fixtures: the real API server. A test that cannot reach it fails, it never skips."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster import ClusterUnavailable, LiveCluster, discover, unique_namespace


@pytest.fixture(scope="session")
def kind_cluster() -> LiveCluster:
    """The session's cluster (pytest-kind's fixture name, so tests port either way)."""
    try:
        return discover()
    except ClusterUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def cluster(kind_cluster: LiveCluster) -> LiveCluster:
    return kind_cluster


@pytest.fixture
def namespace(cluster: LiveCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from unique_namespace(cluster, request.node.name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
