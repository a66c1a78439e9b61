"""Leftovers of earlier installs that break a new one: webhooks whose Service is gone (every request
they match is refused), aggregated APIs that do not answer (discovery and namespace deletion
stall), CRDs another installer owns, and another kfctl run of this app holding its lock."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfctl.kube.api import FIELD_MANAGER
from kfctl.kube.lease import Holder, LockState, lock_ref, read_lock
from kfctl.kube.ownership import (
    APP_LABEL,
    APPLYSET_PART_OF,
    RECORD_LABEL,
    REVISION_LABEL,
    STATUS_ANNOTATION,
    SYSTEM_NAMESPACE,
    Owner,
    applyset_owners,
    owner_of,
)
from kfctl.preflight.context import (
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


def other_installers(crd: Mapping[str, Any]) -> list[str]:
    """Installers that wrote fields of this CRD besides kfctl (managedFields): kubectl, Argo CD, Flux, …;
    controllers that set a field or two (CA bundles, status) do not count."""
    installers: list[str] = []
    for entry in (crd.get("metadata") or {}).get("managedFields") or []:
        manager = str(entry.get("manager", ""))
        if entry.get("subresource") or manager in CONTROLLER_MANAGERS or manager == FIELD_MANAGER:
            continue
        installer = installer_of(manager)
        described = installer if installer == manager else f"{installer} ({manager})"
        if described not in installers:
            installers.append(described)
    return installers


def evaluate_crd_owners(
    owners: Mapping[str, tuple[str, Owner]], installers: Mapping[str, tuple[str, list[str]]], *, adopt: bool
) -> Outcome | None:
    """FAIL for CRDs another kfctl app, ApplySet or Helm release owns (apply refuses them), WARN when
    adopting them or when other installers wrote fields of them; None when there is nothing to say.
    `owners`: CRD → (component, owner); `installers`: CRD → (component, installer names)."""
    details: dict[str, Any] = {
        "owned": {name: {"component": c, "owner": o.describe()} for name, (c, o) in owners.items()},
        "installers": {name: {"component": c, "managers": m} for name, (c, m) in installers.items()},
    }
    if owners:
        described = "; ".join(
            f"{o.describe()}: {listing(sorted(n for n, (_, x) in owners.items() if x == o), 3)}"
            for o in sorted({o for _, o in owners.values()}, key=lambda o: o.describe())
        )
        text = (
            f"{count(len(owners), 'CRD')} the plan applies {'is' if len(owners) == 1 else 'are'} owned by {described}"
        )
        if adopt:
            return warning(
                text + "; --adopt takes them over", "make sure the other owner no longer manages them", **details
            )
        return failed(
            text + "; apply refuses to take them over",
            "leave those components out of this app's config, uninstall the other owner first, "
            "or pass --adopt to take them over",
            **details,
        )
    if installers:
        by_component: dict[str, list[str]] = {}
        for name, (component, managers) in installers.items():
            by_component.setdefault(component, []).append(f"{name} ({', '.join(managers)})")
        described = "; ".join(f"{c}: {listing(names, 3)}" for c, names in sorted(by_component.items()))
        return warning(
            f"{count(len(installers), 'CRD')} the plan applies {'was' if len(installers) == 1 else 'were'} also "
            f"written by another installer: {described}; kfctl takes over their fields (server-side apply with "
            "force) and the other installer may fight it",
            "uninstall the other installation first, or leave those components out of kfctl.yaml",
            **details,
        )
    return None


def check_foreign_crds(ctx: CheckContext) -> Outcome:
    planned = ctx.planned("CustomResourceDefinition")
    if not planned:
        return passed("the plan applies no CRDs")
    applyset_id = ctx.applyset_id
    live = ctx.crds()
    existing = [(obj, live[obj.ref.name]) for obj in planned if obj.ref.name in live]
    ids = {str(((c.get("metadata") or {}).get("labels") or {}).get(APPLYSET_PART_OF) or "") for _, c in existing}
    parents = applyset_owners(ctx.api, {i for i in ids if i and i != applyset_id})
    owners: dict[str, tuple[str, Owner]] = {}
    installers: dict[str, tuple[str, list[str]]] = {}
    for obj, crd in existing:
        owner = owner_of(crd.get("metadata") or {}, applyset_id, parents)
        if owner.foreign:
            owners[obj.ref.name] = (obj.component, owner)
        elif others := other_installers(crd):
            installers[obj.ref.name] = (obj.component, others)
    verdict = evaluate_crd_owners(owners, installers, adopt=ctx.options.adopt)
    if verdict is not None:
        verdict.details.update({"planned": len(planned), "existing": len(existing)})
        return verdict
    return passed(
        f"none of the plan's {count(len(planned), 'CRD')} is managed by another installer "
        f"({len(existing)} exist already)",
        planned=len(planned),
        existing=len(existing),
    )


# -- another run of this app ------------------------------------------------------------------------------


def evaluate_release(
    app: str, records: list[dict[str, Any]], lock: tuple[LockState, Holder | None, str], now: float
) -> Outcome:
    """FAIL while another run holds the app's lock; WARN for a release an interrupted run left pending
    (the next apply resumes it); PASS otherwise. `lock`: (state, holder, why) of the app's Lease."""
    state, holder, why = lock
    if state is LockState.HELD and holder is not None:
        return failed(
            f"another kfctl run of {app} is in progress: {holder.describe(now)}",
            f"wait for it to finish; if it is gone, `kfctl unlock --app {app}` (it also goes stale after "
            f"{holder.duration}s without renewal)",
            holder=holder.as_dict(),
        )

    def revision(record: dict[str, Any]) -> int:
        value = labels_of(record).get(REVISION_LABEL, "0")
        return int(value) if value.isdigit() else 0

    if not records:
        return passed(f"no earlier release of {app}")
    latest = max(records, key=revision)
    metadata = latest.get("metadata") or {}
    status = str((metadata.get("annotations") or {}).get(STATUS_ANNOTATION, "unknown"))
    details: dict[str, Any] = {
        "revision": revision(latest),
        "status": status,
        "record": f"{SYSTEM_NAMESPACE}/{name_of(latest)}",
    }
    if status != "pending":
        return passed(f"latest release of {app}: revision {revision(latest)}, {status}", **details)
    stale = f" (its lock is stale: {why})" if state is LockState.STALE else ""
    return warning(
        f"release {revision(latest)} of {app} was left pending by an interrupted run{stale}",
        "apply again: it resumes from the recorded inventory and prunes what is no longer planned",
        **details,
    )


def check_release_in_progress(ctx: CheckContext) -> Outcome:
    records = ctx.list_metadata(
        "v1", "ConfigMap", namespace=SYSTEM_NAMESPACE, label_selector=f"{APP_LABEL}={ctx.app},{RECORD_LABEL}=true"
    )
    if ctx.resource("coordination.k8s.io/v1", "Lease") is None:
        lock: tuple[LockState, Holder | None, str] = (LockState.FREE, None, "")
    else:
        _, holder, state, why = read_lock(ctx.api, lock_ref(ctx.app), host=socket.gethostname())
        lock = (state, holder, why)
    return evaluate_release(ctx.app, records, lock, ctx.api.server_time())


CHECKS = (
    Check("leftover-webhooks", "Webhooks without a Service", check_leftover_webhooks),
    Check("leftover-apiservices", "Aggregated APIs not available", check_leftover_apiservices),
    Check("foreign-crds", "CRDs of other installers", check_foreign_crds),
    Check("release-in-progress", "another kfctl run of this app", check_release_in_progress),
)
