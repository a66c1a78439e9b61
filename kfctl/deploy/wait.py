"""Waiting for readiness: poll only the objects not ready yet (kstatus rules in
kfctl.platform.readiness), fail at once on a Failed state, and on the deadline report the object,
its conditions and its latest events (after Flux's manager_wait: one wait for a whole set)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kfctl.errors import KfctlError, WaitTimeoutError
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.errors import ApiError, NotServedError
from kfctl.platform.catalog import ReadinessGate
from kfctl.platform.readiness import Readiness, State, readiness


class ObjectFailed(KfctlError):
    """An object was refused by the server, or reached a Failed state."""

    def __init__(self, ref: ObjectRef, error: ApiError) -> None:
        super().__init__(f"{ref}: {error.message}", hint=error.hint)
        self.ref = ref
        self.error = error


class Waiter:
    def __init__(self, api: Api, pool: ThreadPoolExecutor, relax: frozenset[str], deadline: float) -> None:
        self.api = api
        self.pool = pool
        self.relax = relax
        self.deadline = deadline

    def ready(self, obj: dict[str, Any] | None) -> bool:
        return readiness(obj, relax=self.relax).ready

    def wait(self, objects: dict[ObjectRef, dict[str, Any] | None], component: str) -> None:
        """Until every object is ready; `objects` carries what is already known of each (None: read it)."""
        pending = {ref: obj for ref, obj in objects.items() if obj is None or not self.ready(obj)}
        delay = 0.2
        while pending:
            for ref, obj in list(pending.items()):
                status = readiness(obj, relax=self.relax)
                if status.ready:
                    del pending[ref]
                elif status.state is State.FAILED:
                    raise _failed(ref, obj, status, self.api)
            if not pending:
                return
            if time.monotonic() > self.deadline:
                ref, obj = next(iter(pending.items()))
                raise _timeout(component, ref, obj, readiness(obj, relax=self.relax), self.api, len(pending))
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
            refs = list(pending)
            futures = [self.pool.submit(self._get, ref) for ref in refs]
            for ref, future in zip(refs, futures, strict=True):
                pending[ref] = future.result()

    def _get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return self.api.get(ref)
        except NotServedError:
            return None


def conditions_of(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [
        {k: c.get(k) for k in ("type", "status", "reason", "message") if c.get(k)}
        for c in ((obj or {}).get("status") or {}).get("conditions") or []
    ]


def _events(api: Api, ref: ObjectRef) -> list[str]:
    return [f"{e.get('type')} {e.get('reason')}: {e.get('message', '')}"[:200] for e in api.events_for(ref)]


def _timeout(
    component: str, ref: ObjectRef, obj: dict[str, Any] | None, status: Readiness, api: Api, pending: int
) -> WaitTimeoutError:
    error = WaitTimeoutError(
        f"component {component}: timed out waiting for {ref}: {status.message}"
        + (f" (and {pending - 1} more)" if pending > 1 else ""),
        hint="see the conditions and events in the report; raise --timeout if it is only slow",
    )
    error.detail = {
        "object": str(ref),
        "state": status.state.value,
        "message": status.message,
        "conditions": conditions_of(obj),
        "events": _events(api, ref),
    }
    return error


def _failed(ref: ObjectRef, obj: dict[str, Any] | None, status: Readiness, api: Api) -> ObjectFailed:
    error = ApiError(
        f"{status.message}; conditions: {conditions_of(obj)}; events: {_events(api, ref)}"[:800],
        status=0,
        reason="Failed",
    )
    return ObjectFailed(ref, error)


GATE_API_VERSIONS = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}


def gate_ref(gate: ReadinessGate) -> ObjectRef:
    return ObjectRef(GATE_API_VERSIONS.get(gate.kind, "v1"), gate.kind, gate.namespace or "", gate.name)
