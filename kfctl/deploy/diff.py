"""`kfctl diff`: a server-side dry-run of every planned object against what is live, and the
objects apply would prune, as unified diffs."""

from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import yaml

from kfctl.deploy.plan import Plan, normalize_scopes
from kfctl.deploy.record import Inventory
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.errors import NotServedError

# Fields the server sets on every write: not differences anyone made.
NOISE = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


@dataclass
class DiffResult:
    changes: list[dict[str, Any]] = field(default_factory=list)  # {object, action, diff}

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def comparable(obj: dict[str, Any] | None) -> dict[str, Any]:
    if not obj:
        return {}
    cleaned = {k: v for k, v in obj.items() if k != "status"}
    metadata = {k: v for k, v in (cleaned.get("metadata") or {}).items() if k not in NOISE}
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k != "deployment.kubernetes.io/revision"
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    cleaned["metadata"] = metadata
    return cleaned


def diff_plan(api: Api, plan: Plan, *, partial: bool, concurrency: int = 16) -> DiffResult:
    result = DiffResult()
    previous = Inventory(api, plan.app).latest()
    normalize_scopes(plan, api.served_kinds())

    def one(obj: dict[str, Any]) -> dict[str, Any] | None:
        ref = ObjectRef.of(obj)
        try:
            live = api.get(ref)
        except NotServedError:
            live = None
        try:
            after = api.apply(obj, dry_run=True)
        except NotServedError:
            after = obj  # its CRD is not there yet: the object would be created as written
        before_text = yaml.safe_dump(comparable(live), sort_keys=True) if live else ""
        after_text = yaml.safe_dump(comparable(after), sort_keys=True)
        if before_text == after_text:
            return None
        lines = difflib.unified_diff(
            before_text.splitlines(keepends=True),
            after_text.splitlines(keepends=True),
            f"live/{ref}",
            f"planned/{ref}",
        )
        return {"object": str(ref), "action": "update" if live else "create", "diff": "".join(lines)}

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for change in pool.map(one, [o.manifest for o in plan.objects]):
            if change:
                result.changes.append(change)
    planned_refs = {o.ref.identity for o in plan.objects}
    components = {c.name for c in plan.components}
    for entry in previous.inventory if previous else []:
        if entry.ref.identity not in planned_refs and (not partial or entry.component in components):
            result.changes.append(
                {"object": str(entry.ref), "action": "delete", "diff": f"--- live/{entry.ref}\n+++ (pruned)\n"}
            )
    return result
