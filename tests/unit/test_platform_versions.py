"""Release versions on one scale across the switch from v1.x.y tags to calendar versions (YY.MM[.P])."""

from __future__ import annotations

from kfctl.platform.catalog import load_platforms, newest, release_version


def test_calendar_versions_sort_after_the_v1_releases_and_patches_after_their_release() -> None:
    ordered = ["v1.9.1", "v1.10.2", "v1.11.0", "26.03", "26.03.1", "26.10"]
    assert sorted(ordered, key=release_version) == ordered
    assert release_version("26.03") == release_version("26.3")
    assert release_version("v1.11.0").release[:2] == (1, 11)


def test_the_newest_platform_is_the_highest_release() -> None:
    platforms = load_platforms()
    latest = newest(platforms)
    assert all(p.version <= latest.version for p in platforms.values())
