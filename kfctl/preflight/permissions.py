"""Permissions: may the current user do everything the plan will do?

What is needed comes from the rendered objects, not from a fixed list: server-side apply of an
object needs create and patch (and get, to wait for it) on its resource, in its namespace or
cluster-wide; kfctl itself needs its namespace and release records. Each need is asked with a
SelfSubjectAccessReview, deduplicated and concurrently, in tiers that keep the count low: one
review for "everything" (a cluster admin is done), then each verb and resource cluster-wide, and
only what that denies namespace by namespace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.ownership import SYSTEM_NAMESPACE
from kfctl.preflight.context import (
    READ_RETRY_SECONDS,
    Check,
    CheckContext,
    Outcome,
    PlannedObjectLike,
    failed,
    listing,
    passed,
    warning,
)

APPLY_VERBS = ("create", "patch", "get")
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@dataclass(frozen=True, order=True)
class Permission:
    verb: str
    group: str
    resource: str
    namespace: str  # "": cluster-wide

    def as_dict(self, kind: str) -> dict[str, str]:
        return {
            "kind": kind,
            "verb": self.verb,
            "group": self.group,
            "resource": self.resource,
            "namespace": self.namespace or "(cluster-wide)",
        }


EVERYTHING = Permission("*", "*", "*", "")

# What kfctl does besides applying the plan: its namespace, release records and the app's lock in it.
KFCTL_OWN: tuple[tuple[tuple[str, ...], str, str, str, str], ...] = (
    (APPLY_VERBS, "", "namespaces", "", "Namespace"),
    ((*APPLY_VERBS, "list"), "", "configmaps", SYSTEM_NAMESPACE, "ConfigMap"),
    (("create", "get", "update"), "coordination.k8s.io", "leases", SYSTEM_NAMESPACE, "Lease"),
)

Resolver = Callable[[str, str], tuple[str, bool] | None]  # (group, kind) → (plural, namespaced)


@dataclass
class Needs:
    permissions: set[Permission]
    kinds: dict[tuple[str, str], str]  # (group, resource) → kind, for the report
    unresolved: set[str]  # group-kinds neither served nor defined by the plan's CRDs


def planned_crd_resources(objects: Iterable[PlannedObjectLike]) -> dict[tuple[str, str], tuple[str, bool]]:
    """(group, kind) → (plural, namespaced) of the CRDs the plan itself creates (not served yet)."""
    resources: dict[tuple[str, str], tuple[str, bool]] = {}
    for obj in objects:
        if obj.ref.kind != "CustomResourceDefinition":
            continue
        spec = obj.manifest.get("spec") or {}
        names = spec.get("names") or {}
        if spec.get("group") and names.get("kind") and names.get("plural"):
            resources[(spec["group"], names["kind"])] = (names["plural"], spec.get("scope") == "Namespaced")
    return resources


def required_permissions(refs: Iterable[ObjectRef], resolve: Resolver) -> Needs:
    needs = Needs(set(), {}, set())
    for ref in refs:
        found = resolve(ref.group, ref.kind)
        if found is None:
            needs.unresolved.add(ref.group_kind)
            continue
        plural, namespaced = found
        namespace = (ref.namespace or "default") if namespaced else ""
        needs.kinds[(ref.group, plural)] = ref.kind
        for verb in APPLY_VERBS:
            needs.permissions.add(Permission(verb, ref.group, plural, namespace))
    for verbs, group, resource, namespace, kind in KFCTL_OWN:
        needs.kinds[(group, resource)] = kind
        for verb in verbs:
            needs.permissions.add(Permission(verb, group, resource, namespace))
    return needs


def review(api: Api, permission: Permission) -> bool:
    attributes = {"verb": permission.verb, "group": permission.group, "resource": permission.resource}
    if permission.namespace:
        attributes["namespace"] = permission.namespace
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    response = api.request("POST", REVIEWS, json=body, retry_seconds=READ_RETRY_SECONDS)
    answer = api.check(response, "SelfSubjectAccessReview")
    return bool((answer.get("status") or {}).get("allowed"))


def missing_permissions(
    needed: set[Permission], allowed: Callable[[list[Permission]], dict[Permission, bool]]
) -> tuple[list[Permission], int]:
    """The needed permissions `allowed` denies, asked in tiers; and how many reviews that took.

    `allowed` answers a batch of questions. A cluster-wide grant covers every namespace, so only
    what is denied cluster-wide is asked again per namespace.
    """
    if allowed([EVERYTHING])[EVERYTHING]:
        return [], 1
    cluster_wide = sorted({Permission(p.verb, p.group, p.resource, "") for p in needed})
    answers = allowed(cluster_wide)
    per_namespace = sorted(
        p for p in needed if p.namespace and not answers[Permission(p.verb, p.group, p.resource, "")]
    )
    answers.update(allowed(per_namespace))
    missing = sorted(
        (p for p in needed if not answers[Permission(p.verb, p.group, p.resource, "")] and not answers.get(p)),
        key=lambda p: (p.namespace, p.group, p.resource, p.verb),
    )
    return missing, 1 + len(cluster_wide) + len(per_namespace)


def describe_missing(missing: list[Permission], kinds: dict[tuple[str, str], str]) -> list[str]:
    """'Deployment: create, get, patch in kubeflow, istio-system', one line per kind and verbs."""
    verbs: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for p in missing:
        verbs[(p.group, p.resource, p.namespace)].add(p.verb)
    places: dict[tuple[str, str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource, namespace), granted in verbs.items():
        places[(group, resource, tuple(sorted(granted)))].append(namespace)
    lines = []
    # Cluster-wide needs first: they are what only a cluster admin can grant.
    for (group, resource, verb_list), namespaces in sorted(places.items(), key=lambda i: (i[1] != [""], i[0])):
        kind = kinds.get((group, resource), resource)
        where = (
            "cluster-wide" if namespaces == [""] else "in " + listing(sorted(n or "(cluster)" for n in namespaces), 4)
        )
        lines.append(f"{kind}: {', '.join(verb_list)} {where}")
    return lines


def check_permissions(ctx: CheckContext) -> Outcome:
    planned = planned_crd_resources(ctx.objects)

    def resolve(group: str, kind: str) -> tuple[str, bool] | None:
        resource = ctx.api.resource_for_group_kind(group, kind)
        if resource is not None:
            return resource.plural, resource.namespaced
        return planned.get((group, kind))

    needs = required_permissions((o.ref for o in ctx.objects), resolve)

    def allowed(questions: list[Permission]) -> dict[Permission, bool]:
        if len(questions) <= 1:
            return {q: review(ctx.api, q) for q in questions}
        with ThreadPoolExecutor(max_workers=ctx.options.concurrency, thread_name_prefix="kfctl-review") as pool:
            return dict(zip(questions, pool.map(lambda q: review(ctx.api, q), questions), strict=True))

    missing, reviews = missing_permissions(needs.permissions, allowed)
    user = ctx.identity.get("username") or "the current user"
    details: dict[str, Any] = {"needed": len(needs.permissions), "reviews": reviews}
    if needs.unresolved:
        details["unresolved"] = sorted(needs.unresolved)
    if missing:
        lines = describe_missing(missing, needs.kinds)
        details["missing"] = [p.as_dict(needs.kinds.get((p.group, p.resource), p.resource)) for p in missing]
        shown = "; ".join(lines[:8]) + (f"; and {len(lines) - 8} more (see -o json)" if len(lines) > 8 else "")
        return failed(
            f"{user} lacks {len(missing)} of the {len(needs.permissions)} permissions the plan needs: {shown}",
            "ask a cluster admin for them; installing the platform takes cluster-admin rights (CRDs, webhooks, "
            f"cluster roles), e.g. `kubectl create clusterrolebinding kfctl-installer --clusterrole=cluster-admin "
            f"--user={user}`",
            **details,
        )
    granted = (
        f"{user} may do anything cluster-wide: all {len(needs.permissions)} permissions the plan needs are granted"
        if reviews == 1
        else f"{user} has all {len(needs.permissions)} permissions the plan needs ({reviews} access reviews)"
    )
    if needs.unresolved:
        return warning(
            f"{granted}; kinds no served resource or planned CRD defines: {listing(sorted(needs.unresolved))}",
            "install the CRDs of those kinds first, or drop the objects that use them",
            **details,
        )
    return passed(granted, **details)


CHECKS = (Check("permissions", "Permissions", check_permissions),)
