"""cert-manager: installed by this plan, or already in the cluster and answering.

Answering is tested the way the platform will use it: a Certificate created with dryRun=All goes
through cert-manager's webhook without being stored, and the API server's error, if any, says
what is wrong (CRDs missing, webhook Service missing, webhook not answering, CA not injected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from kfctl.errors import KfctlError
from kfctl.kube.ownership import APPLYSET_PART_OF, OwnerKind, applyset_owners, owner_of
from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    PlannedObjectLike,
    failed,
    labels_of,
    name_of,
    passed,
    skipped,
    unknown,
    warning,
)
from kfctl.preflight.leftovers import other_installers

COMPONENT = "cert-manager"
GROUP = "cert-manager.io"
CRD = f"certificates.{GROUP}"
MINIMUM_VERSION = "1.12"  # the oldest release line whose Certificate API and webhook Kubeflow's manifests fit
PROBE_NAMESPACE = "default"
RELAX_WEBHOOK_ANSWERS = "webhook-answers"
INJECT_ANNOTATIONS = ("cert-manager.io/inject-ca-from", "cert-manager.io/inject-ca-from-secret")
INSTALL = (
    "install cert-manager (https://cert-manager.io/docs/installation/), or let kfctl install it: "
    "certManager: kfctl in the profile and the cert-manager component in kfctl.yaml"
)


@dataclass(frozen=True)
class Cause:
    """Why a dry-run Certificate failed: the first cause whose pattern matches the server's message."""

    id: str
    pattern: str  # a regular expression, matched case-insensitively
    message: str
    remediation: str


CAUSES: tuple[Cause, ...] = (
    Cause(
        "crds-missing",
        r"could not find the requested resource|no matches for kind",
        "cert-manager's CRDs are not served",
        INSTALL,
    ),
    Cause(
        "webhook-service-missing",
        r'service "[^"]*" not found',
        "cert-manager's webhook Service is missing",
        "cert-manager is half installed or half removed: reinstall it, or delete its leftover webhook "
        "configurations (`kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations "
        "| grep cert-manager`)",
    ),
    Cause(
        "ca-not-injected",
        r"x509|certificate signed by unknown authority|tls: failed to verify|bad certificate",
        "the API server does not trust cert-manager's webhook (its CA bundle is not injected yet)",
        "check that cert-manager-cainjector runs and has filled caBundle in cert-manager's webhook configurations",
    ),
    Cause(
        "webhook-not-ready",
        r"no endpoints available|connection refused|network is unreachable|no route to host|i/o timeout|"
        r"context deadline exceeded|connection reset|dial tcp|EOF",
        "cert-manager's webhook does not answer yet",
        "wait for it: `kubectl -n cert-manager rollout status deployment cert-manager-webhook`; then check its "
        "pods and the Service's endpoints",
    ),
)
FALLBACK = Cause("webhook-error", "", "cert-manager's webhook failed", "check cert-manager's webhook pods and logs")


def classify(message: str) -> Cause:
    for cause in CAUSES:
        if re.search(cause.pattern, message, re.IGNORECASE):
            return cause
    return FALLBACK


def uses_cert_manager(objects: Iterable[PlannedObjectLike]) -> bool:
    """The plan has cert-manager resources, or asks cert-manager to inject a CA somewhere."""
    for obj in objects:
        if obj.ref.group == GROUP:
            return True
        annotations = (obj.manifest.get("metadata") or {}).get("annotations") or {}
        if any(key in annotations for key in INJECT_ANNOTATIONS):
            return True
    return False


def installed_version(crd: dict[str, Any]) -> str | None:
    labels = labels_of(crd)
    return labels.get("app.kubernetes.io/version") or labels.get("helm.sh/chart", "").rpartition("-")[2] or None


def too_old(version: str | None, minimum: str = MINIMUM_VERSION) -> bool:
    if not version:
        return False
    try:
        return Version(version.lstrip("v")).release < Version(minimum).release
    except InvalidVersion:
        return False


