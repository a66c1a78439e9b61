"""Who owns an object in the cluster: this kfctl app, another kfctl app, another ApplySet (kubectl's),
a Helm release, or nobody. Read from labels and annotations only, the way Helm ("invalid ownership
metadata") and kubectl's ApplySet decide before they take an object over.

The names of kfctl's own footprint (its namespace, labels and the lock) live here too, so every
layer above (deploy, preflight) reads one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kfctl.kube.api import Api, ObjectRef

SYSTEM_NAMESPACE = "kfctl-system"
APPLYSET_PART_OF = "applyset.kubernetes.io/part-of"  # on every member of an ApplySet (KEP-3659)
APPLYSET_ID_LABEL = "applyset.kubernetes.io/id"  # on an ApplySet's parent
APPLYSET_TOOLING = "applyset.kubernetes.io/tooling"
COMPONENT_LABEL = "kfctl.dev/component"
APP_LABEL = "kfctl.dev/app"
RECORD_LABEL = "kfctl.dev/release-record"
REVISION_LABEL = "kfctl.dev/revision"
STATUS_ANNOTATION = "kfctl.dev/status"
HELM_MANAGED_BY = ("app.kubernetes.io/managed-by", "Helm")
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def lock_name(app: str) -> str:
    """The app's Lease in kfctl-system."""
    return f"kfctl-{app}-lock"


class OwnerKind(StrEnum):
    THIS_APP = "this-app"
    KFCTL_APP = "kfctl-app"
    APPLYSET = "applyset"  # an ApplySet whose parent is not a kfctl app's (kubectl, another tool)
    ORPHANED_APPLYSET = "orphaned-applyset"  # the label names an ApplySet whose parent is gone
    HELM = "helm"
    UNMANAGED = "unmanaged"  # exists, labelled by no tool, where kfctl takes nothing unasked (team namespaces)
    NONE = "none"


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    name: str = ""  # the kfctl app, the Helm release (namespace/name), or the ApplySet's parent

    @property
    def foreign(self) -> bool:
        """Taking it over needs --adopt: somebody else manages it."""
        return self.kind in (OwnerKind.KFCTL_APP, OwnerKind.APPLYSET, OwnerKind.HELM, OwnerKind.UNMANAGED)

    def describe(self) -> str:
        return {
            OwnerKind.THIS_APP: "this app",
            OwnerKind.KFCTL_APP: f"kfctl app {self.name}",
            OwnerKind.APPLYSET: f"ApplySet {self.name}",
            OwnerKind.ORPHANED_APPLYSET: f"ApplySet {self.name} whose parent is gone",
            OwnerKind.HELM: f"Helm release {self.name}",
            OwnerKind.UNMANAGED: "nobody (it was created outside kfctl)",
            OwnerKind.NONE: "nobody",
        }[self.kind]

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "name": self.name}


NOBODY = Owner(OwnerKind.NONE)


def owner_of(metadata: Mapping[str, Any], applyset_id: str, parents: Mapping[str, Owner]) -> Owner:
    """The owner an object's metadata names. `parents`: ApplySet id → its owner, for the ids seen
    (see `applyset_owners`); an id missing there is an orphan. The ApplySet label wins over Helm's:
    rendered Helm charts (Istio's manifests) carry Helm's label without being a Helm release."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    part_of = labels.get(APPLYSET_PART_OF)
    if part_of:
        if part_of == applyset_id:
            return Owner(OwnerKind.THIS_APP)
        return parents.get(part_of, Owner(OwnerKind.ORPHANED_APPLYSET, part_of))
    if labels.get(HELM_MANAGED_BY[0]) == HELM_MANAGED_BY[1] and annotations.get(HELM_RELEASE_NAME):
        namespace = annotations.get(HELM_RELEASE_NAMESPACE)
        release = annotations[HELM_RELEASE_NAME]
        return Owner(OwnerKind.HELM, f"{namespace}/{release}" if namespace else release)
    return NOBODY


def applyset_owners(api: Api, ids: Iterable[str]) -> dict[str, Owner]:
    """Who each ApplySet id belongs to: a kfctl app (its parent ConfigMap in kfctl-system), another
    tool's parent (a ConfigMap or Secret anywhere labelled with the id), or nobody (orphan: absent)."""
    wanted = set(ids)
    owners: dict[str, Owner] = {}
    if not wanted:
        return owners
    for parent in api.list_kind(
        "v1", "ConfigMap", namespace=SYSTEM_NAMESPACE, label_selector=APPLYSET_ID_LABEL, metadata_only=True
    ):
        labels = (parent.get("metadata") or {}).get("labels") or {}
        if labels.get(APPLYSET_ID_LABEL) in wanted and labels.get(APP_LABEL):
            owners[labels[APPLYSET_ID_LABEL]] = Owner(OwnerKind.KFCTL_APP, labels[APP_LABEL])
    for applyset in sorted(wanted - set(owners)):
        for kind in ("ConfigMap", "Secret"):
            found = api.list_kind("v1", kind, label_selector=f"{APPLYSET_ID_LABEL}={applyset}", metadata_only=True)
            if found:
                ref = ObjectRef.of(found[0])
                tooling = ((found[0].get("metadata") or {}).get("annotations") or {}).get(APPLYSET_TOOLING, "")
                owners[applyset] = Owner(OwnerKind.APPLYSET, f"{ref}" + (f" ({tooling})" if tooling else ""))
                break
    return owners


def foreign_candidates(
    api: Api, kinds: Iterable[tuple[str, str]], applyset_id: str, *, concurrency: int = 8
) -> dict[ObjectRef, dict[str, Any]]:
    """The metadata of every object of these kinds that another ApplySet or Helm claims: two labelled
    lists per kind (metadata only), instead of reading every object of the plan."""
    selectors = (
        f"{APPLYSET_PART_OF},{APPLYSET_PART_OF}!={applyset_id}",
        f"{HELM_MANAGED_BY[0]}={HELM_MANAGED_BY[1]},!{APPLYSET_PART_OF}",
    )
    jobs = [(api_version, kind, selector) for api_version, kind in sorted(set(kinds)) for selector in selectors]

    def one(job: tuple[str, str, str]) -> list[dict[str, Any]]:
        api_version, kind, selector = job
        return api.list_kind(api_version, kind, label_selector=selector, metadata_only=True)

    found: dict[ObjectRef, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(jobs) or 1))) as pool:
        for items in pool.map(one, jobs):
            for item in items:
                found[ObjectRef.of(item)] = item.get("metadata") or {}
    return found


def owners_of(api: Api, refs: Iterable[ObjectRef], applyset_id: str, *, concurrency: int = 8) -> dict[ObjectRef, Owner]:
    """The owner of every one of `refs` that someone other than this app claims (others: unowned or absent)."""
    wanted = set(refs)
    candidates = foreign_candidates(
        api, {(r.api_version, r.kind) for r in wanted}, applyset_id, concurrency=concurrency
    )
    metadata = {ref: meta for ref, meta in candidates.items() if ref in wanted}
    ids = {str((m.get("labels") or {}).get(APPLYSET_PART_OF)) for m in metadata.values()}
    parents = applyset_owners(api, {i for i in ids if i and i != "None"})
    return {ref: owner_of(meta, applyset_id, parents) for ref, meta in metadata.items()}
