"""The apply engine: waves of components, staged server-side apply inside each, readiness gates,
ApplySet inventory and release records, prune.

Within a component: definitions (Namespaces, CRDs, cluster RBAC) → CRDs Established and discovery
refreshed once → the other built-in objects → their workloads ready → webhook configurations
(and their CA bundles) → custom resources. A component starts when every component it depends on
is ready; independent components run in parallel, object applies share one bounded pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kfctl.deploy.inventory import Inventory, InventoryEntry, ReleaseRecord, fields_fingerprint
from kfctl.deploy.plan import APPLYSET_PART_OF, ComponentPlan, Plan, PlannedObject, Stage, normalize_scopes
from kfctl.deploy.report import Reporter
from kfctl.errors import KfctlError, WaitTimeoutError
from kfctl.kube.api import Api, ApiError, NotServedError, ObjectRef
from kfctl.platform.readiness import Readiness, State, readiness

# Never pruned unless asked (--prune-all / --purge): deleting them deletes data.
KEEP_ON_PRUNE = frozenset({"PersistentVolumeClaim", "CustomResourceDefinition", "Namespace"})


@dataclass
class ApplyOptions:
    wait: bool = True
    timeout: float = 900.0
    concurrency: int = 16
    prune: bool = True


@dataclass
class ComponentResult:
    name: str
    wave: int
    status: str = "pending"  # applied | unchanged | failed | timeout | skipped
    applied: int = 0
    unchanged: int = 0
    message: str = ""
    apply_seconds: float = 0.0
    wait_seconds: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("applied", "unchanged")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wave": self.wave,
            "status": self.status,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "message": self.message,
            "applySeconds": round(self.apply_seconds, 3),
            "waitSeconds": round(self.wait_seconds, 3),
            "startedAt": round(self.started, 3),
            "finishedAt": round(self.finished, 3),
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class ApplyReport:
    app: str
    revision: int
    status: str  # deployed | unchanged | failed | timeout
    components: list[ComponentResult]
    pruned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    writes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "revision": self.revision,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "writes": self.writes,
            "components": [c.as_dict() for c in self.components],
            "pruned": self.pruned,
            "kept": self.kept,
            "relaxed": self.relaxed,
        }


class ObjectFailed(KfctlError):
    def __init__(self, ref: ObjectRef, error: ApiError) -> None:
        super().__init__(f"{ref}: {error.message}", hint=error.hint)
        self.ref = ref
        self.error = error


class Executor:
    def __init__(
        self,
        api: Api,
        plan: Plan,
        options: ApplyOptions,
        reporter: Reporter,
        *,
        partial: bool = False,
        before_writes: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        # Preflight: run once it is known that something will be written (a no-op apply writes nothing
        # and needs no checks), or when reading the inventory is already refused.
        self.before_writes = before_writes
        # Only some components named on the command line: the others are neither pruned nor forgotten.
        self.partial = partial
        self.plan = plan
        self.options = options
        self.reporter = reporter
        self.inventory = Inventory(api, plan.app, tooling=plan.applyset_tooling)
        self.deadline = time.monotonic() + options.timeout
        self.pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="kfctl-apply")
        self.results = {c.name: ComponentResult(c.name, c.wave) for c in plan.components}
        self.entries: dict[ObjectRef, InventoryEntry] = {}
        self._entries_lock = threading.Lock()
        self._discovery_lock = threading.Lock()
        self._last_discovery = 0.0
        self.writes = 0
        self._writes_lock = threading.Lock()
        self.t0 = time.monotonic()

    # -- the whole run --------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        try:
            return self._run()
        finally:
            self.pool.shutdown(wait=True)
            self.reporter.flush()

    def _run(self) -> ApplyReport:
        self.api.refresh_discovery()
        normalize_scopes(self.plan, self.api.served_kinds())
        try:
            previous = self.inventory.latest()
        except ApiError as error:
            if error.status == 403 and self.before_writes:
                self.before_writes()  # the full report of what is missing, not just the first refusal
            raise
        if previous:
            previous.inventory = self._normalized(previous.inventory)
        live = self._live_members(previous) if previous else {}
        unchanged = self._unchanged(previous, live)
        planned_refs = {o.ref for o in self.plan.objects}
        planned_components = {c.name for c in self.plan.components}
        others = [
            e
            for e in (previous.inventory if previous else [])
            if self.partial and e.component not in planned_components and e.ref not in planned_refs
        ]
        stale = [e for e in (previous.inventory if previous else []) if e.ref not in planned_refs and e not in others]
        revision = (previous.revision if previous else 0) + 1
        if previous and previous.status == "deployed" and not stale and len(unchanged) == len(planned_refs):
            return self._no_op(previous, live)
        if self.before_writes:
            self.before_writes()
        for ref, entry in unchanged.items():
            self.entries[ref] = entry
        record = ReleaseRecord(
            self.plan.app,
            revision,
            "pending",
            self.plan.platform,
            self.plan.profile,
            self.plan.config_digest,
            started=time.time(),
        )
        superset = {e.ref: e for e in (previous.inventory if previous else [])}
        for obj in self.plan.objects:
            superset.setdefault(obj.ref, InventoryEntry(obj.ref, obj.component))
        record.inventory = list(superset.values())
        self.inventory.ensure_namespace()
        self.inventory.write_parent(record.inventory)
        self.inventory.write(record)
        self._count_writes(3)
        self.reporter.event(
            "start",
            app=self.plan.app,
            revision=revision,
            components=len(self.plan.components),
            objects=len(planned_refs),
            unchanged=len(unchanged),
            waves=len(self.plan.waves),
            relaxed=self.plan.relaxed_objects,
        )
        self._run_waves(unchanged, live)
        results = list(self.results.values())
        failed = [r for r in results if not r.ok]
        pruned: list[str] = []
        kept: list[str] = []
        if not failed and self.options.prune:
            pruned, kept = self._prune(stale)
        # The final inventory: what was planned, plus anything stale that was not pruned.
        final = {
            ref: self.entries.get(ref) or InventoryEntry(ref, o.component, o.digest)
            for o in self.plan.objects
            for ref in [o.ref]
        }
        for entry in [*stale, *others]:
            if str(entry.ref) not in pruned:
                final[entry.ref] = entry
        status = "deployed" if not failed else ("timeout" if any(r.status == "timeout" for r in failed) else "failed")
        record.status = "deployed" if not failed else "failed"
        record.inventory = list(final.values())
        record.components = {
            r.name: {"status": r.status, "message": r.message, "applied": r.applied, "unchanged": r.unchanged}
            for r in results
        }
        record.finished = time.time()
        record.message = "; ".join(f"{r.name}: {r.message}" for r in failed)[:1000]
        self.inventory.write_parent(record.inventory)
        self.inventory.write(record)
        self._count_writes(2)
        return ApplyReport(
            self.plan.app,
            revision,
            status,
            results,
            pruned,
            kept,
            self.plan.relaxed_objects,
            self.api.request_count,
            time.monotonic() - self.t0,
            self.writes,
        )

    def _normalized(self, entries: list[InventoryEntry]) -> list[InventoryEntry]:
        """Recorded refs as the server names them (older records may carry a namespace on a
        cluster-scoped object), so a stale ref never aliases a live object of the plan."""
        served = self.api.served_kinds()
        result: dict[ObjectRef, InventoryEntry] = {}
        for entry in entries:
            resource = served.get((entry.ref.api_version, entry.ref.kind))
            if resource is not None and not resource.namespaced and entry.ref.namespace:
                entry = InventoryEntry(
                    ObjectRef(entry.ref.api_version, entry.ref.kind, "", entry.ref.name),
                    entry.component,
                    entry.digest,
                    entry.fields,
                )
            result.setdefault(entry.ref, entry)
        return list(result.values())

    def _no_op(self, previous: ReleaseRecord, live: dict[ObjectRef, dict[str, Any]]) -> ApplyReport:
        """Nothing to change: no write at all; with --wait, readiness read from the listed objects."""
        for component in self.plan.components:
            result = self.results[component.name]
            result.status, result.unchanged = "unchanged", len(component.objects)
            if self.options.wait:
                waiting = [
                    o.ref for o in component.objects if not readiness(live.get(o.ref), relax=self.plan.relax).ready
                ]
                if waiting:
                    started = time.monotonic()
                    try:
                        self._wait({ref: live.get(ref) for ref in waiting}, component.name)
                    except WaitTimeoutError as error:
                        result.status, result.message = "timeout", error.message
                    result.wait_seconds = time.monotonic() - started
            self.reporter.event(
                "component", name=component.name, status=result.status, applied=0, unchanged=result.unchanged
            )
        failed = [r for r in self.results.values() if not r.ok]
        return ApplyReport(
            self.plan.app,
            previous.revision,
            "timeout" if failed else "unchanged",
            list(self.results.values()),
            relaxed=self.plan.relaxed_objects,
            requests=self.api.request_count,
            seconds=time.monotonic() - self.t0,
            writes=0,
        )

    def _live_members(self, previous: ReleaseRecord) -> dict[ObjectRef, dict[str, Any]]:
        """The app's objects as the cluster holds them: one labelled list per group-kind."""
        kinds = {(e.ref.api_version, e.ref.kind) for e in previous.inventory}
        kinds |= {(o.ref.api_version, o.ref.kind) for o in self.plan.objects}
        selector = f"{APPLYSET_PART_OF}={self.inventory.applyset_id}"
        live: dict[ObjectRef, dict[str, Any]] = {}

        def list_kind(api_version: str, kind: str) -> list[dict[str, Any]]:
            try:
                resource = self.api.resource_for(api_version, kind, refresh=False)
            except NotServedError:
                return []
            return self.api.list_objects(resource, label_selector=selector)

        futures = [self.pool.submit(list_kind, api_version, kind) for api_version, kind in sorted(kinds)]
        for future in futures:
            for item in future.result():
                live[ObjectRef.of(item)] = item
        return live

    def _unchanged(
        self, previous: ReleaseRecord | None, live: dict[ObjectRef, dict[str, Any]]
    ) -> dict[ObjectRef, InventoryEntry]:
        """Objects whose manifest is what kfctl applied last time and whose kfctl-owned fields nobody took."""
        if previous is None:
            return {}
        recorded = {e.ref: e for e in previous.inventory}
        result = {}
        for obj in self.plan.objects:
            entry = recorded.get(obj.ref)
            current = live.get(obj.ref)
            if (
                entry
                and current is not None
                and entry.digest == obj.digest
                and entry.fields
                and fields_fingerprint(current) == entry.fields
                and not (current.get("metadata") or {}).get("deletionTimestamp")
            ):
                result[obj.ref] = InventoryEntry(obj.ref, obj.component, obj.digest, entry.fields)
        return result

    # -- waves and components -------------------------------------------------------------------

    def _run_waves(self, unchanged: dict[ObjectRef, InventoryEntry], live: dict[ObjectRef, dict[str, Any]]) -> None:
        components = {c.name: c for c in self.plan.components}
        width = max((len(w) for w in self.plan.waves), default=1)
        with ThreadPoolExecutor(max_workers=max(1, width), thread_name_prefix="kfctl-component") as runner:
            for index, wave in enumerate(self.plan.waves):
                self.reporter.event("wave", index=index + 1, total=len(self.plan.waves), components=wave)
                futures = [runner.submit(self._component, components[name], unchanged, live) for name in wave]
                for future in futures:
                    future.result()

    def _component(
        self,
        component: ComponentPlan,
        unchanged: dict[ObjectRef, InventoryEntry],
        live: dict[ObjectRef, dict[str, Any]],
    ) -> None:
        result = self.results[component.name]
        result.started = time.monotonic() - self.t0
        blocked = [d for d in component.depends_on if d in self.results and not self.results[d].ok]
        if blocked:
            result.status = "skipped"
            result.message = f"not applied: dependency {', '.join(blocked)} did not become ready"
            self.reporter.event("component", name=component.name, status="skipped", message=result.message)
            result.finished = result.started
            return
        try:
            self._apply_component(component, unchanged, live, result)
            result.status = "applied" if result.applied else "unchanged"
        except ObjectFailed as error:
            result.status, result.message = "failed", error.one_line()
            result.detail = {"object": str(error.ref), "reason": error.error.reason, "code": error.error.status}
        except WaitTimeoutError as error:
            result.status, result.message = "timeout", error.message
            result.detail = getattr(error, "detail", {})
        except KfctlError as error:
            result.status, result.message = "failed", error.one_line()
        result.finished = time.monotonic() - self.t0
        self.reporter.event(
            "component",
            name=component.name,
            status=result.status,
            applied=result.applied,
            unchanged=result.unchanged,
            seconds=round(result.finished - result.started, 2),
            message=result.message,
            **({"detail": result.detail} if result.detail else {}),
        )

    def _apply_component(
        self,
        component: ComponentPlan,
        unchanged: dict[ObjectRef, InventoryEntry],
        live: dict[ObjectRef, dict[str, Any]],
        result: ComponentResult,
    ) -> None:
        for stage in (Stage.DEFINITIONS, Stage.OBJECTS, Stage.WEBHOOKS, Stage.CUSTOM_RESOURCES):
            objects = component.stage(stage)
            if not objects:
                continue
            todo = [o for o in objects if o.ref not in unchanged]
            result.unchanged += len(objects) - len(todo)
            started = time.monotonic()
            applied = self._apply_all(todo, component.name)
            result.applied += len(todo)
            result.apply_seconds += time.monotonic() - started
            state = {o.ref: applied.get(o.ref, live.get(o.ref)) for o in objects}
            if stage == Stage.DEFINITIONS:
                # CRDs must be Established before anything can use them; then discovery learns them.
                crds = {ref: obj for ref, obj in state.items() if ref.kind == "CustomResourceDefinition"}
                if crds:
                    waited = time.monotonic()
                    self._wait(crds, component.name)
                    result.wait_seconds += time.monotonic() - waited
                    self._refresh_discovery(force=True)
                continue
            if self.options.wait:
                waited = time.monotonic()
                self._wait(state, component.name)
                result.wait_seconds += time.monotonic() - waited
        if self.options.wait and component.gates:
            waited = time.monotonic()
            gates: dict[ObjectRef, dict[str, Any] | None] = {
                ObjectRef(_gate_api_version(g.kind), g.kind, g.namespace or "", g.name): None for g in component.gates
            }
            self._wait(gates, component.name)
            result.wait_seconds += time.monotonic() - waited

    # -- objects --------------------------------------------------------------------------------

    def _apply_all(self, objects: list[PlannedObject], component: str) -> dict[ObjectRef, dict[str, Any]]:
        futures: list[tuple[PlannedObject, Future[dict[str, Any]]]] = [
            (o, self.pool.submit(self._apply_one, o, component)) for o in objects
        ]
        applied: dict[ObjectRef, dict[str, Any]] = {}
        failure: ObjectFailed | None = None
        for obj, future in futures:
            try:
                applied[obj.ref] = future.result()
            except ObjectFailed as error:
                failure = failure or error
        if failure:
            raise failure
        return applied

    def _apply_one(self, obj: PlannedObject, component: str) -> dict[str, Any]:
        """Apply one object; transient errors (not served yet, webhook not answering) are retried."""
        delay = 0.25
        announced = False
        # Transient errors get a bounded window of their own: a webhook may take minutes to answer,
        # a kind that is still not served after its CRD is Established will not be served by waiting.
        give_up = {"webhook": _soon(300), "other": _soon(30)}
        while True:
            if time.monotonic() > self.deadline:
                raise WaitTimeoutError(f"component {component}: timed out applying {obj.ref}")
            try:
                live = self.api.apply(obj.manifest)
                self._count_writes(1)
                with self._entries_lock:
                    self.entries[obj.ref] = InventoryEntry(obj.ref, component, obj.digest, fields_fingerprint(live))
                return live
            except NotServedError as error:
                if not self._refresh_discovery() and time.monotonic() + delay > give_up["other"]:
                    raise ObjectFailed(obj.ref, error) from None
            except ApiError as error:
                window = give_up["webhook" if "webhook" in error.message else "other"]
                if not error.transient or time.monotonic() + delay > window:
                    raise ObjectFailed(obj.ref, error) from None
                if "webhook" in error.message and not announced:
                    self.reporter.event("waiting", component=component, object=str(obj.ref), reason=error.message[:300])
                    announced = True
            time.sleep(delay)
            delay = min(delay * 2, 3.0)

    def _refresh_discovery(self, *, force: bool = False) -> bool:
        """Refresh discovery at most once a second; True when this call refreshed it."""
        with self._discovery_lock:
            if not force and time.monotonic() - self._last_discovery < 1.0:
                return False
            self.api.refresh_discovery()
            self._last_discovery = time.monotonic()
            return True

    def _wait(self, objects: dict[ObjectRef, dict[str, Any] | None], component: str) -> None:
        """Until every object is ready (kstatus rules), polling only the ones that are not."""
        pending = {
            ref: obj for ref, obj in objects.items() if obj is None or not readiness(obj, relax=self.plan.relax).ready
        }
        delay = 0.2
        while pending:
            for ref, obj in list(pending.items()):
                status = readiness(obj, relax=self.plan.relax)
                if status.ready:
                    del pending[ref]
                elif status.state is State.FAILED:
                    raise _failed(ref, obj, status, self.api)
            if not pending:
                return
            if time.monotonic() > self.deadline:
                ref, obj = next(iter(pending.items()))
                raise _timeout(component, ref, obj, readiness(obj, relax=self.plan.relax), self.api, len(pending))
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
            refs = list(pending)
            futures = [self.pool.submit(self._get_quietly, ref) for ref in refs]
            for ref, future in zip(refs, futures, strict=True):
                pending[ref] = future.result()

    def _nudge_stuck_crds(
        self, pending: dict[ObjectRef, dict[str, Any] | None], started: float, nudged: dict[ObjectRef, float]
    ) -> None:
        """A CRD whose names are accepted but which stays "Installing" (seen after an API server restart:
        the establishing controller is only queued on updates) is touched, at most every 10 s, with an
        annotation under a field manager of its own, so kfctl's field fingerprints stay as they were."""
        now = time.monotonic()
        if now - started < 5:
            return
        for ref, obj in pending.items():
            if ref.kind != "CustomResourceDefinition" or now - nudged.get(ref, 0.0) < 10:
                continue
            conditions = {
                c.get("type"): c.get("status") for c in ((obj or {}).get("status") or {}).get("conditions") or []
            }
            if conditions.get("NamesAccepted") == "True" and conditions.get("Established") != "True":
                nudged[ref] = now
                self.api.apply(
                    {
                        "apiVersion": ref.api_version,
                        "kind": ref.kind,
                        "metadata": {
                            "name": ref.name,
                            "annotations": {"kfctl.dev/establish-requested": str(int(time.time()))},
                        },
                    },
                    field_manager="kfctl-establish",
                )
                self._count_writes(1)
                self.reporter.event(
                    "waiting",
                    component=ref.name,
                    object=str(ref),
                    reason="CRD names accepted but not Established: touched it to requeue",
                )

    def _get_quietly(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            return self.api.get(ref)
        except NotServedError:
            return None

    # -- prune ----------------------------------------------------------------------------------

    def _prune(self, stale: list[InventoryEntry]) -> tuple[list[str], list[str]]:
        """Delete what the config no longer contains; keep data (PVCs, CRDs, namespaces holding data)."""
        pruned: list[str] = []
        kept: list[str] = []
        order = sorted(stale, key=lambda e: (e.ref.kind in ("Namespace", "CustomResourceDefinition"), str(e.ref)))
        for entry in order:
            ref = entry.ref
            try:
                live = self.api.get(ref)
            except NotServedError:
                continue
            if live is None:
                pruned.append(str(ref))
                continue
            if (live.get("metadata") or {}).get("labels", {}).get(APPLYSET_PART_OF) != self.inventory.applyset_id:
                kept.append(f"{ref} (no longer labelled as kfctl's)")
                continue
            if ref.kind in KEEP_ON_PRUNE and not self._namespace_is_empty(ref):
                kept.append(
                    f"{ref} ({'holds data' if ref.kind != 'PersistentVolumeClaim' else 'data'}: "
                    "delete it yourself, or `kfctl delete --purge`)"
                )
                continue
            self.api.delete(ref)
            self._count_writes(1)
            pruned.append(str(ref))
        if pruned or kept:
            self.reporter.event("prune", pruned=pruned, kept=kept)
        return pruned, kept

    def _namespace_is_empty(self, ref: ObjectRef) -> bool:
        """A namespace kfctl created may go once nothing but kfctl's own objects and defaults are left."""
        if ref.kind != "Namespace":
            return False
        for kind in ("PersistentVolumeClaim", "ConfigMap", "Secret", "Pod"):
            resource = self.api.resource_for("v1", kind)
            for item in self.api.list_objects(resource, namespace=ref.name):
                metadata = item.get("metadata") or {}
                if metadata.get("name") == "kube-root-ca.crt" or metadata.get("ownerReferences"):
                    continue
                if (metadata.get("labels") or {}).get(APPLYSET_PART_OF) == self.inventory.applyset_id:
                    continue
                return False
        return True

    def _count_writes(self, count: int) -> None:
        with self._writes_lock:
            self.writes += count


def _soon(seconds: float) -> float:
    return time.monotonic() + seconds


def _gate_api_version(kind: str) -> str:
    return {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}.get(
        kind, "v1"
    )


def _conditions(obj: dict[str, Any] | None) -> list[dict[str, Any]]:
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
        "conditions": _conditions(obj),
        "events": _events(api, ref),
    }
    return error


def _failed(ref: ObjectRef, obj: dict[str, Any] | None, status: Readiness, api: Api) -> KfctlError:
    error = ApiError(
        f"{status.message}; conditions: {_conditions(obj)}; events: {_events(api, ref)}"[:800],
        status=0,
        reason="Failed",
    )
    return ObjectFailed(ref, error)
