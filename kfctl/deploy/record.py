"""What kfctl records in a cluster: an ApplySet (KEP-3659) per app, and numbered release records.

The ApplySet parent is a ConfigMap `kfctl-<app>` in namespace `kfctl-system`; every applied
object carries `applyset.kubernetes.io/part-of: <id>`, and the parent lists the group-kinds and
namespaces to look in, so `kubectl` and other KEP-3659 tools see the same membership.

Release records are ConfigMaps `kfctl-<app>-v<N>` holding the revision's inventory (every
object with the fingerprints that make a no-op re-apply free of writes), per-component status
and what was adopted from another owner, gzip-compressed so 10,000 objects fit in one record.
Before applying, a record with the union of the previous and the planned inventory is written
(status `pending`); after pruning, the final one (`deployed` or `failed`). A crash in between
loses nothing: the next run prunes from the union.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kfctl import __version__
from kfctl.errors import OperationError
from kfctl.kube.api import Api, NotFound, ObjectRef
from kfctl.kube.ownership import (
    APP_LABEL,
    APPLYSET_ID_LABEL,
    APPLYSET_TOOLING,
    RECORD_LABEL,
    REVISION_LABEL,
    STATUS_ANNOTATION,
    SYSTEM_NAMESPACE,
)

TOOLING = f"kfctl/v{__version__}"
# kubectl only operates on ApplySets whose tooling is "kubectl/<version>".
KUBECTL_TOOLING = f"kubectl/kfctl-v{__version__}"


class ReleaseStatus(StrEnum):
    PENDING = "pending"  # being applied (or the run was interrupted: the next one resumes from it)
    DEPLOYED = "deployed"
    FAILED = "failed"


def applyset_parent_name(app: str) -> str:
    return f"kfctl-{app}"


def applyset_id(app: str) -> str:
    """KEP-3659: base64url(sha256("<name>.<namespace>.<kind>.<group>")) of the parent, as applyset-<…>-v1."""
    raw = f"{applyset_parent_name(app)}.{SYSTEM_NAMESPACE}.ConfigMap."
    encoded = base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest()).decode().rstrip("=")
    return f"applyset-{encoded}-v1"


@dataclass
class InventoryEntry:
    ref: ObjectRef
    component: str
    digest: str = ""  # of the manifest kfctl applied
    fields: str = ""  # of kfctl's managedFields entry after applying: unchanged means nobody took a field

    def as_dict(self) -> dict[str, Any]:
        return {**self.ref.as_dict(), "component": self.component, "digest": self.digest, "fields": self.fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InventoryEntry:
        return cls(
            ObjectRef(data["apiVersion"], data["kind"], data.get("namespace", ""), data["name"]),
            data.get("component", ""),
            data.get("digest", ""),
            data.get("fields", ""),
        )


@dataclass
class ReleaseRecord:
    app: str
    revision: int
    status: ReleaseStatus
    platform: str = ""
    profile: str = ""
    config_digest: str = ""
    components: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {status, wave, message, …}
    inventory: list[InventoryEntry] = field(default_factory=list)
    adopted: list[dict[str, str]] = field(default_factory=list)  # {object, from}: taken over with --adopt
    started: float = 0.0
    finished: float = 0.0
    message: str = ""

    def _fields(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "revision": self.revision,
            "status": self.status.value,
            "platform": self.platform,
            "profile": self.profile,
            "configDigest": self.config_digest,
            "components": self.components,
            "adopted": self.adopted,
            "message": self.message,
        }

    def summary(self) -> dict[str, Any]:
        return {
            **self._fields(),
            "objects": len(self.inventory),
            "started": _iso(self.started),
            "finished": _iso(self.finished) if self.finished else None,
        }

    def component_order(self) -> list[str]:
        """Components in apply order (wave, then as planned); entries of older records without waves last."""
        named = list(dict.fromkeys([*self.components, *(e.component for e in self.inventory)]))
        return sorted(named, key=lambda name: self.components.get(name, {}).get("wave", len(named)))

    def to_configmap(self) -> dict[str, Any]:
        payload = {
            **self._fields(),
            "inventory": [entry.as_dict() for entry in self.inventory],
            "started": self.started,
            "finished": self.finished,
        }
        packed = base64.b64encode(gzip.compress(json.dumps(payload, separators=(",", ":")).encode())).decode()
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"kfctl-{self.app}-v{self.revision}",
                "namespace": SYSTEM_NAMESPACE,
                "labels": {APP_LABEL: self.app, RECORD_LABEL: "true", REVISION_LABEL: str(self.revision)},
                "annotations": {STATUS_ANNOTATION: self.status.value, "kfctl.dev/tooling": TOOLING},
            },
            "binaryData": {"release.json.gz": packed},
        }

    @classmethod
    def from_configmap(cls, configmap: dict[str, Any]) -> ReleaseRecord:
        packed = (configmap.get("binaryData") or {})["release.json.gz"]
        data = json.loads(gzip.decompress(base64.b64decode(packed)))
        return cls(
            app=data["app"],
            revision=int(data["revision"]),
            status=ReleaseStatus(data["status"]),
            platform=data.get("platform", ""),
            profile=data.get("profile", ""),
            config_digest=data.get("configDigest", ""),
            components=data.get("components", {}),
            inventory=[InventoryEntry.from_dict(e) for e in data.get("inventory", [])],
            adopted=data.get("adopted", []),
            started=data.get("started", 0.0),
            finished=data.get("finished", 0.0),
            message=data.get("message", ""),
        )


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


class Inventory:
    """Reads and writes the app's ApplySet parent and release records."""

    def __init__(self, api: Api, app: str, *, tooling: str = "kfctl") -> None:
        self.api = api
        self.app = app
        self.tooling = KUBECTL_TOOLING if tooling == "kubectl" else TOOLING
        self.applyset_id = applyset_id(app)

    def records(self) -> list[ReleaseRecord]:
        """Every release record of the app, oldest first."""
        try:
            items = self.api.list_kind(
                "v1",
                "ConfigMap",
                namespace=SYSTEM_NAMESPACE,
                label_selector=f"{APP_LABEL}={self.app},{RECORD_LABEL}=true",
            )
        except NotFound:
            return []
        records = [ReleaseRecord.from_configmap(item) for item in items]
        return sorted(records, key=lambda r: r.revision)

    def latest(self) -> ReleaseRecord | None:
        records = self.records()
        return records[-1] if records else None

    def ensure_namespace(self, timeout: float = 120.0) -> None:
        """kfctl-system, waiting out an earlier deletion of it (a namespace being terminated takes nothing new)."""
        ref = ObjectRef("v1", "Namespace", "", SYSTEM_NAMESPACE)
        deadline = time.monotonic() + timeout
        while (live := self.api.get(ref)) is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
            if time.monotonic() > deadline:
                raise OperationError(
                    f"namespace {SYSTEM_NAMESPACE} is still being deleted after {timeout:.0f}s",
                    hint="wait for it to go, then apply again",
                )
            time.sleep(0.5)
        if live is None:
            self.api.apply(
                {
                    "apiVersion": "v1",
                    "kind": "Namespace",
                    "metadata": {"name": SYSTEM_NAMESPACE, "labels": {"app.kubernetes.io/managed-by": "kfctl"}},
                }
            )

    def write(self, record: ReleaseRecord) -> None:
        self.api.apply(record.to_configmap())

    def write_parent(self, entries: list[InventoryEntry]) -> None:
        """The ApplySet parent, listing where its members are (a superset while applying)."""
        group_kinds = sorted({entry.ref.group_kind for entry in entries})
        namespaces = sorted({entry.ref.namespace for entry in entries if entry.ref.namespace} - {SYSTEM_NAMESPACE})
        self.api.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": applyset_parent_name(self.app),
                    "namespace": SYSTEM_NAMESPACE,
                    "labels": {APPLYSET_ID_LABEL: self.applyset_id, APP_LABEL: self.app},
                    "annotations": {
                        APPLYSET_TOOLING: self.tooling,
                        "applyset.kubernetes.io/contains-group-kinds": ",".join(group_kinds),
                        "applyset.kubernetes.io/additional-namespaces": ",".join(namespaces),
                    },
                },
            }
        )

    def delete_records(self) -> int:
        deleted = 0
        for record in self.records():
            ref = ObjectRef("v1", "ConfigMap", SYSTEM_NAMESPACE, f"kfctl-{self.app}-v{record.revision}")
            deleted += bool(self.api.delete(ref))
        self.api.delete(ObjectRef("v1", "ConfigMap", SYSTEM_NAMESPACE, applyset_parent_name(self.app)))
        return deleted


def fields_fingerprint(live: dict[str, Any], manager: str = "kfctl") -> str:
    """A digest of the fields `manager` owns through server-side apply on a live object."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            return hashlib.sha256(json.dumps(entry.get("fieldsV1"), sort_keys=True).encode()).hexdigest()[:32]
    return ""
