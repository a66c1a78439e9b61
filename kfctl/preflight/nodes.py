"""Nodes: Ready and schedulable; their allocatable CPU and memory against what the plan requests."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    PlannedObjectLike,
    count,
    failed,
    listing,
    name_of,
    passed,
    warning,
)

_SUFFIXES: Mapping[str, Decimal] = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$")
GIB = 2**30
# Nodes that take no ordinary workloads.
CONTROL_PLANE_TAINTS = frozenset({"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"})
# Of the capacity, how much the plan may request before preflight warns (other workloads need room too).
HEADROOM = 0.8


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes resource quantity ("250m", "1.5Gi", "1e3", 2) as a number; ValueError if it is not one."""
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    try:
        return float(Decimal(match.group(1)) * _SUFFIXES[match.group(2) or ""])
    except InvalidOperation as error:
        raise ValueError(f"not a quantity: {text!r}") from error


def _quantity(value: Any) -> float:
    try:
        return parse_quantity(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def node_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and str(c.get("status")) == "True" for c in conditions)


def node_schedulable(node: Mapping[str, Any]) -> bool:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    return not any(
        t.get("key") in CONTROL_PLANE_TAINTS and t.get("effect") in ("NoSchedule", "NoExecute")
        for t in spec.get("taints") or []
    )


def allocatable(node: Mapping[str, Any], resource: str) -> float:
    return _quantity(((node.get("status") or {}).get("allocatable") or {}).get(resource))


# -- what the plan's workloads request -----------------------------------------------------------


