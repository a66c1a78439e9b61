"""Removing objects kfctl owns: prune (what the config no longer has) and delete (the whole app).

Both walk the apply order backwards (kfctl.platform.kinds): the last wave's components first, and in
each component custom resources, then admission, then objects, then definitions. Each object's
ApplySet label is read again just before it is deleted: one that another app has taken over since
is never deleted. Kinds that hold data (PVCs, PVs, CRDs, and namespaces that still hold anything
not kfctl's) are kept unless --purge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfctl.deploy.record import InventoryEntry
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.errors import NotServedError
from kfctl.kube.ownership import APPLYSET_PART_OF, Owner, applyset_owners, owner_of
from kfctl.platform.kinds import apply_order_key, kind_info

# What is left in a namespace that counts as data (objects of controllers, with owner references, do not).
DATA_IN_NAMESPACE = ("PersistentVolumeClaim", "ConfigMap", "Secret", "Pod")


class Outcome(StrEnum):
    DELETED = "deleted"
    GONE = "gone"  # already absent
    KEPT = "kept"


@dataclass(frozen=True)
class Removal:
    ref: ObjectRef
    outcome: Outcome
    why: str = ""


def removal_batches(entries: Iterable[InventoryEntry], component_order: list[str]) -> list[list[InventoryEntry]]:
    """Reverse apply order, in batches that may go in parallel: one per (component, stage)."""
    position = {name: index for index, name in enumerate(component_order)}
    batches: dict[tuple[int, int], list[InventoryEntry]] = {}
    for entry in entries:
        stage = int(kind_info(entry.ref.group, entry.ref.kind).stage)
        batches.setdefault((position.get(entry.component, len(position)), stage), []).append(entry)
    ordered = []
    for key in sorted(batches, reverse=True):
        batch = batches[key]
        batch.sort(key=lambda e: apply_order_key(e.ref.group, e.ref.kind, e.ref.namespace, e.ref.name), reverse=True)
        ordered.append(batch)
    return ordered


class Remover:
    """Deletes objects of one ApplySet, never one that is no longer its member."""

    def __init__(
        self,
        api: Api,
        applyset_id: str,
        *,
        before_write: Callable[[], None] = lambda: None,
        on_write: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.api = api
        self.applyset_id = applyset_id
        self.before_write = before_write
        self.on_write = on_write
        self._owners: dict[str, Owner] = {}

    def remove_all(
        self,
        entries: Iterable[InventoryEntry],
        component_order: list[str],
        *,
        purge: bool,
        concurrency: int = 16,
        purge_namespaces: frozenset[str] = frozenset(),
    ) -> list[Removal]:
        """`purge_namespaces`: namespaces deleted with their data even without `purge`."""

        def purged(entry: InventoryEntry) -> bool:
            return purge or (entry.ref.kind == "Namespace" and entry.ref.name in purge_namespaces)

        removals: list[Removal] = []
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kfctl-delete") as pool:
            for batch in removal_batches(entries, component_order):
                removals.extend(pool.map(lambda e: self.remove(e, purge=purged(e)), batch))
        return removals

    def remove(self, entry: InventoryEntry, *, purge: bool) -> Removal:
        ref = entry.ref
        try:
            live = self.api.get(ref)
        except NotServedError:
            return Removal(ref, Outcome.GONE)  # its CRD is gone, and with it every object of the kind
        if live is None:
            return Removal(ref, Outcome.GONE)
        owner = self._owner(live)
        if owner is not None:
            return Removal(ref, Outcome.KEPT, f"now owned by {owner.describe()}")
        if not purge and kind_info(ref.group, ref.kind).keeps_data:
            held = self._holds_data(ref)
            if held:
                return Removal(ref, Outcome.KEPT, held)
        self.before_write()
        self.api.delete(ref, propagation="Foreground" if ref.kind == "Namespace" else "Background")
        self.on_write(1)
        return Removal(ref, Outcome.DELETED)

    def _owner(self, live: dict[str, Any]) -> Owner | None:
        """None while the object is still this ApplySet's member; else who has it now."""
        metadata = live.get("metadata") or {}
        part_of = (metadata.get("labels") or {}).get(APPLYSET_PART_OF)
        if part_of == self.applyset_id:
            return None
        if part_of and part_of not in self._owners:
            self._owners.update(applyset_owners(self.api, [part_of]))
        return owner_of(metadata, self.applyset_id, self._owners)

    def _holds_data(self, ref: ObjectRef) -> str:
        """Why deleting it would delete data ("" when a namespace holds nothing but kfctl's own objects)."""
        if ref.kind != "Namespace":
            return "holds data; --purge deletes it"
        for kind in DATA_IN_NAMESPACE:
            for item in self.api.list_kind("v1", kind, namespace=ref.name, metadata_only=True):
                metadata = item.get("metadata") or {}
                if metadata.get("name") == "kube-root-ca.crt" or metadata.get("ownerReferences"):
                    continue
                if (metadata.get("labels") or {}).get(APPLYSET_PART_OF) == self.applyset_id:
                    continue
                return f"holds {kind} {metadata.get('name')} (data); --purge deletes it"
        return ""


def wait_namespaces_gone(api: Api, namespaces: list[ObjectRef], timeout: float) -> list[dict[str, Any]]:
    """Until the deleted namespaces are gone; those still Terminating, with what holds them."""
    deadline = time.monotonic() + timeout
    remaining = list(namespaces)
    while remaining and time.monotonic() < deadline:
        remaining = [ref for ref in remaining if api.get(ref) is not None]
        if remaining:
            time.sleep(1.0)
    stuck = []
    for ref in remaining:
        live = api.get(ref) or {}
        conditions = [c for c in (live.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
        reason = "; ".join(f"{c.get('type')}: {c.get('message')}" for c in conditions) or "still terminating"
        stuck.append(
            {
                "namespace": ref.name,
                "reason": reason[:500],
                "finalizers": (live.get("spec") or {}).get("finalizers", []),
            }
        )
    return stuck
