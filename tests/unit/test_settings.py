"""Run settings: a flag beats `settings:` in the app config, which beats the built-in default."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfctl.config.app import load_app_config, new_app_config
from kfctl.config.settings import RunSettings, parse_duration, resolve_run_settings
from kfctl.errors import ConfigError, InputError
from kfctl.schema import Where

DEFAULTS = RunSettings(concurrency=16, wait=True, timeout_seconds=900.0, adopt=False)


def config_with(tmp_path: Path, settings: str = "") -> dict[str, object]:
    path = tmp_path / "kfctl.yaml"
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: t}\n"
        f"spec:\n  profile: generic\n  platform: kubeflow-1.10\n{settings}"
    )
    return load_app_config(path).settings


def test_nothing_given_means_the_built_in_defaults(tmp_path: Path) -> None:
    assert resolve_run_settings(config_with(tmp_path)) == DEFAULTS
    assert resolve_run_settings(config_with(tmp_path, "  settings: {}\n")) == DEFAULTS


def test_the_config_beats_the_defaults(tmp_path: Path) -> None:
    settings = config_with(tmp_path, "  settings: {concurrency: 4, wait: false, timeout: 1h30m, adopt: true}\n")
    assert resolve_run_settings(settings) == RunSettings(4, False, 5400.0, True)


def test_a_flag_beats_the_config(tmp_path: Path) -> None:
    settings = config_with(tmp_path, "  settings: {concurrency: 4, wait: false, timeout: 1h, adopt: true}\n")
    resolved = resolve_run_settings(settings, concurrency=32, wait=True, timeout="90s", adopt=False)
    assert resolved == RunSettings(32, True, 90.0, False), "False and True given as flags win too"


def test_each_setting_resolves_on_its_own(tmp_path: Path) -> None:
    settings = config_with(tmp_path, "  settings: {timeout: 5m}\n")
    assert resolve_run_settings(settings, concurrency=2) == RunSettings(2, True, 300.0, False)
    assert resolve_run_settings(settings, wait=False).timeout_seconds == 300.0


def test_a_bad_timeout_flag_names_the_flag() -> None:
    with pytest.raises(InputError) as caught:
        resolve_run_settings({}, timeout="soon")
    assert caught.value.one_line() == "--timeout: 'soon' is not a duration (use a number with a unit: " + (
        "500ms, 90s, 15m, 1h or 1h30m)"
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("90s", 90), ("15m", 900), ("1h", 3600), ("1.5h", 5400), ("1h30m", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["15", "15 m", "m", "-5m", "0s", "1d", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration(text, "--timeout")


def test_a_bad_duration_in_a_file_names_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration("ten minutes", Where("kfctl.yaml", 9, "spec.settings.timeout"))
    assert caught.value.one_line().startswith("kfctl.yaml:9: spec.settings.timeout: 'ten minutes' is not a duration")


def test_adopt_is_a_boolean_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, "  settings: {adopt: yes please}\n")
    assert "kfctl.yaml:7: spec.settings.adopt: expected true or false, got a string" in caught.value.one_line()


def test_the_init_template_shows_the_defaults_and_sets_none(tmp_path: Path) -> None:
    """`kfctl init` writes the settings as comments holding the defaults, so flags and defaults apply."""
    text = new_app_config("t", "generic", "kubeflow-1.10", ["cert-manager"])
    for line in ("#   concurrency: 16", "#   wait: true", "#   timeout: 15m", "#   adopt: false"):
        assert line in text
    path = tmp_path / "kfctl.yaml"
    path.write_text(text)
    assert resolve_run_settings(load_app_config(path).settings) == DEFAULTS
