"""GPUs, when the profile requires them: nodes with allocatable `nvidia.com/gpu` (and nodes whose
hardware labels say NVIDIA but that allocate none), the NVIDIA device plugin, the RuntimeClass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfctl.kube.api import ObjectRef
from kfctl.platform.readiness import readiness
from kfctl.preflight.context import (
    Check,
    CheckContext,
    Outcome,
    failed,
    labels_of,
    listing,
    name_of,
    namespace_of,
    passed,
    skipped,
    warning,
    where,
)
from kfctl.preflight.nodes import allocatable

GPU_RESOURCE = "nvidia.com/gpu"
# Set by NVIDIA GPU feature discovery and by node feature discovery (PCI vendor 10de is NVIDIA).
HARDWARE_LABELS = ("nvidia.com/gpu.present", "feature.node.kubernetes.io/pci-10de.present")
# GPU feature discovery labels shown in the report.
FEATURE_LABELS: Mapping[str, str] = {
    "product": "nvidia.com/gpu.product",
    "count": "nvidia.com/gpu.count",
    "memoryMiB": "nvidia.com/gpu.memory",
    "family": "nvidia.com/gpu.family",
    "driverMajor": "nvidia.com/cuda.driver.major",
}
INSTALL_PLUGIN = (
    "install the NVIDIA device plugin (its static manifest or Helm chart, "
    "https://github.com/NVIDIA/k8s-device-plugin) or the NVIDIA GPU operator"
)


@dataclass(frozen=True)
class DevicePluginSignature:
    installed_by: str
    names: tuple[str, ...] = ()  # exact DaemonSet names
    suffixes: tuple[str, ...] = ()  # Helm names DaemonSets <release>-<chart>
    namespaces: tuple[str, ...] = ()  # empty: any

    def matches(self, daemonset: dict[str, Any]) -> bool:
        name = name_of(daemonset)
        named = name in self.names or any(name.endswith(s) for s in self.suffixes)
        return named and (not self.namespaces or namespace_of(daemonset) in self.namespaces)


DEVICE_PLUGINS: tuple[DevicePluginSignature, ...] = (
    DevicePluginSignature(
        "GPU operator", ("nvidia-device-plugin-daemonset",), (), ("gpu-operator", "nvidia-gpu-operator")
    ),
    DevicePluginSignature("static manifest", ("nvidia-device-plugin-daemonset",)),
    DevicePluginSignature("Helm chart", ("nvidia-device-plugin",), ("-nvidia-device-plugin",)),
)


def not_required(ctx: CheckContext) -> Outcome | None:
    if ctx.profile.gpu_required:
        return None
    gpus = gpu_nodes(ctx.nodes())[0] if _can_list_nodes(ctx) else []
    return skipped(
        f"profile {ctx.profile.name} does not require GPUs" + (f" (the cluster has {gpu_count(gpus)})" if gpus else ""),
        nodes=gpus,
    )


def _can_list_nodes(ctx: CheckContext) -> bool:
    try:
        ctx.nodes()
    except Exception:  # a skipped check never fails for want of a listing it only decorates with
        return False
    return True


def gpu_nodes(nodes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Nodes with allocatable GPUs (with their feature labels), and names of nodes with NVIDIA
    hardware labels but no allocatable GPU."""
    with_gpus: list[dict[str, Any]] = []
    unallocatable: list[str] = []
    for node in nodes:
        labels = labels_of(node)
        count = int(allocatable(node, GPU_RESOURCE))
        if count > 0:
            features = {key: labels[label] for key, label in FEATURE_LABELS.items() if label in labels}
            with_gpus.append({"node": name_of(node), "gpus": count, **features})
        elif any(labels.get(label) == "true" for label in HARDWARE_LABELS):
            unallocatable.append(name_of(node))
    return with_gpus, unallocatable


def gpu_count(with_gpus: list[dict[str, Any]]) -> str:
    total = sum(n["gpus"] for n in with_gpus)
    return f"{total} GPU{'s' if total != 1 else ''} on {len(with_gpus)} node{'s' if len(with_gpus) != 1 else ''}"


