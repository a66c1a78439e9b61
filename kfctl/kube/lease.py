"""The Lease kfctl locks an app with (coordination.k8s.io/v1, in kfctl-system): who holds it, and
whether that holder is still there. Pure reading and judging; taking and renewing it is
kfctl.deploy.lock's."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.ownership import APP_LABEL, SYSTEM_NAMESPACE, lock_name

LEASE_SECONDS = 60
HOLDER_ANNOTATION = "kfctl.dev/holder"


def lock_ref(app: str) -> ObjectRef:
    return ObjectRef("coordination.k8s.io/v1", "Lease", SYSTEM_NAMESPACE, lock_name(app))


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock, as written in the Lease."""

    identity: str
    user: str = ""  # the local account that ran kfctl
    kube_user: str = ""  # the kubeconfig user's name (never its credentials)
    host: str = ""
    pid: int = 0
    pid_start: str = ""  # the process's start time on its host: tells a reused pid from the holder
    command: str = ""
    acquired: float = 0.0
    renewed: float = 0.0
    duration: int = LEASE_SECONDS

    def describe(self, now: float) -> str:
        who = f"kfctl {self.command or '?'} by {self.user or '?'}"
        where = f" on {self.host} (pid {self.pid})" if self.host else f" ({self.identity})"
        since = f", since {iso(self.acquired)}" if self.acquired else ""
        renewed = f", last renewed {max(0, round(now - self.renewed))}s ago" if self.renewed else ""
        return who + where + since + renewed

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["acquired"] = iso(self.acquired) if self.acquired else None
        data["renewed"] = iso(self.renewed) if self.renewed else None
        return data


class LockState(StrEnum):
    FREE = "free"
    HELD = "held"
    STALE = "stale"


def judge(
    holder: Holder | None, now: float, *, host: str, process_alive: Callable[[int, str], bool]
) -> tuple[LockState, str]:
    """Is the lock free, held, or stale (and why)? Pure: `now` by the server's clock."""
    if holder is None or not holder.identity:
        return LockState.FREE, ""
    idle = now - holder.renewed
    if idle > holder.duration:
        return LockState.STALE, f"not renewed for {idle:.0f}s (lease duration {holder.duration}s)"
    if holder.host == host and holder.pid and not process_alive(holder.pid, holder.pid_start):
        return LockState.STALE, f"its process {holder.pid} on this host is gone"
    return LockState.HELD, ""


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), "" when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return ""
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat; the first two precede ")"


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return not start or process_start(pid) in ("", start)


def holder_of(lease: dict[str, Any] | None) -> Holder | None:
    if not lease:
        return None
    spec = lease.get("spec") or {}
    identity = str(spec.get("holderIdentity") or "")
    if not identity:
        return None
    try:
        extra = json.loads(((lease.get("metadata") or {}).get("annotations") or {}).get(HOLDER_ANNOTATION) or "{}")
    except json.JSONDecodeError:
        extra = {}
    if not isinstance(extra, dict):
        extra = {}
    return Holder(
        identity=identity,
        user=str(extra.get("user", "")),
        kube_user=str(extra.get("kubeUser", "")),
        host=str(extra.get("host", "")),
        pid=int(extra.get("pid") or 0),
        pid_start=str(extra.get("pidStart", "")),
        command=str(extra.get("command", "")),
        acquired=parse_time(spec.get("acquireTime")),
        renewed=parse_time(spec.get("renewTime") or spec.get("acquireTime")),
        duration=int(spec.get("leaseDurationSeconds") or LEASE_SECONDS),
    )


def read_lock(api: Api, ref: ObjectRef, *, host: str) -> tuple[dict[str, Any] | None, Holder | None, LockState, str]:
    """The Lease, its holder, and whether it is free, held or stale (judged on the server's clock)."""
    lease = api.get(ref)
    holder = holder_of(lease)
    state, why = judge(holder, api.server_time(), host=host, process_alive=process_alive)
    return lease, holder, state, why


def lease_body(ref: ObjectRef, app: str, holder: Holder, acquired: float, renewed: float) -> dict[str, Any]:
    extra = {
        "user": holder.user,
        "kubeUser": holder.kube_user,
        "host": holder.host,
        "pid": holder.pid,
        "pidStart": holder.pid_start,
        "command": holder.command,
    }
    return {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "metadata": {
            "name": ref.name,
            "namespace": ref.namespace,
            "labels": {APP_LABEL: app},
            "annotations": {HOLDER_ANNOTATION: json.dumps(extra, sort_keys=True)},
        },
        "spec": {
            "holderIdentity": holder.identity,
            "leaseDurationSeconds": holder.duration,
            "acquireTime": micro_time(acquired),
            "renewTime": micro_time(renewed),
            "leaseTransitions": 0,
        },
    }


def micro_time(timestamp: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
