"""What the cluster commands report: per-component results and the final documents of apply and
delete (`-o json` prints them; their shape is part of the scripting contract)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ComponentStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # a dependency did not become ready

    @property
    def ok(self) -> bool:
        return self in (ComponentStatus.APPLIED, ComponentStatus.UNCHANGED)


class ApplyStatus(StrEnum):
    DEPLOYED = "deployed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    TIMEOUT = "timeout"


@dataclass
class ComponentResult:
    name: str
    wave: int
    status: ComponentStatus = ComponentStatus.PENDING
    applied: int = 0
    unchanged: int = 0
    message: str = ""
    apply_seconds: float = 0.0
    wait_seconds: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status.ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wave": self.wave,
            "status": self.status.value,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "message": self.message,
            "applySeconds": round(self.apply_seconds, 3),
            "waitSeconds": round(self.wait_seconds, 3),
            "startedAt": round(self.started, 3),
            "finishedAt": round(self.finished, 3),
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass
class ApplyReport:
    app: str
    revision: int
    status: ApplyStatus
    components: list[ComponentResult]
    pruned: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    relaxed: list[str] = field(default_factory=list)
    adopted: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    writes: int = 0
    # CPU seconds of the kfctl process (every thread) and of its children (kustomize), from the OS's accounting:
    # on a small machine each one is taken from the cluster being waited for.
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "revision": self.revision,
            "status": self.status.value,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "writes": self.writes,
            "cpuSeconds": self.cpu_seconds,
            "components": [c.as_dict() for c in self.components],
            "pruned": self.pruned,
            "kept": self.kept,
            "relaxed": self.relaxed,
            "adopted": self.adopted,
        }


@dataclass
class DeleteReport:
    app: str
    deleted: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (object, why)
    stuck: list[dict[str, Any]] = field(default_factory=list)

    def kept_summary(self) -> list[dict[str, Any]]:
        """What was kept, counted per kind and reason: one line each instead of every name."""
        counts = Counter((ref.split(" ", 1)[0], why) for ref, why in self.kept)
        return [{"kind": kind, "count": n, "why": why} for (kind, why), n in sorted(counts.items())]

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "deleted": len(self.deleted),
            "kept": self.kept_summary(),
            "keptObjects": [{"object": ref, "why": why} for ref, why in self.kept],
            "stuck": self.stuck,
        }
