"""Leftovers of earlier installs that break a new one: webhooks whose Service is gone (every request
they match is refused), aggregated APIs that do not answer (discovery and namespace deletion
stall), CRDs another installer owns, and a kfctl release of this app still in progress."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kfctl.kube.api import FIELD_MANAGER
from kfctl.preflight.context import (
    APP_LABEL,
    APPLYSET_PART_OF,
    RECORD_LABEL,
    REVISION_LABEL,
    STATUS_ANNOTATION,
    SYSTEM_NAMESPACE,
    Check,
    CheckContext,
    Outcome,
    count,
    failed,
    labels_of,
    listing,
    name_of,
    namespace_of,
    passed,
    warning,
)

# A pending release written this recently is probably an apply still running, not an interrupted one.
RECENT_SECONDS = 15 * 60
# Field managers of controllers that set a field or two on CRDs (CA bundles, status): not installers.
CONTROLLER_MANAGERS = frozenset(
    {"kube-apiserver", "kube-controller-manager", "cert-manager-cainjector", "cainjector", "webhook"}
)
# How installers name themselves in managedFields: prefix → installer.
INSTALLERS: tuple[tuple[str, str], ...] = (
    ("helm-controller", "Flux (Helm)"),
    ("kustomize-controller", "Flux"),
    ("helm", "Helm"),
    ("kubectl", "kubectl"),
    ("argocd", "Argo CD"),
    ("catalog", "OLM"),
    ("olm", "OLM"),
)


# -- webhooks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookTarget:
    configuration: str  # "ValidatingWebhookConfiguration name"
    webhook: str
    namespace: str
    service: str
    failure_policy: str

    def describe(self) -> str:
        return (
            f"{self.configuration} (webhook {self.webhook}) → Service {self.namespace}/{self.service}, "
            f"failurePolicy {self.failure_policy}"
        )


def webhook_targets(configurations: list[dict[str, Any]]) -> list[WebhookTarget]:
    targets = []
    for config in configurations:
        for webhook in config.get("webhooks") or []:
            service = (webhook.get("clientConfig") or {}).get("service")
            if service:
                targets.append(
                    WebhookTarget(
                        f"{config.get('kind', 'WebhookConfiguration')} {name_of(config)}",
                        str(webhook.get("name", "")),
                        str(service.get("namespace", "")),
                        str(service.get("name", "")),
                        str(webhook.get("failurePolicy") or "Fail"),  # admissionregistration/v1's default
                    )
                )
    return targets


def evaluate_webhooks(
    targets: list[WebhookTarget], services: set[tuple[str, str]], planned_services: set[tuple[str, str]]
) -> Outcome:
    missing = [t for t in targets if (t.namespace, t.service) not in services]
    details: dict[str, Any] = {"webhooks": len(targets), "missingService": [t.describe() for t in missing]}
    if not missing:
        return passed(f"every webhook that calls a Service has it ({count(len(targets), 'webhook')})", **details)
    blocking = [t for t in missing if t.failure_policy != "Ignore" and (t.namespace, t.service) not in planned_services]
    delete = (
        "delete what an earlier install left: `kubectl delete validatingwebhookconfiguration|"
        "mutatingwebhookconfiguration NAME`"
    )
    if blocking:
        return failed(
            f"{count(len(blocking), 'webhook')} call a Service that does not exist, and the API server refuses "
            f"every request they match: {listing([t.describe() for t in blocking], 4)}",
            delete,
            **details,
        )
    return warning(
        f"{count(len(missing), 'webhook')} call a Service that does not exist yet (failurePolicy Ignore, or the "
        f"plan creates it): {listing([t.describe() for t in missing], 4)}",
        delete + " (if the plan does not create it)",
        **details,
    )


def check_leftover_webhooks(ctx: CheckContext) -> Outcome:
    targets = webhook_targets(ctx.webhook_configurations())
    if not targets:
        return passed("no webhook configuration calls a Service")
    services = {(namespace_of(s), name_of(s)) for s in ctx.list_metadata("v1", "Service")}
    planned = {(o.ref.namespace, o.ref.name) for o in ctx.planned("Service")}
    return evaluate_webhooks(targets, services, planned)


# -- aggregated APIs ------------------------------------------------------------------------------------


def evaluate_api_services(items: list[dict[str, Any]]) -> Outcome:
    unavailable = []
    for item in items:
        service = (item.get("spec") or {}).get("service")
        if not service:
            continue  # served by the API server itself
        available: dict[str, Any] = next(
            (c for c in (item.get("status") or {}).get("conditions") or [] if c.get("type") == "Available"), {}
        )
        if str(available.get("status")) != "True":
            unavailable.append(
                {
                    "apiService": name_of(item),
                    "service": f"{service.get('namespace')}/{service.get('name')}",
                    "reason": available.get("reason", "Unknown"),
                    "message": str(available.get("message", ""))[:200],
                }
            )
    aggregated = sum(1 for i in items if (i.get("spec") or {}).get("service"))
    details: dict[str, Any] = {"aggregated": aggregated, "unavailable": unavailable}
    if not unavailable:
        return passed(
            f"{count(aggregated, 'aggregated API')}, all available" if aggregated else "no aggregated APIs", **details
        )
    described = listing([f"{u['apiService']} ({u['reason']}: Service {u['service']})" for u in unavailable], 4)
    fix = (
        "delete it if an earlier install left it (`kubectl delete apiservice NAME`), or fix its backend; "
        "while it does not answer, discovery is partial and namespaces cannot be deleted"
    )
    if any(u["reason"] == "ServiceNotFound" for u in unavailable):
        return failed(f"aggregated APIs whose Service is gone: {described}", fix, **details)
    return warning(f"aggregated APIs that do not answer: {described}", fix, **details)


def check_leftover_apiservices(ctx: CheckContext) -> Outcome:
    return evaluate_api_services(ctx.list_kind("apiregistration.k8s.io/v1", "APIService"))


# -- CRDs of other installers -----------------------------------------------------------------------------


def installer_of(manager: str) -> str:
    for prefix, installer in INSTALLERS:
        if manager.lower().startswith(prefix):
            return installer
    return manager


def foreign_owners(crd: Mapping[str, Any], applyset_id: str) -> list[str]:
    """Who else manages this CRD: another kfctl app, Helm, kubectl, ...; [] when only kfctl (or
    controllers that set a field of it) does."""
    metadata = crd.get("metadata") or {}
    labels = metadata.get("labels") or {}
    owner = labels.get(APPLYSET_PART_OF)
    if owner and applyset_id and owner == applyset_id:
        return []
    owners = []
    if owner:
        owners.append(f"another kfctl app ({owner})")
    for entry in metadata.get("managedFields") or []:
        manager = str(entry.get("manager", ""))
        if entry.get("subresource") or manager in CONTROLLER_MANAGERS or manager == FIELD_MANAGER:
            continue
        installer = installer_of(manager)
        described = installer if installer == manager else f"{installer} ({manager})"
        if described not in owners:
            owners.append(described)
    if labels.get("app.kubernetes.io/managed-by", "").lower() == "helm" and not any("Helm" in o for o in owners):
        owners.append("Helm")
    return owners


def check_foreign_crds(ctx: CheckContext) -> Outcome:
    planned = ctx.planned("CustomResourceDefinition")
    if not planned:
        return passed("the plan applies no CRDs")
    applyset_id = ctx.applyset_id
    live = ctx.crds()
    foreign: dict[str, dict[str, Any]] = {}
    for obj in planned:
        crd = live.get(obj.ref.name)
        if crd is not None:
            owners = foreign_owners(crd, applyset_id)
            if owners:
                foreign[obj.ref.name] = {"component": obj.component, "managers": owners}
    existing = sum(1 for o in planned if o.ref.name in live)
    details: dict[str, Any] = {"planned": len(planned), "existing": existing, "foreign": foreign}
    if not foreign:
        return passed(
            f"none of the plan's {count(len(planned), 'CRD')} is managed by another installer "
            f"({existing} exist already)",
            **details,
        )
    by_component: dict[str, list[str]] = {}
    for name, info in foreign.items():
        by_component.setdefault(info["component"], []).append(f"{name} ({', '.join(info['managers'])})")
    described = "; ".join(f"{component}: {listing(names, 3)}" for component, names in sorted(by_component.items()))
    return warning(
        f"{count(len(foreign), 'CRD')} the plan applies {'is' if len(foreign) == 1 else 'are'} managed by "
        f"another installer: {described}; kfctl would take over their fields (server-side apply with force) "
        "and the other installer may fight it",
        "uninstall the other installation first (e.g. `helm uninstall`), or leave those components out of "
        "kfctl.yaml and keep the other installer's",
        **details,
    )


# -- a release in progress ----------------------------------------------------------------------------------


def _timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def last_written(metadata: Mapping[str, Any]) -> float | None:
    times = [_timestamp(str(e.get("time", ""))) for e in metadata.get("managedFields") or []]
    times.append(_timestamp(str(metadata.get("creationTimestamp", ""))))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def evaluate_release(app: str, records: list[dict[str, Any]], now: float) -> Outcome:
    if not records:
        return passed(f"no earlier release of {app}")

    def revision(record: dict[str, Any]) -> int:
        value = labels_of(record).get(REVISION_LABEL, "0")
        return int(value) if value.isdigit() else 0

    latest = max(records, key=revision)
    metadata = latest.get("metadata") or {}
    status = str((metadata.get("annotations") or {}).get(STATUS_ANNOTATION, "unknown"))
    written = last_written(metadata)
    age = now - written if written is not None else None
    ago = f"{age / 60:.0f} min ago" if age is not None else "at an unknown time"
    details = {"revision": revision(latest), "status": status, "record": f"{SYSTEM_NAMESPACE}/{name_of(latest)}"}
    if status != "pending":
        return passed(f"latest release of {app}: revision {revision(latest)}, {status}", **details)
    resume = "if none runs, the earlier one was interrupted: applying again resumes from its recorded inventory"
    if age is not None and age < RECENT_SECONDS:
        return failed(
            f"release {revision(latest)} of {app} is in progress (pending, last written {ago}): "
            "another kfctl apply is probably running",
            f"wait for it to finish (`kfctl history`); {resume} (--ignore-preflight-errors=release-in-progress)",
            **details,
        )
    return warning(
        f"release {revision(latest)} of {app} was left pending ({ago}): an earlier apply was interrupted",
        "apply again: it resumes from the recorded inventory and prunes what is no longer planned",
        **details,
    )


def check_release_in_progress(ctx: CheckContext) -> Outcome:
    records = ctx.list_metadata(
        "v1", "ConfigMap", namespace=SYSTEM_NAMESPACE, label_selector=f"{APP_LABEL}={ctx.app},{RECORD_LABEL}=true"
    )
    return evaluate_release(ctx.app, records, time.time())


CHECKS = (
    Check("leftover-webhooks", "Webhooks without a Service", check_leftover_webhooks),
    Check("leftover-apiservices", "Aggregated APIs not available", check_leftover_apiservices),
    Check("foreign-crds", "CRDs of other installers", check_foreign_crds),
    Check("release-in-progress", "kfctl release in progress", check_release_in_progress),
)
