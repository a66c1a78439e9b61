"""`kfctl delete`: the app's objects in reverse apply order under the app's lock, keeping data unless
--purge, then its records, its lock and (when no other app uses it) kfctl-system."""

from __future__ import annotations

from kfctl.deploy.events import Reporter
from kfctl.deploy.lock import AppLock
from kfctl.deploy.prune import Outcome, Remover, wait_namespaces_gone
from kfctl.deploy.record import Inventory
from kfctl.deploy.results import DeleteReport
from kfctl.deploy.status import no_release
from kfctl.errors import WaitTimeoutError
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.ownership import SYSTEM_NAMESPACE


def delete_app(api: Api, app: str, *, purge: bool, timeout: float, reporter: Reporter) -> DeleteReport:
    inventory = Inventory(api, app)
    record = inventory.latest()
    if record is None:
        raise no_release(app)
    lock = AppLock(api, app, "delete", reporter)
    lock.acquire()
    try:
        api.refresh_discovery()
        report = DeleteReport(app)
        reporter.event("delete", app=app, objects=len(record.inventory), purge=purge)
        removals = Remover(api, inventory.applyset_id, before_write=lock.check).remove_all(
            record.inventory, record.component_order(), purge=purge
        )
        for removal in removals:
            if removal.outcome is Outcome.KEPT:
                report.kept.append((str(removal.ref), removal.why))
            else:
                report.deleted.append(str(removal.ref))
        deleted_namespaces = [r.ref for r in removals if r.ref.kind == "Namespace" and r.outcome is Outcome.DELETED]
        report.stuck = wait_namespaces_gone(api, deleted_namespaces, timeout)
        if report.stuck:
            stuck = report.stuck[0]
            error = WaitTimeoutError(
                f"namespace {stuck['namespace']} is stuck in Terminating: {stuck['reason']}",
                hint="remove the finalizers or objects named, or wait for their controllers",
            )
            error.detail = report.as_dict()
            raise error
        inventory.delete_records()
        lock.release(delete=True)
        _delete_system_namespace_if_unused(api)
        reporter.event("deleted", app=app, deleted=len(report.deleted), kept=report.kept_summary())
        return report
    finally:
        if lock.held:
            lock.release()


def _delete_system_namespace_if_unused(api: Api) -> None:
    """kfctl-system goes with the last app: nothing but the API server's own CA ConfigMap left in it."""
    left = [
        i
        for kind in ("ConfigMap", "Lease")
        for i in api.list_kind(
            "coordination.k8s.io/v1" if kind == "Lease" else "v1", kind, namespace=SYSTEM_NAMESPACE, metadata_only=True
        )
        if i["metadata"]["name"] != "kube-root-ca.crt"
    ]
    if not left:
        api.delete(ObjectRef("v1", "Namespace", "", SYSTEM_NAMESPACE))
