"""Is a live Kubernetes object ready? Pure functions over the dicts the API server returns.

The rules follow kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status, generic.go and core.go), so kfctl
waits the way kubectl, Flux and Config Sync do. Generic checks come first (deletion, observed
generation, Stalled/Reconciling conditions); then the rule for the object's (group, kind) in RULES,
or the generic Ready-condition rule. Where kfctl departs from kstatus, the rule says why.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeGuard

__all__ = [
    "CA_INJECTION_ANNOTATIONS",
    "RELAX_CERTIFICATE_ISSUANCE",
    "RELAX_LOAD_BALANCERS",
    "RULES",
    "GroupKind",
    "Readiness",
    "Rule",
    "State",
    "readiness",
    "summarize",
]

# Relaxations a cluster profile may ask for, for things that cluster never provides.
RELAX_LOAD_BALANCERS = "load-balancers"  # no controller hands out LoadBalancer addresses
RELAX_CERTIFICATE_ISSUANCE = "certificate-issuance"  # cert-manager never issues nor injects a CA

# cert-manager's cainjector annotations, and where each one takes the CA from (for the message).
CA_INJECTION_ANNOTATIONS: Mapping[str, str] = MappingProxyType(
    {
        "cert-manager.io/inject-ca-from": "Certificate {}",
        "cert-manager.io/inject-ca-from-secret": "Secret {}",
        "cert-manager.io/inject-apiserver-ca": "the API server",
    }
)

MESSAGE_LIMIT = 200
NO_DEADLINE = 2**31 - 1  # Deployment progressDeadlineSeconds that the controller reads as "none"


class State(StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Readiness:
    state: State
    message: str  # one short line a user can act on

    @property
    def ready(self) -> bool:
        return self.state is State.CURRENT


KubeObject = Mapping[str, Any]
GroupKind = tuple[str, str]  # ("apps", "Deployment"); the core group is ""
Rule = Callable[[KubeObject, frozenset[str]], Readiness]


def readiness(
    obj: KubeObject | None, *, relax: frozenset[str] = frozenset(), rules: Mapping[GroupKind, Rule] | None = None
) -> Readiness:
    """The state of `obj` (None: it does not exist). `rules` extends or replaces RULES, e.g. {**RULES, key: rule}."""
    if obj is None:
        return Readiness(State.NOT_FOUND, "not found")
    rule = (RULES if rules is None else rules).get(_group_kind(obj), _generic)
    result = _generic_checks(obj) or rule(obj, relax)
    return Readiness(result.state, _line(result.message))


def summarize(obj: KubeObject, *, relax: frozenset[str] = frozenset()) -> str:
    """'<Kind> <namespace>/<name>: <message>' (no namespace for cluster-scoped objects)."""
    namespace, name = _str(obj, "metadata", "namespace"), _str(obj, "metadata", "name")
    where = f"{namespace}/{name}" if namespace else name
    return f"{_str(obj, 'kind') or 'Object'} {where}: {readiness(obj, relax=relax).message}"


# -- reading unstructured objects: wrong types read as absent, so a rule never raises ----------------


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: Any, *path: str) -> str:
    value = _get(obj, *path)
    return value if isinstance(value, str) else ""


def _int(obj: Any, *path: str, default: int = 0) -> int:
    value = _get(obj, *path)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # protobuf's JSON mapping writes int64 as a string (Istio's observedGeneration, for one).
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return default


def _conditions(obj: KubeObject) -> list[Mapping[str, Any]]:
    value = _get(obj, "status", "conditions")
    return [c for c in value if isinstance(c, Mapping)] if isinstance(value, list) else []


def _condition(obj: KubeObject, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in _conditions(obj) if c.get("type") == type_), None)


def _status(condition: Mapping[str, Any] | None) -> str:
    """'True', 'False', 'Unknown' or ''; str() so a YAML `True` written without quotes still reads."""
    return "" if condition is None else str(condition.get("status", ""))


def _is_true(condition: Mapping[str, Any] | None) -> TypeGuard[Mapping[str, Any]]:
    return _status(condition) == "True"


def _is_false(condition: Mapping[str, Any] | None) -> TypeGuard[Mapping[str, Any]]:
    return _status(condition) == "False"


def _explain(condition: Mapping[str, Any]) -> str:
    text = ": ".join(str(condition[k]) for k in ("reason", "message") if condition.get(k))
    return text or f"{condition.get('type')} is {_status(condition)}"


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3].rstrip() + "..."


def _group_kind(obj: KubeObject) -> GroupKind:
    api_version = _str(obj, "apiVersion")
    return (api_version.rpartition("/")[0], _str(obj, "kind"))


def _relaxed(result: Readiness, relaxation: str, relax: frozenset[str]) -> Readiness:
    """What the cluster will never provide, the profile may tell us not to wait for; the message keeps why."""
    if result.ready or relaxation not in relax:
        return result
    return Readiness(State.CURRENT, f"{result.message}; not waited for ({relaxation} relaxed)")


# -- generic checks (kstatus generic.go), before any kind's rule ----------------------------------------


def _generic_checks(obj: KubeObject) -> Readiness | None:
    if _get(obj, "metadata", "deletionTimestamp"):
        return Readiness(State.IN_PROGRESS, "being deleted" + _deletion_blockers(obj))
    generation = _int(obj, "metadata", "generation", default=-1)
    observed = _int(obj, "status", "observedGeneration", default=-1)
    if observed != -1 and observed < generation:
        return Readiness(
            State.IN_PROGRESS, f"waiting for the controller to observe generation {generation} (observed {observed})"
        )
    # Stalled before Reconciling: both True is contradictory, and the failure is the thing to report.
    for type_, state in (("Stalled", State.FAILED), ("Reconciling", State.IN_PROGRESS)):
        condition = _condition(obj, type_)
        if _is_true(condition):
            return Readiness(state, f"{type_.lower()}: {_explain(condition)}")
    return None


def _deletion_blockers(obj: KubeObject) -> str:
    """What deletion waits on: finalizers, and a terminating Namespace's *Remaining conditions."""
    finalizers = _get(obj, "metadata", "finalizers")
    parts = [f"finalizers: {', '.join(map(str, finalizers))}"] if isinstance(finalizers, list) and finalizers else []
    parts += [
        str(c.get("message") or c.get("reason"))
        for c in _conditions(obj)
        if str(c.get("type", "")).endswith("Remaining") and _is_true(c)
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def _generic(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    """Any kind without a rule: a Ready condition if it has one (kstatus: no known condition means Current)."""
    if _condition(obj, "Ready") is None:
        return Readiness(State.CURRENT, "current (no Ready condition to wait for)")
    return _wait_for_condition(obj, "Ready")


def _wait_for_condition(obj: KubeObject, type_: str) -> Readiness:
    condition = _condition(obj, type_)
    if condition is None:
        return Readiness(State.IN_PROGRESS, f"waiting for the {type_} condition")
    if _is_true(condition):
        return Readiness(State.CURRENT, type_)
    return Readiness(State.IN_PROGRESS, f"not {type_}: {_explain(condition)}")


def _always_current(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    return Readiness(State.CURRENT, "nothing to wait for")


# -- workloads (kstatus core.go: the checks and their order are kstatus's) -------------------------------


def _first_pending(*checks: tuple[bool, str]) -> Readiness | None:
    """The first check still pending, in kstatus's order: (pending?, what the user is told)."""
    return next((Readiness(State.IN_PROGRESS, message) for pending, message in checks if pending), None)


def _deployment(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    progressing = _condition(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(State.FAILED, f"progress deadline exceeded: {progressing.get('message') or 'no message'}")
    spec = _int(obj, "spec", "replicas", default=1)  # the controller's default
    replicas, updated, available, ready = (
        _int(obj, "status", f) for f in ("replicas", "updatedReplicas", "availableReplicas", "readyReplicas")
    )
    # Without a progress deadline (absent or MaxInt32) the controller never sets Progressing: nothing to wait for.
    deadline = _int(obj, "spec", "progressDeadlineSeconds", default=NO_DEADLINE) != NO_DEADLINE
    rolled_out = _is_true(progressing) and progressing.get("reason") == "NewReplicaSetAvailable"
    pending = _first_pending(
        (spec > replicas, f"{replicas}/{spec} replicas created"),
        (spec > updated, f"{updated}/{spec} replicas updated"),
        (replicas > spec, f"replicas pending termination: {replicas - spec}"),
        (updated > available, f"{available}/{updated} replicas available"),
        (spec > ready, f"{ready}/{spec} replicas ready"),
        (deadline and not rolled_out, "waiting for the new ReplicaSet to become available"),
    )
    if pending is not None:
        return pending
    if not _is_true(_condition(obj, "Available")):
        return _wait_for_condition(obj, "Available")
    return Readiness(State.CURRENT, f"{available}/{spec} replicas available")


def _statefulset(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    spec = _int(obj, "spec", "replicas", default=1)
    replicas, ready, updated, current = (
        _int(obj, "status", f) for f in ("replicas", "readyReplicas", "updatedReplicas", "currentReplicas")
    )
    if _str(obj, "spec", "updateStrategy", "type") == "OnDelete":
        # kstatus calls these Current at once; pods only change when someone deletes them, so there is no
        # rollout to wait for, but an install still needs its pods ready.
        if spec > ready:
            return Readiness(State.IN_PROGRESS, f"{ready}/{spec} replicas ready")
        return Readiness(State.CURRENT, f"{ready}/{spec} replicas ready (OnDelete updates)")
    pending = _first_pending(
        (spec > replicas, f"{replicas}/{spec} replicas created"),
        (spec > ready, f"{ready}/{spec} replicas ready"),
        (replicas > spec, f"replicas pending termination: {replicas - spec}"),
    )
    if pending is not None:
        return pending
    partition = _int(obj, "spec", "updateStrategy", "rollingUpdate", "partition", default=-1)
    if partition != -1:  # only ordinals >= partition are updated, so only they count
        expected = max(spec - partition, 0)
        if updated < expected:
            return Readiness(State.IN_PROGRESS, f"{updated}/{expected} replicas updated (partition {partition})")
        return Readiness(State.CURRENT, f"{ready}/{spec} replicas ready, partitioned rollout complete")
    update_revision = _str(obj, "status", "updateRevision")
    pending = _first_pending(
        (spec > current, f"{current}/{spec} replicas at the current revision"),
        (_str(obj, "status", "currentRevision") != update_revision, f"rolling out revision {update_revision}"),
    )
    return pending or Readiness(State.CURRENT, f"{ready}/{spec} replicas ready")


def _counts_reached(obj: KubeObject, wanted: int, fields: tuple[tuple[str, str], ...], unit: str) -> Readiness | None:
    """Pending while a status count is below `wanted` (the first such field, in order)."""
    counts = [(_int(obj, "status", field), what) for field, what in fields]
    return _first_pending(*((wanted > n, f"{n}/{wanted} {unit} {what}") for n, what in counts))


def _daemonset(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    # Unlike the generic check, the controller always writes observedGeneration, so its absence means not yet.
    if _get(obj, "status", "observedGeneration") is None:
        return Readiness(State.IN_PROGRESS, "waiting for the controller to observe the DaemonSet")
    desired = _int(obj, "status", "desiredNumberScheduled", default=-1)
    if desired == -1:
        return Readiness(State.IN_PROGRESS, "waiting for the controller to count the nodes to schedule on")
    fields = (
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    )
    return _counts_reached(obj, desired, fields, "pods") or Readiness(State.CURRENT, f"{desired}/{desired} pods ready")


def _replicaset(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    failure = _condition(obj, "ReplicaFailure")
    if _is_true(failure):
        return Readiness(State.IN_PROGRESS, f"replica failure: {_explain(failure)}")  # kstatus: may still recover
    spec = _int(obj, "spec", "replicas", default=1)
    fields = (("fullyLabeledReplicas", "labelled"), ("availableReplicas", "available"), ("readyReplicas", "ready"))
    pending = _counts_reached(obj, spec, fields, "replicas")
    if pending is not None:
        return pending
    replicas = _int(obj, "status", "replicas")
    if replicas > spec:
        return Readiness(State.IN_PROGRESS, f"replicas pending termination: {replicas - spec}")
    return Readiness(State.CURRENT, f"{spec}/{spec} replicas available")


def _job(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    # kstatus calls a started Job Current; an install waits for it to finish (migrations, setup jobs).
    succeeded = _int(obj, "status", "succeeded")
    completions = _int(obj, "spec", "completions", default=_int(obj, "spec", "parallelism", default=1))
    failed_condition = _condition(obj, "Failed")
    if _is_true(failed_condition):
        return Readiness(State.FAILED, f"failed: {_explain(failed_condition)}")
    if _is_true(_condition(obj, "Complete")):
        return Readiness(State.CURRENT, f"complete, {succeeded}/{completions} succeeded")
    if _is_true(_condition(obj, "Suspended")):
        return Readiness(State.CURRENT, "suspended")  # kstatus: a suspended Job is not in progress
    failed = _int(obj, "status", "failed")
    message = f"{_int(obj, 'status', 'active')} active, {succeeded}/{completions} succeeded"
    return Readiness(State.IN_PROGRESS, message + (f", {failed} failed" if failed else ""))


def _pod(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    phase = _str(obj, "status", "phase")
    if phase == "Succeeded":
        return Readiness(State.CURRENT, "completed")
    if phase == "Failed":  # kstatus: Current (it finished); a pod we wait for was meant to run
        return Readiness(State.FAILED, f"failed: {_pod_failure(obj)}")
    if phase == "Unknown":
        return Readiness(State.UNKNOWN, "phase Unknown: the pod's node stopped reporting")
    ready = _condition(obj, "Ready")
    if _is_true(ready):
        return Readiness(State.CURRENT, "Ready")
    # kstatus fails a CrashLoopBackOff; here it stays in progress: Kubeflow's services crash-loop until their
    # databases come up, and a wait that gives up on the first back-off would fail most installs.
    waiting = _waiting_container(obj)
    if waiting:
        return Readiness(State.IN_PROGRESS, waiting)
    scheduled = _condition(obj, "PodScheduled")
    if _is_false(scheduled):
        return Readiness(State.IN_PROGRESS, f"not scheduled: {_explain(scheduled)}")
    detail = f": {_explain(ready)}" if ready is not None else ""
    return Readiness(State.IN_PROGRESS, f"{phase or 'Pending'}, not Ready{detail}")


def _container_statuses(obj: KubeObject) -> Iterable[Mapping[str, Any]]:
    """Init containers first: they run first, so they are what the pod waits on."""
    for field in ("initContainerStatuses", "containerStatuses"):
        value = _get(obj, "status", field)
        if isinstance(value, list):
            yield from (s for s in value if isinstance(s, Mapping))


def _waiting_container(obj: KubeObject) -> str:
    for status in _container_statuses(obj):
        waiting = _get(status, "state", "waiting")
        if isinstance(waiting, Mapping) and waiting.get("reason"):
            return f"container {status.get('name')} waiting: {_explain(waiting)}"
    return ""


def _pod_failure(obj: KubeObject) -> str:
    if _str(obj, "status", "reason") or _str(obj, "status", "message"):
        return _explain(obj["status"])  # Evicted, DeadlineExceeded, ...
    for status in _container_statuses(obj):
        terminated = _get(status, "state", "terminated")
        if isinstance(terminated, Mapping) and _int(terminated, "exitCode"):
            return f"container {status.get('name')} exited with {terminated['exitCode']} ({_explain(terminated)})"
    return "no reason given"


# -- the rest of the core API ---------------------------------------------------------------------------


def _pvc(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    phase = _str(obj, "status", "phase") or "Pending"
    volume = _str(obj, "spec", "volumeName")
    if phase == "Bound":
        return Readiness(State.CURRENT, f"bound to {volume}" if volume else "bound")
    if phase == "Lost":
        # The volume controller sets Lost when it does not see the bound volume, and binds the claim
        # again once it does (a volume created at the same moment, or one restored): not final, so
        # waited for, and named in the timeout report if it does not come back.
        return Readiness(State.IN_PROGRESS, f"claim lost its volume {volume}; waiting for it to be bound again".strip())
    return Readiness(State.IN_PROGRESS, f"claim is {phase}")


def _service(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    type_ = _str(obj, "spec", "type") or "ClusterIP"
    if type_ != "LoadBalancer":
        return Readiness(State.CURRENT, f"{type_} service")
    ingress = _get(obj, "status", "loadBalancer", "ingress")
    entries = ingress if isinstance(ingress, list) else []
    addresses = [str(i.get("ip") or i.get("hostname")) for i in entries if isinstance(i, Mapping)]
    if addresses:
        return Readiness(State.CURRENT, f"load balancer at {', '.join(addresses)}")
    waiting = Readiness(State.IN_PROGRESS, "waiting for the cluster to assign a load balancer address")
    return _relaxed(waiting, RELAX_LOAD_BALANCERS, relax)


def _namespace(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    phase = _str(obj, "status", "phase")
    if phase == "Active":
        return Readiness(State.CURRENT, "Active")
    if phase == "Terminating":
        return Readiness(State.IN_PROGRESS, "namespace is terminating" + _deletion_blockers(obj))
    return Readiness(State.IN_PROGRESS, f"namespace is {phase or 'not Active yet'}")


def _crd(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    names = _condition(obj, "NamesAccepted")
    if _is_false(names):
        return Readiness(State.FAILED, f"names not accepted: {_explain(names)}")
    established = _wait_for_condition(obj, "Established")
    if not established.ready:
        return established
    if _str(obj, "spec", "conversion", "strategy") == "Webhook":
        # v1 keeps the client config under webhook; v1beta1 (still in kubebuilder patches) beside it.
        config = _get(obj, "spec", "conversion", "webhook", "clientConfig") or _get(
            obj, "spec", "conversion", "webhookClientConfig"
        )
        waiting = _waiting_for_ca(obj, [config], relax)
        if waiting is not None:
            return waiting
    return Readiness(State.CURRENT, "Established")


def _webhook_configuration(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    webhooks = _get(obj, "webhooks")
    configs = [_get(w, "clientConfig") for w in webhooks] if isinstance(webhooks, list) else []
    return _waiting_for_ca(obj, configs, relax) or Readiness(State.CURRENT, f"webhooks configured: {len(configs)}")


def _waiting_for_ca(obj: KubeObject, client_configs: list[Any], relax: frozenset[str]) -> Readiness | None:
    """Until cert-manager's cainjector fills every caBundle, the API server cannot call the webhook."""
    annotations = _get(obj, "metadata", "annotations")
    sources = [
        source.format(annotations[key])
        for key, source in CA_INJECTION_ANNOTATIONS.items()
        if isinstance(annotations, Mapping) and annotations.get(key) not in (None, "", "false")
    ]
    missing = sum(not _has_ca_bundle(c) for c in client_configs)
    if not sources or not missing:
        return None
    into = f" into {missing}/{len(client_configs)} webhooks" if len(client_configs) > 1 else ""
    waiting = Readiness(State.IN_PROGRESS, f"waiting for cert-manager to inject the CA bundle from {sources[0]}{into}")
    return _relaxed(waiting, RELAX_CERTIFICATE_ISSUANCE, relax)


def _has_ca_bundle(client_config: Any) -> bool:
    """Empty counts as missing, and so does kubebuilder's placeholder "Cg==" (a lone newline)."""
    bundle = _str(client_config, "caBundle").strip()
    if not bundle:
        return False
    try:
        return bool(base64.b64decode(bundle, validate=True).strip())
    except (binascii.Error, ValueError):
        return True  # the API server stored it as bytes, so it is some CA; not ours to judge


def _api_service(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    return _wait_for_condition(obj, "Available")


def _cert_manager(obj: KubeObject, relax: frozenset[str]) -> Readiness:
    return _relaxed(_wait_for_condition(obj, "Ready"), RELAX_CERTIFICATE_ISSUANCE, relax)


# Kind-specific rules; every other kind gets the generic rule. Read-only: extend with readiness(rules=...).
RULES: Mapping[GroupKind, Rule] = MappingProxyType(
    {
        ("", "Pod"): _pod,
        ("", "PersistentVolumeClaim"): _pvc,
        ("", "Service"): _service,
        ("", "Namespace"): _namespace,
        ("apps", "Deployment"): _deployment,
        ("apps", "StatefulSet"): _statefulset,
        ("apps", "DaemonSet"): _daemonset,
        ("apps", "ReplicaSet"): _replicaset,
        ("batch", "Job"): _job,
        ("batch", "CronJob"): _always_current,
        ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _webhook_configuration,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _webhook_configuration,
        ("apiregistration.k8s.io", "APIService"): _api_service,
        ("cert-manager.io", "Certificate"): _cert_manager,
        ("cert-manager.io", "Issuer"): _cert_manager,
        ("cert-manager.io", "ClusterIssuer"): _cert_manager,
    }
)
