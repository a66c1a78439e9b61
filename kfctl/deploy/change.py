"""What an apply will change, computed before anything is written: a pure function of the plan, the
previous release record, this app's live objects and who else claims the planned ones.

  unchanged  planned, applied last time with the same manifest, and nobody took a field of it since
  apply      new or changed (or drifted) objects, in plan order
  stale      in the previous release, no longer planned: prune candidates
  untouched  entries of components not named on a partial apply: neither applied nor pruned
  foreign    planned objects another kfctl app, another ApplySet or a Helm release manages: refused
             unless adopting
  orphaned   planned objects labelled for an ApplySet whose parent is gone: taken over, and said so
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kfctl.deploy.plan import PlannedObject
from kfctl.deploy.record import InventoryEntry, ReleaseRecord, ReleaseStatus, fields_fingerprint
from kfctl.errors import InputError
from kfctl.kube.api import ObjectRef
from kfctl.kube.ownership import Owner, OwnerKind

EXAMPLES = 3


@dataclass
class Change:
    unchanged: dict[ObjectRef, InventoryEntry] = field(default_factory=dict)
    apply: list[PlannedObject] = field(default_factory=list)
    stale: list[InventoryEntry] = field(default_factory=list)
    untouched: list[InventoryEntry] = field(default_factory=list)
    foreign: dict[ObjectRef, Owner] = field(default_factory=dict)
    orphaned: dict[ObjectRef, Owner] = field(default_factory=dict)
    previous: ReleaseRecord | None = None

    @property
    def no_op(self) -> bool:
        """Nothing to write: the last release is deployed and every planned object is as it left it."""
        return (
            self.previous is not None
            and self.previous.status is ReleaseStatus.DEPLOYED
            and not self.apply
            and not self.stale
        )

    def by_owner(self) -> dict[Owner, list[ObjectRef]]:
        grouped: dict[Owner, list[ObjectRef]] = {}
        for ref, owner in sorted(self.foreign.items(), key=lambda item: str(item[0])):
            grouped.setdefault(owner, []).append(ref)
        return grouped

    def adopted(self) -> list[dict[str, str]]:
        """What this run takes over from another owner, for the release record."""
        taken = {**self.foreign, **self.orphaned}
        return [{"object": str(ref), "from": owner.describe()} for ref, owner in sorted(taken.items(), key=str)]

    def refusal(self, app: str) -> InputError:
        """Exit code 2, nothing written: one line per owner, how many objects it holds, three examples."""
        lines = []
        for owner, refs in self.by_owner().items():
            examples = ", ".join(str(r) for r in refs[:EXAMPLES]) + (" …" if len(refs) > EXAMPLES else "")
            lines.append(f"{owner.describe()} owns {len(refs)} of the planned objects ({examples})")
        error = InputError(
            f"app {app} would take over objects managed by others: " + "; ".join(lines),
            hint="leave those components out of this app's config, or pass --adopt (settings.adopt) to take them "
            "over; the release record says what was adopted",
        )
        error.detail = {
            "owners": [
                {**owner.as_dict(), "objects": len(refs), "examples": [str(r) for r in refs[:EXAMPLES]]}
                for owner, refs in self.by_owner().items()
            ]
        }
        return error

    def superset(self, planned: Iterable[PlannedObject]) -> list[InventoryEntry]:
        """The previous inventory plus everything planned: what a pending record holds, so an
        interrupted run loses track of nothing."""
        entries = {e.ref: e for e in (self.previous.inventory if self.previous else [])}
        for obj in planned:
            entries.setdefault(obj.ref, InventoryEntry(obj.ref, obj.component))
        return list(entries.values())


def compute_change(
    planned: list[PlannedObject],
    previous: ReleaseRecord | None,
    live: Mapping[ObjectRef, dict[str, Any]],
    owners: Mapping[ObjectRef, Owner],
    *,
    partial_components: set[str] | None = None,
) -> Change:
    """`live`: this app's objects as the cluster holds them (labelled as its members); `owners`: the
    owner of each planned object someone else claims; `partial_components`: the components named
    on the command line (None: all of them, and what is no longer planned is stale)."""
    change = Change(previous=previous)
    recorded = {e.ref: e for e in (previous.inventory if previous else [])}
    for obj in planned:
        owner = owners.get(obj.ref)
        if owner is not None and owner.foreign:
            change.foreign[obj.ref] = owner
        elif owner is not None and owner.kind is OwnerKind.ORPHANED_APPLYSET:
            change.orphaned[obj.ref] = owner
        entry = recorded.get(obj.ref)
        current = live.get(obj.ref)
        if (
            entry is not None
            and current is not None
            and owner is None
            and entry.digest == obj.digest
            and entry.fields
            and fields_fingerprint(current) == entry.fields
            and not (current.get("metadata") or {}).get("deletionTimestamp")
        ):
            change.unchanged[obj.ref] = InventoryEntry(obj.ref, obj.component, obj.digest, entry.fields)
        else:
            change.apply.append(obj)
    planned_objects = {o.ref.identity for o in planned}
    for entry in previous.inventory if previous else []:
        if entry.ref.identity in planned_objects:
            continue
        if partial_components is not None and entry.component not in partial_components:
            change.untouched.append(entry)
        else:
            change.stale.append(entry)
    return change
