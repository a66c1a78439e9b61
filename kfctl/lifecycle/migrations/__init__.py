"""Per-release migrations of `kfctl upgrade`: one module per release step (v1_10: 1.9 → 1.10, v1_11:
1.10 → 1.11, v26_03: 1.11 → 26.03), each a tuple of Migration (kfctl.lifecycle.migrations.base).

Only what a plain apply cannot do belongs here: an immutable field the upgrade engine finds by its
server-side dry-run is re-created generically; a migration is written where the release notes name a
manual step, or where the generic path would lose or strand data. docs/upgrade-notes.md has the diffs.
"""

from __future__ import annotations

from kfctl.lifecycle.migrations import v1_10, v1_11, v26_03
from kfctl.lifecycle.migrations.base import Migration

# In release order; within a step, in the order they run.
ALL: tuple[Migration, ...] = v1_10.MIGRATIONS + v1_11.MIGRATIONS + v26_03.MIGRATIONS


def for_step(from_platform: str, to_platform: str) -> list[Migration]:
    """The migrations of one release step (platform names as in the catalogs), in order; [] for none."""
    return [m for m in ALL if m.step == (from_platform, to_platform)]


__all__ = ["ALL", "Migration", "for_step"]
