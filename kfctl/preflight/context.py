"""What every check gets: the plan, the profile, the platform, and the cluster's state read once.

Checks run concurrently and share one Api. A list several checks need (nodes, DaemonSets, CRDs,
webhook configurations) is read once: the first check to ask loads it, the others wait for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from kfctl.config.profiles import ClusterProfile
from kfctl.kube.api import Api, NotServedError, ObjectRef, Resource
from kfctl.kube.ownership import APPLYSET_PART_OF
from kfctl.platform.catalog import Platform
from kfctl.preflight.report import PreflightOptions, Status

T = TypeVar("T")

READ_RETRY_SECONDS = 5.0  # preflight answers in seconds; a server that keeps failing is reported, not waited for


class PlannedObjectLike(Protocol):
    """An object of the plan (kfctl.deploy.plan.PlannedObject)."""

    @property
    def ref(self) -> ObjectRef: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    @property
    def component(self) -> str: ...


class ComponentLike(Protocol):
    @property
    def name(self) -> str: ...


class PlanLike(Protocol):
    """What preflight reads of a kfctl.deploy.plan.Plan. Typed by shape, so preflight does not
    import deploy: deploy calls preflight (apply checks first), never the other way round."""

    @property
    def app(self) -> str: ...

    @property
    def objects(self) -> Sequence[PlannedObjectLike]: ...

    @property
    def components(self) -> Sequence[ComponentLike]: ...


@dataclass
class Outcome:
    """A check's verdict; the runner adds its ID and timing."""

    status: Status
    message: str
    remediation: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def passed(message: str, **details: Any) -> Outcome:
    return Outcome(Status.PASS, message, "", details)


def warning(message: str, remediation: str = "", **details: Any) -> Outcome:
    return Outcome(Status.WARN, message, remediation, details)


def failed(message: str, remediation: str = "", **details: Any) -> Outcome:
    return Outcome(Status.FAIL, message, remediation, details)


def skipped(message: str, **details: Any) -> Outcome:
    return Outcome(Status.SKIP, message, "", details)


def unknown(message: str, remediation: str = "", **details: Any) -> Outcome:
    return Outcome(Status.UNKNOWN, message, remediation, details)


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[CheckContext], Outcome]
    deep: bool = False  # writes to the cluster: runs with --deep, or when named in --only


class _Once:
    """A value loaded by the first caller; concurrent callers wait for it (errors are shared too)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def get(self, load: Callable[[], Any]) -> Any:
        with self.lock:
            if not self.done:
                try:
                    self.value = load()
                except BaseException as error:  # re-raised to every caller
                    self.error = error
                self.done = True
        if self.error is not None:
            raise self.error
        return self.value


class CheckContext:
    def __init__(
        self,
        api: Api,
        plan: PlanLike,
        profile: ClusterProfile,
        platform: Platform,
        options: PreflightOptions,
        identity: dict[str, Any] | None = None,
        server_version: dict[str, Any] | None = None,
    ) -> None:
        self.api = api
        self.plan = plan
        self.app = plan.app
        self.objects: list[PlannedObjectLike] = list(plan.objects)
        self.component_names = [c.name for c in plan.components]
        self.profile = profile
        self.platform = platform
        self.options = options
        self.identity = identity or {}
        self.server_version = server_version or {}
        self.relax = frozenset(profile.relaxations)
        self._cache: dict[str, _Once] = {}
        self._cache_lock = threading.Lock()

    # -- shared reads ---------------------------------------------------------------------------

    def cached(self, key: str, load: Callable[[], T]) -> T:
        with self._cache_lock:
            once = self._cache.setdefault(key, _Once())
        result: T = once.get(load)
        return result

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """The served resource, from discovery read once at the start; None when not served."""
        try:
            return self.api.resource_for(api_version, kind, refresh=False)
        except NotServedError:
            return None

    def list_kind(
        self, api_version: str, kind: str, *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Every object of a kind ([] when the kind is not served), read once per run."""
        return self.cached(
            f"list {api_version} {kind} {namespace} {label_selector}",
            lambda: self._read_list(api_version, kind, namespace, label_selector, metadata_only=False),
        )

    def list_metadata(
        self, api_version: str, kind: str, *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Metadata only (PartialObjectMetadataList): CRDs without their schemas, a fraction of the bytes."""
        return self.cached(
            f"metadata {api_version} {kind} {namespace} {label_selector}",
            lambda: self._read_list(api_version, kind, namespace, label_selector, metadata_only=True),
        )

    def _read_list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str | None, *, metadata_only: bool
    ) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        if resource is None:
            return []
        return self.api.list_objects(
            resource,
            namespace=namespace,
            label_selector=label_selector,
            metadata_only=metadata_only,
            retry_seconds=READ_RETRY_SECONDS,
        )

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        """One object, None when it (or its kind) does not exist."""
        if self.resource(ref.api_version, ref.kind) is None:
            return None
        return self.api.get(ref, retry_seconds=READ_RETRY_SECONDS)

    def nodes(self) -> list[dict[str, Any]]:
        return self.list_kind("v1", "Node")

    def daemonsets(self) -> list[dict[str, Any]]:
        return self.list_kind("apps/v1", "DaemonSet")

    def crds(self) -> dict[str, dict[str, Any]]:
        """Every CRD's metadata, by name."""
        items = self.list_metadata("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        return {str((i.get("metadata") or {}).get("name")): i for i in items}

    def webhook_configurations(self) -> list[dict[str, Any]]:
        return [
            *self.list_kind("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
            *self.list_kind("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ]

    # -- the plan ---------------------------------------------------------------------------------

    def planned(self, *kinds: str) -> list[PlannedObjectLike]:
        return [o for o in self.objects if o.ref.kind in kinds]

    def plans_component(self, name: str) -> bool:
        return name in self.component_names

    @property
    def applyset_id(self) -> str:
        """The app's ApplySet, as the plan labels every object with it."""
        for obj in self.objects:
            labels = (obj.manifest.get("metadata") or {}).get("labels") or {}
            if labels.get(APPLYSET_PART_OF):
                return str(labels[APPLYSET_PART_OF])
        return ""


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def where(obj: dict[str, Any]) -> str:
    namespace = namespace_of(obj)
    return f"{namespace}/{name_of(obj)}" if namespace else name_of(obj)


def count(number: int, noun: str) -> str:
    """'1 webhook', '3 webhooks'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def listing(items: Sequence[str], limit: int = 6) -> str:
    """'a, b, c' or 'a, b, c and 4 more'."""
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def kubeconfig_context(kubeconfig: str | None, context: str | None) -> str | None:
    """The context's name, for the report: the one asked for, else the kubeconfig's current-context."""
    if context:
        return context
    paths = (kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")).split(os.pathsep)
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).expanduser().read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None