def cert_manager_webhooks(configurations: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(configuration name, webhook) for every webhook named *.cert-manager.io."""
    return [
        (name_of(config), webhook)
        for config in configurations
        for webhook in config.get("webhooks") or []
        if str(webhook.get("name", "")).endswith(GROUP)
    ]


def probe_certificate(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Certificate",
        "metadata": {"name": "kfctl-preflight", "namespace": namespace},
        "spec": {
            "secretName": "kfctl-preflight",
            "dnsNames": ["kfctl-preflight.invalid"],
            "issuerRef": {"name": "kfctl-preflight", "kind": "Issuer"},
        },
    }


def evaluate_dry_run(status: int, message: str, *, ignored_failures: bool, relaxed: bool, version: str) -> Outcome:
    """The verdict on a dry-run Certificate the API server answered with `status` (and `message`)."""
    details: dict[str, Any] = {"version": version or None, "dryRunStatus": status}
    who = f"cert-manager {version}".strip()
    if status < 300:
        if ignored_failures:
            text = f"{who} accepted a dry-run Certificate, but its webhooks ignore failures"
            if relaxed:
                return passed(text + " (failurePolicy Ignore, as the profile relaxes)", **details)
            return warning(
                text + " (failurePolicy Ignore): that does not prove the webhook answers",
                "check that cert-manager-webhook is Available",
                **details,
            )
        return passed(f"{who} answers: a dry-run Certificate passed its webhook", **details)
    if "denied the request" in message:
        return passed(f"{who} answers: its webhook judged a test Certificate", **details)
    if status == 403:
        return unknown(
            f"not allowed to create Certificates in {PROBE_NAMESPACE}, even as a dry run: {message[:200]}",
            "run preflight as a user who may create certificates.cert-manager.io, or --skip cert-manager",
            **details,
        )
    if status == 422:
        return unknown(f"a test Certificate was rejected before cert-manager's webhook: {message[:200]}", **details)
    cause = CAUSES[0] if status == 404 else classify(message)
    details["cause"] = cause.id
    return failed(f"{cause.message}: {message[:300]}", cause.remediation, **details)


def check_cert_manager(ctx: CheckContext) -> Outcome:
    planned = ctx.plans_component(COMPONENT)
    if ctx.profile.cert_manager == "kfctl" and planned:
        return passed(f"kfctl installs cert-manager (component {COMPONENT}){_already_installed(ctx)}")
    if not planned and not uses_cert_manager(ctx.objects):
        return skipped("the plan uses no cert-manager resources")
    existing = ctx.crds().get(CRD)
    why = (
        f"profile {ctx.profile.name} expects it preinstalled"
        if ctx.profile.cert_manager == "preinstalled"
        else f"the plan does not include component {COMPONENT}"
    )
    if existing is None:
        return failed(f"cert-manager is not installed (no CRD {CRD}), and {why}", INSTALL, cause="crds-missing")
    version = installed_version(existing) or ""
    if too_old(version):
        return failed(
            f"cert-manager {version} is older than {MINIMUM_VERSION}, the oldest the platform's manifests fit",
            f"upgrade cert-manager to {MINIMUM_VERSION} or newer",
            version=version,
        )
    webhooks = cert_manager_webhooks(ctx.webhook_configurations())
    if not webhooks:
        return failed(
            f"cert-manager's CRDs are installed ({version or 'version unknown'}) but not its webhook: "
            "no webhook configuration names *.cert-manager.io",
            "install all of cert-manager, not only its CRDs (or remove the CRDs and let kfctl install it)",
            version=version or None,
            cause="webhook-missing",
        )
    resource = ctx.resource(f"{GROUP}/v1", "Certificate")
    if resource is None:
        return failed(
            f"CRD {CRD} exists but {GROUP}/v1 Certificate is not served (not Established?)",
            f"check the CRD's conditions: `kubectl get crd {CRD} -o yaml`",
            cause="crds-missing",
        )
    response = ctx.api.request(
        "POST",
        resource.path(PROBE_NAMESPACE),
        params={"dryRun": "All", "fieldManager": "kfctl-preflight"},
        json=probe_certificate(PROBE_NAMESPACE),
        retry_seconds=2,
    )
    message = ""
    if response.status_code >= 300:
        try:
            message = str(response.json().get("message") or "")
        except ValueError:
            message = response.text[:500]
    return evaluate_dry_run(
        response.status_code,
        " ".join(message.split()),
        ignored_failures=all(w.get("failurePolicy") == "Ignore" for _, w in webhooks),
        relaxed=RELAX_WEBHOOK_ANSWERS in ctx.relax,
        version=version,
    )


def _already_installed(ctx: CheckContext) -> str:
    """A note when another installer's cert-manager is there already (not knowing is no failure here)."""
    try:
        existing = ctx.crds().get(CRD)
    except KfctlError:
        return ""
    if existing is None:
        return ""
    metadata = existing.get("metadata") or {}
    part_of = str((metadata.get("labels") or {}).get(APPLYSET_PART_OF) or "")
    owner = owner_of(metadata, ctx.applyset_id, applyset_owners(ctx.api, [part_of] if part_of else []))
    owners = ([owner.describe()] if owner.kind not in (OwnerKind.NONE, OwnerKind.THIS_APP) else []) + other_installers(
        existing
    )
    if not owners:
        return ""
    found = f"cert-manager {installed_version(existing) or ''}".strip()
    return f"; {found} is already installed by {', '.join(owners)} (see foreign-crds)"


CHECKS = (Check("cert-manager", "cert-manager", check_cert_manager),)
