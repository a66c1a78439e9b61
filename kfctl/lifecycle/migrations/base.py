"""What a per-release migration is: a step of `kfctl upgrade` that a plain apply of the new
manifests cannot do by itself (delete an object whose immutable fields changed in a way the engine
must not guess, keep data a removed component held, print what an operator must copy by hand).

A migration belongs to one release step (FROM → TO, platform names as in the catalogs), says where it
comes from (the release's notes, or the diff of the rendered platforms), checks whether it applies to
this cluster (what it finds there), and acts. `check` only reads; `action` may write and returns one
line per thing it did; both are given the Api and a `note` callback for what the operator must know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from kfctl.kube.api import Api

Note = Callable[[str], None]


class When(StrEnum):
    BEFORE = "before"  # before the step's apply (e.g. delete what the new manifests cannot update)
    AFTER = "after"  # after it (e.g. tell how to copy data into what the new release installed)


@dataclass(frozen=True)
class Migration:
    id: str  # stable, e.g. "1.10-meta-controller-binding"
    step: tuple[str, str]  # (from platform, to platform), e.g. ("kubeflow-1.9", "kubeflow-1.10")
    description: str
    source: str  # where it was found: a README section, release notes, a rendered diff
    check: Callable[[Api], list[str]]  # what it would act on here; [] when it does not apply
    action: Callable[[Api, Note], list[str]]  # what it did
    when: When = When.BEFORE

    def summary(self, findings: list[str]) -> dict[str, object]:
        return {
            "id": self.id,
            "step": f"{self.step[0]} -> {self.step[1]}",
            "when": self.when.value,
            "description": self.description,
            "source": self.source,
            "applies": bool(findings),
            "findings": findings,
        }
