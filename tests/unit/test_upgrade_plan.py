"""The upgrade's pure parts: the release chain, Kubernetes ranges, the config edit after a step."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kfctl.config.app import load_app_config
from kfctl.config.edit import set_platform
from kfctl.errors import InputError
from kfctl.lifecycle.releases import kubernetes_fit, release_chain
from kfctl.platform.catalog import load_platforms


def test_the_chain_goes_one_release_at_a_time_across_calendar_versions() -> None:
    steps = release_chain("kubeflow-1.9", "kubeflow-26.03")
    assert [s.name for s in steps] == [
        "kubeflow-1.9 -> kubeflow-1.10",
        "kubeflow-1.10 -> kubeflow-1.11",
        "kubeflow-1.11 -> kubeflow-26.03",
    ]
    assert release_chain("kubeflow-1.11", "kubeflow-1.11") == []


def test_backwards_more_than_one_step_with_no_chain_and_unknown_releases_are_refused() -> None:
    with pytest.raises(InputError, match="older than the installed"):
        release_chain("kubeflow-1.11", "kubeflow-1.10")
    with pytest.raises(InputError, match="--no-chain allows one"):
        release_chain("kubeflow-1.9", "kubeflow-1.11", chain=False)
    assert len(release_chain("kubeflow-1.9", "kubeflow-1.10", chain=False)) == 1
    with pytest.raises(InputError, match="unknown platform release"):
        release_chain("kubeflow-1.9", "kubeflow-2.0")


def test_kubernetes_below_the_minimum_does_not_fit_and_above_the_tested_range_warns() -> None:
    platform = replace(load_platforms()["kubeflow-1.11"], kubernetes_min="1.33", kubernetes_tested_max="1.34")
    assert kubernetes_fit("1.32", platform)[0] is False
    assert kubernetes_fit("1.33", platform) == (True, "")
    fits, message = kubernetes_fit("1.36", platform)
    assert fits and "newer than kubeflow-1.11 was tested with" in message


def test_after_a_step_the_config_names_the_new_release_and_keeps_its_comments(tmp_path: Path) -> None:
    path = tmp_path / "kfctl.yaml"
    path.write_text(
        "# our platform\napiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: p}\n"
        "spec:\n  profile: simulated\n  platform: kubeflow-1.11  # pinned\n"
        "  components:\n  - istio\n  - network-policies\n  - {name: kubeflow-roles}\n"
    )
    config = set_platform(path, "kubeflow-26.03", drop=["network-policies"])
    assert config.platform == "kubeflow-26.03"
    assert [c.name for c in config.components or []] == ["istio", "kubeflow-roles"]
    assert "# our platform" in path.read_text() and "# pinned" in path.read_text()
    written = set_platform(path, "kubeflow-26.03", components=["istio", "trainer"])
    assert [c.name for c in written.components or []] == ["istio", "trainer"]
    assert load_app_config(path).platform == "kubeflow-26.03"
