"""The Kubernetes API as kfctl uses it: discovery, server-side apply, get, list, delete, with
transient errors retried and permanent ones reported at once.

Transient: connection refused/reset, 429 (honouring Retry-After), 500/502/503/504, and a kind
not served yet right after its CRD was created. Permanent: everything else (Invalid, Forbidden,
Conflict on an immutable field, …), which fails fast with the server's own message.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from kfctl.errors import ClusterUnreachableError
from kfctl.http import httpx
from kfctl.kube.client import ClusterTarget, KubeClient
from kfctl.kube.errors import TRANSIENT_STATUS, ApiError, NotFound, NotServedError, api_error

FIELD_MANAGER = "kfctl"
# Lists of metadata only (PartialObjectMetadataList): labels and annotations without specs or schemas.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
AGGREGATED_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


@dataclass(frozen=True)
class ObjectRef:
    """An object's identity: apiVersion, kind, namespace ("" when cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """The object whatever version it is read through: a release that moves a kind from v1beta1 to
        v1 still names the same object, which must not be pruned as if it were gone."""
        return (self.group, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.group_kind} {where}"

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        metadata = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(metadata.get("namespace") or ""),
            str(metadata.get("name", "")),
        )

    def as_dict(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}


class Api:
    """One connection pool for the whole run; discovery cached and refreshed on demand."""

    def __init__(self, target: ClusterTarget, *, retry_seconds: float = 120.0) -> None:
        self.client = KubeClient(target)
        self.retry_seconds = retry_seconds
        self._resources: dict[tuple[str, str], Resource] = {}  # (apiVersion, kind) -> Resource
        self._by_group_kind: dict[tuple[str, str], Resource] = {}
        self._discovery_lock = threading.Lock()
        self.request_count = 0
        self._count_lock = threading.Lock()
        self._server_date: tuple[str, float] = ("", 0.0)  # the latest Date header, and when it came

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, retry_seconds: float | None = None, **kwargs: Any) -> httpx.Response:
        """A request with transient failures retried (exponential backoff with jitter, Retry-After)."""
        deadline = time.monotonic() + (self.retry_seconds if retry_seconds is None else retry_seconds)
        delay = 0.2
        while True:
            with self._count_lock:
                self.request_count += 1
            try:
                response = self.client.request(method, path, **kwargs)
            except ClusterUnreachableError:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)
                continue
            date = response.headers.get("Date")
            if date:
                self._server_date = (date, time.time())
            # A webhook that does not answer is the caller's to wait for (and to report), not the transport's.
            webhook = response.status_code == 500 and b"failed calling webhook" in response.content
            if response.status_code in TRANSIENT_STATUS and not webhook and time.monotonic() + delay <= deadline:
                wait = delay * (0.5 + random.random())
                if response.status_code == 429:
                    wait = max(wait, _retry_after(response))
                time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 5.0)
                continue
            return response

    def check(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON body, or the typed error the response stands for (naming the user on 401/403)."""
        if response.status_code < 400:
            body: dict[str, Any] = response.json() if response.content else {}
            return body
        raise api_error(response, what, identity=self.client.identity)

    def server_time(self) -> float:
        """Now, by the API server's clock (its latest Date header, advanced by the local clock since):
        lock expiry is judged on one clock, whatever the skew between the machines that share a lock."""
        date, received = self._server_date
        if not date:
            self.server_version()
            date, received = self._server_date
        try:
            return parsedate_to_datetime(date).timestamp() + (time.time() - received)
        except (TypeError, ValueError):
            return time.time()

    # -- discovery ------------------------------------------------------------------------------

    def server_version(self) -> dict[str, Any]:
        return self.check(self.request("GET", "/version", retry_seconds=3), "GET /version")

    def refresh_discovery(self) -> None:
        """Read every served resource: aggregated discovery (two requests), else group by group."""
        resources: dict[tuple[str, str], Resource] = {}
        for root in ("/api", "/apis"):
            response = self.request("GET", root, headers={"Accept": AGGREGATED_DISCOVERY})
            body = self.check(response, f"GET {root}")
            if body.get("kind") == "APIGroupDiscoveryList":
                for group in body.get("items", []):
                    group_name = (group.get("metadata") or {}).get("name", "")
                    for version in group.get("versions", []):
                        for item in version.get("resources", []):
                            kind = (item.get("responseKind") or {}).get("kind")
                            if kind and "/" not in item.get("resource", "/"):
                                resource = Resource(
                                    group_name,
                                    version["version"],
                                    kind,
                                    item["resource"],
                                    item.get("scope") == "Namespaced",
                                )
                                resources[(resource.api_version, kind)] = resource
            else:
                resources.update(self._legacy_discovery(root, body))
        by_group_kind: dict[tuple[str, str], Resource] = {}
        for resource in resources.values():
            by_group_kind.setdefault((resource.group, resource.kind), resource)
        with self._discovery_lock:
            self._resources = resources
            self._by_group_kind = by_group_kind

    def _legacy_discovery(self, root: str, body: dict[str, Any]) -> dict[tuple[str, str], Resource]:
        versions = (
            [f"/api/{v}" for v in body.get("versions", [])]
            if root == "/api"
            else [f"/apis/{v['groupVersion']}" for g in body.get("groups", []) for v in g.get("versions", [])]
        )
        found: dict[tuple[str, str], Resource] = {}
        for path in versions:
            response = self.request("GET", path)
            if response.status_code >= 400:
                continue  # an unavailable aggregated API must not stop discovery
            listing = response.json()
            group_version = listing.get("groupVersion", "")
            group, _, version = group_version.rpartition("/")
            for item in listing.get("resources", []):
                if "/" in item["name"]:
                    continue
                resource = Resource(group, version, item["kind"], item["name"], bool(item.get("namespaced")))
                found[(resource.api_version, resource.kind)] = resource
        return found

    def resource_for(self, api_version: str, kind: str, *, refresh: bool = True) -> Resource:
        """The resource serving apiVersion/kind; NotServedError (transient) when it is not served yet."""
        if not self._resources or ((api_version, kind) not in self._resources and refresh):
            self.refresh_discovery()
        resource = self._resources.get((api_version, kind))
        if resource is None:
            raise NotServedError(
                f"{kind} ({api_version}) is not served by the API server",
                status=404,
                reason="NotServed",
                hint="is its CustomResourceDefinition installed and Established?",
            )
        return resource

    def served_kinds(self) -> dict[tuple[str, str], Resource]:
        if not self._resources:
            self.refresh_discovery()
        return dict(self._resources)

    def resource_for_group_kind(self, group: str, kind: str) -> Resource | None:
        if not self._by_group_kind:
            self.refresh_discovery()
        return self._by_group_kind.get((group, kind))

    # -- objects --------------------------------------------------------------------------------

    def apply(
        self, obj: dict[str, Any], *, dry_run: bool = False, force: bool = True, field_manager: str = FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply; returns the object as the server holds it afterwards."""
        ref = ObjectRef.of(obj)
        resource = self.resource_for(ref.api_version, ref.kind)
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        response = self.request(
            "PATCH",
            resource.path(ref.namespace or None, ref.name),
            params=params,
            content=json.dumps(obj).encode(),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return self.check(response, f"apply {ref}")

    def get(self, ref: ObjectRef, *, retry_seconds: float | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist (NotServedError when its kind is not served)."""
        resource = self.resource_for(ref.api_version, ref.kind)
        response = self.request("GET", resource.path(ref.namespace or None, ref.name), retry_seconds=retry_seconds)
        if response.status_code == 404:
            return None
        return self.check(response, f"get {ref}")

    def list_objects(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        metadata_only: bool = False,
        retry_seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        """Every object of a resource, page by page; `metadata_only` reads labels and annotations only."""
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500"}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        headers = {"Accept": METADATA_LIST} if metadata_only else {}
        while True:
            response = self.request(
                "GET", resource.path(namespace), params=params, headers=headers, retry_seconds=retry_seconds
            )
            body = self.check(response, f"list {resource.plural}")
            for item in body.get("items") or []:
                item["apiVersion"] = resource.api_version  # metadata lists say meta.k8s.io/v1
                item["kind"] = resource.kind
                items.append(item)
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token

    def list_kind(self, api_version: str, kind: str, **options: Any) -> list[dict[str, Any]]:
        """list_objects by apiVersion and kind; [] when the kind is not served (nothing of it can exist)."""
        try:
            resource = self.resource_for(api_version, kind, refresh=False)
        except NotServedError:
            return []
        return self.list_objects(resource, **options)

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        """Delete; False when it was already gone."""
        resource = self.resource_for(ref.api_version, ref.kind, refresh=False)
        response = self.request(
            "DELETE",
            resource.path(ref.namespace or None, ref.name),
            json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation},
        )
        if response.status_code == 404:
            return False
        self.check(response, f"delete {ref}")
        return True

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST: AlreadyExists when another client created it first."""
        ref = ObjectRef.of(obj)
        resource = self.resource_for(ref.api_version, ref.kind)
        return self.check(self.request("POST", resource.path(ref.namespace or None), json=obj), f"create {ref}")

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT with the object's resourceVersion: Conflict when it changed since it was read."""
        ref = ObjectRef.of(obj)
        resource = self.resource_for(ref.api_version, ref.kind)
        response = self.request("PUT", resource.path(ref.namespace or None, ref.name), json=obj)
        return self.check(response, f"update {ref}")

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to a path that is not an object collection (reviews)."""
        return self.check(self.request("POST", path, json=body), f"create {body.get('kind')}")

    def events_for(self, ref: ObjectRef, limit: int = 5) -> list[dict[str, Any]]:
        """The latest events about an object, newest last."""
        resource = self.resource_for("v1", "Event")
        selector = f"involvedObject.name={ref.name},involvedObject.kind={ref.kind}"
        try:
            items = self.list_objects(resource, namespace=ref.namespace or None, field_selector=selector)
        except ApiError:
            return []  # events only explain; not being allowed to read them must not hide the real error
        items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return items[-limit:]


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(float(value), 10.0)
    except ValueError:
        return 1.0


__all__ = ["FIELD_MANAGER", "Api", "ApiError", "NotFound", "NotServedError", "ObjectRef", "Resource", "api_error"]