def _pod_spec(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = manifest.get("kind")
    spec = manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"):
        return (spec.get("template") or {}).get("spec") or {}
    return None  # CronJobs run now and then; custom workloads create their pods later


# How many pods a workload runs: kind → (manifest, schedulable nodes) → count.
REPLICAS: Mapping[str, Callable[[Mapping[str, Any], int], int]] = {
    "Pod": lambda m, n: 1,
    "Deployment": lambda m, n: int((m.get("spec") or {}).get("replicas", 1) or 0),
    "StatefulSet": lambda m, n: int((m.get("spec") or {}).get("replicas", 1) or 0),
    "ReplicaSet": lambda m, n: int((m.get("spec") or {}).get("replicas", 1) or 0),
    "Job": lambda m, n: int((m.get("spec") or {}).get("parallelism", 1) or 0),
    "DaemonSet": lambda m, n: n,
}


def pod_requests(pod_spec: Mapping[str, Any]) -> dict[str, float]:
    """CPU and memory one pod requests: its containers' sum, or its largest init container if more.
    A container with a limit and no request requests its limit (the API server defaults it so)."""

    def container(c: Mapping[str, Any], resource: str) -> float:
        resources = c.get("resources") or {}
        value = (resources.get("requests") or {}).get(resource)
        if value is None:
            value = (resources.get("limits") or {}).get(resource)
        return _quantity(value)

    result = {}
    for resource in ("cpu", "memory"):
        regular = sum(container(c, resource) for c in pod_spec.get("containers") or [])
        init = max((container(c, resource) for c in pod_spec.get("initContainers") or []), default=0.0)
        result[resource] = max(regular, init)
    return result


@dataclass
class PlannedLoad:
    cpu: float = 0.0
    memory: float = 0.0
    pods: int = 0
    largest: str = ""  # the workload whose pods request the most
    largest_cpu: float = 0.0
    largest_memory: float = 0.0


def planned_load(objects: Iterable[PlannedObjectLike], schedulable_nodes: int) -> PlannedLoad:
    load = PlannedLoad()
    for obj in objects:
        counter = REPLICAS.get(obj.ref.kind)
        spec = _pod_spec(obj.manifest)
        if counter is None or spec is None:
            continue
        try:
            replicas = counter(obj.manifest, schedulable_nodes)
        except (TypeError, ValueError):
            replicas = 1
        requests = pod_requests(spec)
        load.cpu += replicas * requests["cpu"]
        load.memory += replicas * requests["memory"]
        load.pods += replicas
        if replicas and (requests["cpu"], requests["memory"]) > (load.largest_cpu, load.largest_memory):
            load.largest, load.largest_cpu, load.largest_memory = str(obj.ref), requests["cpu"], requests["memory"]
    return load


def _cpu(value: float) -> str:
    return f"{value:.1f} CPU"


def _gib(value: float) -> str:
    return f"{value / GIB:.1f} GiB"


# -- checks ----------------------------------------------------------------------------------------


def check_nodes_ready(ctx: CheckContext) -> Outcome:
    nodes = ctx.nodes()
    if not nodes:
        return failed("the cluster has no nodes", "add worker nodes; nothing can run without them")
    not_ready = [name_of(n) for n in nodes if not node_ready(n)]
    cordoned = [name_of(n) for n in nodes if node_ready(n) and not node_schedulable(n)]
    usable = [n for n in nodes if node_ready(n) and node_schedulable(n)]
    details = {
        "nodes": len(nodes),
        "ready": len(nodes) - len(not_ready),
        "schedulable": len(usable),
        "notReady": not_ready,
        "unschedulable": cordoned,
    }
    if not usable:
        return failed(
            f"no node is Ready and schedulable ({len(not_ready)} not Ready, {len(cordoned)} unschedulable)",
            "check the nodes with `kubectl describe nodes` (kubelet, CNI, cordons)",
            **details,
        )
    if not_ready:
        return warning(
            f"{len(usable)}/{len(nodes)} nodes usable; not Ready: {listing(not_ready)}",
            "check those nodes with `kubectl describe node NAME`",
            **details,
        )
    return passed(
        f"{len(nodes)}/{len(nodes)} nodes Ready"
        + (f"; {len(cordoned)} take no workloads ({listing(cordoned)})" if cordoned else ""),
        **details,
    )


def check_node_capacity(ctx: CheckContext) -> Outcome:
    usable = [n for n in ctx.nodes() if node_ready(n) and node_schedulable(n)]
    load = planned_load(ctx.objects, len(usable))
    cpu = sum(allocatable(n, "cpu") for n in usable)
    memory = sum(allocatable(n, "memory") for n in usable)
    details = {
        "requested": {"cpu": round(load.cpu, 3), "memoryBytes": int(load.memory), "pods": load.pods},
        "allocatable": {"cpu": round(cpu, 3), "memoryBytes": int(memory), "nodes": len(usable)},
    }
    summary = (
        f"the plan requests {_cpu(load.cpu)} and {_gib(load.memory)} for {count(load.pods, 'pod')}; "
        f"{count(len(usable), 'usable node')} allocate {_cpu(cpu)} and {_gib(memory)}"
    )
    if not usable:
        return failed(f"{summary}: no node can take them", "add Ready, schedulable worker nodes", **details)
    fits = any(
        allocatable(n, "cpu") >= load.largest_cpu and allocatable(n, "memory") >= load.largest_memory for n in usable
    )
    if not fits:
        return failed(
            f"{load.largest} requests {_cpu(load.largest_cpu)} and {_gib(load.largest_memory)} per pod, "
            "more than any single node allocates",
            "add a larger node, or lower that workload's requests in the component's `resources:`",
            **details,
        )
    if load.cpu > cpu or load.memory > memory:
        return failed(
            f"{summary}: not enough",
            "add nodes, or install fewer components (`components:` in kfctl.yaml)",
            **details,
        )
    if load.cpu > HEADROOM * cpu or load.memory > HEADROOM * memory:
        return warning(
            f"{summary}: more than {HEADROOM:.0%} of it, little room is left for other workloads",
            "add nodes before running notebooks and training jobs",
            **details,
        )
    shares = f"{load.cpu / cpu if cpu else 0:.0%} CPU, {load.memory / memory if memory else 0:.0%} memory"
    return passed(f"{summary} ({shares})", **details)


CHECKS = (
    Check("nodes-ready", "Nodes Ready", check_nodes_ready),
    Check("node-capacity", "Node capacity", check_node_capacity),
)
