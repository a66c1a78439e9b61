"""The apply walk: observe, decide, lock, record, apply in waves, prune, record again.

observe   this app's previous release, its live members, who else claims the planned objects
decide    kfctl.deploy.change: unchanged / apply / stale / foreign; foreign objects refused
          (exit 2, nothing written) unless --adopt; nothing to do means no write at all
lock      the app's Lease (kfctl.deploy.lock), then the state is read again if it moved meanwhile
record    a pending release record holding the union of old and new inventory (crash-safe)
apply     components in dependency waves, independent ones in parallel; inside each: definitions →
          CRDs Established and discovery refreshed once → objects → their readiness → admission
          (webhooks, CA bundles) → custom resources → the component's extra readiness gates
prune     kfctl.deploy.prune, in reverse apply order, keeping data
record    the final release record: deployed or failed, with what was adopted
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kfctl.deploy.change import Change, compute_change
from kfctl.deploy.claims import claims
from kfctl.deploy.events import Reporter
from kfctl.deploy.lock import AppLock
from kfctl.deploy.plan import ComponentPlan, Plan, PlannedObject, normalize_scopes
from kfctl.deploy.prune import Outcome, Remover
from kfctl.deploy.record import Inventory, InventoryEntry, ReleaseRecord, ReleaseStatus, fields_fingerprint
from kfctl.deploy.results import ApplyReport, ApplyStatus, ComponentResult, ComponentStatus
from kfctl.deploy.wait import ObjectFailed, Waiter, gate_ref
from kfctl.errors import KfctlError, WaitTimeoutError
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.errors import ApiError, Forbidden, NotServedError, WebhookUnavailable
from kfctl.kube.ownership import APPLYSET_PART_OF
from kfctl.platform.graph import transitive_dependents
from kfctl.platform.kinds import Stage

# Transient errors get a bounded window of their own: a webhook may take minutes to answer, a kind
# that is still not served after its CRD is Established will not be served by waiting.
WEBHOOK_RETRY_SECONDS = 300.0
# Applied for the whole plan before any component starts (CRDs take seconds to be Established).
UPFRONT_KINDS = frozenset({"Namespace", "CustomResourceDefinition"})
OTHER_RETRY_SECONDS = 30.0


@dataclass
class ApplyOptions:
    wait: bool = True
    timeout: float = 900.0
    concurrency: int = 16
    prune: bool = True
    adopt: bool = False
    # Namespaces whose data pruning may delete with them (`kfctl tenant delete --force`); the rest are
    # kept while they hold data.
    purge_namespaces: frozenset[str] = frozenset()


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
        lock: AppLock | None = None,
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
        # A lock the caller already holds (`kfctl upgrade` holds it across its steps and migrations).
        self.owns_lock = lock is None
        self.lock = lock or AppLock(api, plan.app, "apply", reporter)
        self.deadline = time.monotonic() + options.timeout
        self.pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="kfctl-apply")
        self.waiter = Waiter(api, self.pool, plan.relax, self.deadline)
        self.results = {c.name: ComponentResult(c.name, c.wave) for c in plan.components}
        self.entries: dict[ObjectRef, InventoryEntry] = {}
        self.live: dict[ObjectRef, dict[str, Any]] = {}
        self.upfront: dict[ObjectRef, dict[str, Any]] = {}  # Namespaces and CRDs applied before any component
        self.upfront_failures: dict[str, KfctlError] = {}
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
            if self.lock.held and self.owns_lock:
                self.lock.release()
                self._count_writes(1)

    def _run(self) -> ApplyReport:
        self.api.refresh_discovery()
        normalize_scopes(self.plan, self.api.served_kinds())
        change = self._decide()
        if self.owns_lock:
            self.lock.ensure_free()  # another run holds it: say so (exit 5) before checks or writes
        if change.no_op:
            return self._no_op(change)
        if self.before_writes:
            self.before_writes()
        self.inventory.ensure_namespace()
        if self.owns_lock:
            self.lock.acquire()
            self._count_writes(1)
        latest = self.inventory.latest()
        if _revision(latest) != _revision(change.previous):
            change = self._decide()  # another run finished between our read and the lock
            if change.no_op:
                return self._no_op(change)
        return self._apply(change)

    def _decide(self) -> Change:
        try:
            previous = self.inventory.latest()
        except Forbidden:
            if self.before_writes:
                self.before_writes()  # the full report of what is missing, not just the first refusal
            raise
        if previous:
            previous.inventory = self._normalized(previous.inventory)
        self.live = self._live_members(previous) if previous else {}
        owners = claims(self.api, self.plan.objects, set(self.live), self.inventory.applyset_id)
        components = {c.name for c in self.plan.components} if self.partial else None
        change = compute_change(self.plan.objects, previous, self.live, owners, partial_components=components)
        if change.foreign and not self.options.adopt:
            raise change.refusal(self.plan.app)
        return change

    def _apply(self, change: Change) -> ApplyReport:
        previous = change.previous
        revision = _revision(previous) + 1
        self.entries.update(change.unchanged)
        adopted = change.adopted()
        record = ReleaseRecord(
            self.plan.app,
            revision,
            ReleaseStatus.PENDING,
            self.plan.platform,
            self.plan.profile,
            self.plan.config_digest,
            adopted=adopted,
            started=time.time(),
        )
        record.inventory = change.superset(self.plan.objects)
        self._write_record(record)
        self.reporter.event(
            "start",
            app=self.plan.app,
            revision=revision,
            components=len(self.plan.components),
            objects=len(self.plan.objects),
            unchanged=len(change.unchanged),
            waves=len(self.plan.waves),
            adopted=len(change.foreign),
            orphaned=len(change.orphaned),
            relaxed=self.plan.relaxed_objects,
        )
        self._run_components(set(change.unchanged))
        results = list(self.results.values())
        failed = [r for r in results if not r.ok]
        pruned: list[str] = []
        kept: list[str] = []
        if not failed and self.options.prune:
            pruned, kept = self._prune(change.stale)
        # The final inventory: what was planned, plus anything stale that was not pruned.
        final = {
            o.ref: self.entries.get(o.ref) or InventoryEntry(o.ref, o.component, o.digest) for o in self.plan.objects
        }
        for entry in [*change.stale, *change.untouched]:
            if str(entry.ref) not in pruned:
                final[entry.ref] = entry
        if not failed:
            status = ApplyStatus.DEPLOYED
        else:
            timed_out = any(r.status is ComponentStatus.TIMEOUT for r in failed)
            status = ApplyStatus.TIMEOUT if timed_out else ApplyStatus.FAILED
        record.status = ReleaseStatus.DEPLOYED if not failed else ReleaseStatus.FAILED
        record.inventory = list(final.values())
        record.components = {
            r.name: {
                "status": r.status.value,
                "wave": r.wave,
                "message": r.message,
                "applied": r.applied,
                "unchanged": r.unchanged,
            }
            for r in results
        }
        record.finished = time.time()
        record.message = "; ".join(f"{r.name}: {r.message}" for r in failed)[:1000]
        self._write_record(record)
        return ApplyReport(
            self.plan.app,
            revision,
            status,
            results,
            pruned,
            kept,
            self.plan.relaxed_objects,
            adopted,
            self.api.request_count,
            time.monotonic() - self.t0,
            self.writes,
        )

    def _write_record(self, record: ReleaseRecord) -> None:
        self.lock.check()
        self.inventory.write_parent(record.inventory)
        self.inventory.write(record)
        self._count_writes(2)

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

    def _no_op(self, change: Change) -> ApplyReport:
        """Nothing to change: no write at all; with --wait, readiness read from the listed objects."""
        assert change.previous is not None
        for component in self.plan.components:
            result = self.results[component.name]
            result.status, result.unchanged = ComponentStatus.UNCHANGED, len(component.objects)
            if self.options.wait:
                waiting = [o.ref for o in component.objects if not self.waiter.ready(self.live.get(o.ref))]
                if waiting:
                    started = time.monotonic()
                    try:
                        self.waiter.wait({ref: self.live.get(ref) for ref in waiting}, component.name)
                    except WaitTimeoutError as error:
                        result.status, result.message = ComponentStatus.TIMEOUT, error.message
                    result.wait_seconds = time.monotonic() - started
            self.reporter.event(
                "component", name=component.name, status=result.status.value, applied=0, unchanged=result.unchanged
            )
        failed = [r for r in self.results.values() if not r.ok]
        return ApplyReport(
            self.plan.app,
            change.previous.revision,
            ApplyStatus.TIMEOUT if failed else ApplyStatus.UNCHANGED,
            list(self.results.values()),
            relaxed=self.plan.relaxed_objects,
            requests=self.api.request_count,
            seconds=time.monotonic() - self.t0,
            writes=0,
        )

    def _live_members(self, previous: ReleaseRecord) -> dict[ObjectRef, dict[str, Any]]:
        """The app's objects as the cluster holds them: one labelled list per kind."""
        kinds = {(e.ref.api_version, e.ref.kind) for e in previous.inventory}
        kinds |= {(o.ref.api_version, o.ref.kind) for o in self.plan.objects}
        selector = f"{APPLYSET_PART_OF}={self.inventory.applyset_id}"
        futures = [
            self.pool.submit(self.api.list_kind, api_version, kind, label_selector=selector)
            for api_version, kind in sorted(kinds)
        ]
        return {ObjectRef.of(item): item for future in futures for item in future.result()}

    # -- waves and components -------------------------------------------------------------------

    def _run_components(self, unchanged: set[ObjectRef]) -> None:
        """Namespaces and CRDs of the whole plan sent at once, so CRDs become Established while other work
        goes on; each component starts as soon as its own definitions are sent and the components it
        depends on are done, not when their whole wave is (a thread per component)."""
        components = {c.name: c for c in self.plan.components}
        definitions_runner = ThreadPoolExecutor(max_workers=max(1, len(components)), thread_name_prefix="kfctl-defs")
        definitions = self._apply_definitions_first(unchanged, definitions_runner)
        done = {name: threading.Event() for name in components}
        wave_of = {name: index for index, wave in enumerate(self.plan.waves) for name in wave}
        announced: set[int] = set()
        announce = threading.Lock()

        def run(component: ComponentPlan) -> None:
            try:
                definitions[component.name].result()  # its own Namespaces and CRDs sent
                for dependency in component.depends_on:
                    if dependency in done:
                        done[dependency].wait()
                wave = wave_of.get(component.name, 0)
                with announce:
                    if wave not in announced:  # the first of its wave to start says so
                        announced.add(wave)
                        self.reporter.event(
                            "wave", index=wave + 1, total=len(self.plan.waves), components=self.plan.waves[wave]
                        )
                self._component(component, unchanged)
            finally:
                done[component.name].set()

        try:
            with ThreadPoolExecutor(
                max_workers=max(1, len(components)), thread_name_prefix="kfctl-component"
            ) as runner:
                for future in [runner.submit(run, c) for c in self.plan.components]:
                    future.result()
        finally:
            definitions_runner.shutdown(wait=True)

    def _apply_definitions_first(
        self, unchanged: set[ObjectRef], runner: ThreadPoolExecutor
    ) -> dict[str, Future[None]]:
        """Every Namespace and CRD of the plan at once, one group per component, while the components
        start: a component waits for its own group only. A group that fails fails its component (and so
        skips its dependents), not the others."""

        def apply_group(name: str, objects: list[PlannedObject]) -> None:
            try:
                self.upfront.update(self._apply_all(objects, name))
            except KfctlError as error:
                self.upfront_failures[name] = error

        # The components most others wait for first (istio, cert-manager): their CRDs are on the critical path.
        dependents = transitive_dependents({c.name: c.depends_on for c in self.plan.components})
        order = sorted(self.plan.components, key=lambda c: (-len(dependents[c.name]), c.wave))
        return {
            c.name: runner.submit(
                apply_group,
                c.name,
                [o for o in c.stage(Stage.DEFINITIONS) if o.ref.kind in UPFRONT_KINDS and o.ref not in unchanged],
            )
            for c in order
        }

    def _component(self, component: ComponentPlan, unchanged: set[ObjectRef]) -> None:
        result = self.results[component.name]
        result.started = time.monotonic() - self.t0
        blocked = [d for d in component.depends_on if d in self.results and not self.results[d].ok]
        if blocked:
            result.status = ComponentStatus.SKIPPED
            result.message = f"not applied: dependency {', '.join(blocked)} did not become ready"
            self.reporter.event("component", name=component.name, status=result.status.value, message=result.message)
            result.finished = result.started
            return
        try:
            failure = self.upfront_failures.get(component.name)
            if failure is not None:
                raise failure
            self._apply_component(component, unchanged, result)
            result.status = ComponentStatus.APPLIED if result.applied else ComponentStatus.UNCHANGED
        except ObjectFailed as error:
            result.status, result.message = ComponentStatus.FAILED, error.one_line()
            result.detail = {"object": str(error.ref), "reason": error.error.reason, "code": error.error.status}
        except WaitTimeoutError as error:
            result.status, result.message = ComponentStatus.TIMEOUT, error.message
            result.detail = error.detail
        except KfctlError as error:
            result.status, result.message = ComponentStatus.FAILED, error.one_line()
        result.finished = time.monotonic() - self.t0
        self.reporter.event(
            "component",
            name=component.name,
            status=result.status.value,
            applied=result.applied,
            unchanged=result.unchanged,
            seconds=round(result.finished - result.started, 2),
            message=result.message,
            **({"detail": result.detail} if result.detail else {}),
        )

    def _apply_component(self, component: ComponentPlan, unchanged: set[ObjectRef], result: ComponentResult) -> None:
        for stage in Stage:
            objects = component.stage(stage)
            if not objects:
                continue
            todo = [o for o in objects if o.ref not in unchanged]
            result.unchanged += len(objects) - len(todo)
            started = time.monotonic()
            applied = self._apply_all([o for o in todo if o.ref not in self.upfront], component.name)
            result.applied += len(todo)
            result.apply_seconds += time.monotonic() - started
            state = {o.ref: applied.get(o.ref) or self.upfront.get(o.ref) or self.live.get(o.ref) for o in objects}
            if stage is Stage.DEFINITIONS:
                # CRDs must be Established before anything can use them; then discovery learns them.
                crds = {ref: obj for ref, obj in state.items() if ref.kind == "CustomResourceDefinition"}
                if crds:
                    self._timed_wait(crds, component.name, result)
                    self._refresh_discovery(force=True)
                continue
            if self.options.wait:
                self._timed_wait(state, component.name, result)
        if self.options.wait and component.gates:
            self._timed_wait({gate_ref(g): None for g in component.gates}, component.name, result)

    def _timed_wait(
        self, objects: dict[ObjectRef, dict[str, Any] | None], component: str, result: ComponentResult
    ) -> None:
        started = time.monotonic()
        try:
            self.waiter.wait(objects, component)
        finally:
            result.wait_seconds += time.monotonic() - started

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
        give_up = {"webhook": time.monotonic() + WEBHOOK_RETRY_SECONDS, "other": time.monotonic() + OTHER_RETRY_SECONDS}
        while True:
            if time.monotonic() > self.deadline:
                raise WaitTimeoutError(f"component {component}: timed out applying {obj.ref}")
            self.lock.check()
            try:
                live = self.api.apply(obj.manifest)
                self._count_writes(1)
                with self._entries_lock:
                    self.entries[obj.ref] = InventoryEntry(obj.ref, component, obj.digest, fields_fingerprint(live))
                return live
            except NotServedError as error:
                if not self._refresh_discovery() and time.monotonic() + delay > give_up["other"]:
                    raise ObjectFailed(obj.ref, error) from None
            except WebhookUnavailable as error:
                if time.monotonic() + delay > give_up["webhook"]:
                    raise ObjectFailed(obj.ref, error) from None
                if not announced:
                    self.reporter.event("waiting", component=component, object=str(obj.ref), reason=error.message[:300])
                    announced = True
            except ApiError as error:
                if not error.transient or time.monotonic() + delay > give_up["other"]:
                    raise ObjectFailed(obj.ref, error) from None
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

    # -- prune ----------------------------------------------------------------------------------

    def _prune(self, stale: list[InventoryEntry]) -> tuple[list[str], list[str]]:
        """Delete what the config no longer contains; keep data (PVCs, CRDs, namespaces holding data)."""
        remover = Remover(
            self.api, self.inventory.applyset_id, before_write=self.lock.check, on_write=self._count_writes
        )
        order = [c.name for c in self.plan.components]
        removals = remover.remove_all(
            stale,
            order,
            purge=False,
            concurrency=self.options.concurrency,
            purge_namespaces=self.options.purge_namespaces,
        )
        pruned = [str(r.ref) for r in removals if r.outcome is not Outcome.KEPT]
        kept = [f"{r.ref} ({r.why})" for r in removals if r.outcome is Outcome.KEPT]
        if pruned or kept:
            self.reporter.event("prune", pruned=pruned, kept=kept)
        return pruned, kept

    def _count_writes(self, count: int) -> None:
        with self._writes_lock:
            self.writes += count


def _revision(record: ReleaseRecord | None) -> int:
    return record.revision if record else 0