def _describe(node: dict[str, Any]) -> str:
    product = f" x {node['product']}" if node.get("product") else ""
    memory = f" ({node['memoryMiB']} MiB)" if node.get("memoryMiB") else ""
    return f"{node['node']}: {node['gpus']}{product}{memory}"


def evaluate_gpu_nodes(with_gpus: list[dict[str, Any]], unallocatable: list[str]) -> Outcome:
    details = {"nodes": with_gpus, "withoutAllocatableGpus": unallocatable}
    flagged = (
        f"{listing(unallocatable)} {'has' if len(unallocatable) == 1 else 'have'} NVIDIA hardware labels "
        f"but no allocatable {GPU_RESOURCE}"
    )
    if not with_gpus:
        return failed(
            f"no node has allocatable {GPU_RESOURCE}" + (f"; {flagged}" if unallocatable else ""),
            INSTALL_PLUGIN + "; on nodes with GPUs, check the driver and the NVIDIA container toolkit",
            **details,
        )
    summary = f"{gpu_count(with_gpus)} ({listing([_describe(n) for n in with_gpus], 4)})"
    if unallocatable:
        return warning(
            f"{summary}; {flagged}",
            "check the device plugin pod, the driver and the container toolkit on those nodes",
            **details,
        )
    return passed(summary, **details)


def check_gpu_nodes(ctx: CheckContext) -> Outcome:
    return not_required(ctx) or evaluate_gpu_nodes(*gpu_nodes(ctx.nodes()))


def check_gpu_device_plugin(ctx: CheckContext) -> Outcome:
    skip = not_required(ctx)
    if skip:
        return skip
    plugins = [
        (signature, daemonset)
        for daemonset in ctx.daemonsets()
        # the first, most specific signature names how it was installed
        for signature in [next((s for s in DEVICE_PLUGINS if s.matches(daemonset)), None)]
        if signature is not None
    ]
    if not plugins:
        return failed(
            "no NVIDIA device plugin DaemonSet (static nvidia-device-plugin-daemonset, Helm "
            "*nvidia-device-plugin, or the GPU operator's)",
            INSTALL_PLUGIN,
        )
    states = [(signature, daemonset, readiness(daemonset)) for signature, daemonset in plugins]
    details = {
        "daemonSets": [
            {"daemonSet": where(d), "installedBy": s.installed_by, "state": state.message} for s, d, state in states
        ]
    }
    described = listing([f"{where(d)} ({s.installed_by}): {state.message}" for s, d, state in states])
    if all((d.get("status") or {}).get("desiredNumberScheduled") == 0 for _, d, _ in states):
        return failed(
            f"the device plugin schedules on no node: {described}",
            "check its nodeSelector and tolerations against the GPU nodes' labels and taints",
            **details,
        )
    if not any((d.get("status") or {}).get("numberReady") for _, d, _ in states):
        return failed(
            f"the device plugin is not running: {described}",
            "check its pods: `kubectl -n NAMESPACE describe daemonset NAME`",
            **details,
        )
    if not all(state.ready for _, _, state in states):
        return warning(
            f"the device plugin is not ready on every node: {described}",
            "GPUs of nodes without a ready device plugin pod are not allocatable; check its pods there",
            **details,
        )
    return passed(described, **details)


def check_gpu_runtime_class(ctx: CheckContext) -> Outcome:
    skip = not_required(ctx)
    if skip:
        return skip
    name = ctx.profile.gpu_runtime_class
    if not name:
        return skipped(f"profile {ctx.profile.name} names no GPU runtime class")
    runtime_class = ctx.get(ObjectRef("node.k8s.io/v1", "RuntimeClass", "", name))
    if runtime_class is None:
        return failed(
            f"RuntimeClass {name} is missing: GPU workloads that name it cannot start",
            f"create it (the GPU operator does): a RuntimeClass {name} with handler {name}, "
            "matching the NVIDIA container runtime configured on the GPU nodes",
        )
    handler = runtime_class.get("handler", "")
    return passed(f"RuntimeClass {name} (handler {handler})", handler=handler)


CHECKS = (
    Check("gpu-nodes", "GPU nodes", check_gpu_nodes),
    Check("gpu-device-plugin", "NVIDIA device plugin", check_gpu_device_plugin),
    Check("gpu-runtime-class", "GPU RuntimeClass", check_gpu_runtime_class),
)
