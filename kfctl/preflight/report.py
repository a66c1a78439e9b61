"""What preflight says: one result per check, the options that shaped the run, and the report
that `kfctl preflight` prints and `apply` consults before it writes anything."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kfctl.errors import ExitCode, InputError, OperationError
from kfctl.output import SCHEMA_VERSION
from kfctl.preflight.fail_on import FailOn

ALL = "all"


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"
    UNKNOWN = "UNKNOWN"  # the check could not run (forbidden, unreachable, a bug): never a PASS


@dataclass
class CheckResult:
    id: str
    status: Status
    message: str
    remediation: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    ignored: bool = False  # a failure the user chose to ignore, reported as a warning

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "status": self.status.value, "message": self.message}
        if self.remediation:
            data["remediation"] = self.remediation
        if self.ignored:
            data["ignored"] = True
        if self.details:
            data["details"] = self.details
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class PreflightOptions:
    """Which checks run and what fails the run. IDs are validated by `parse_ids` (bad ones: exit 2)."""

    only: frozenset[str] = frozenset()  # empty: every check
    skip: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()  # IDs, or "all": their failures become warnings
    fail_on: FailOn = FailOn.FAIL
    deep: bool = False  # checks that write to the cluster (a test PVC), opt-in
    adopt: bool = False  # apply takes over objects of other owners (--adopt): foreign-crds warns instead
    concurrency: int = 16  # access reviews in flight at most
    context: str | None = None  # the kubeconfig context, for the report only

    def validate(self, known: Iterable[str]) -> None:
        from kfctl.schema import suggest  # ruamel.yaml under it: not at import (`kfctl preflight --help`)

        names = list(known)
        for flag, ids in (("--only", self.only), ("--skip", self.skip), ("--ignore-preflight-errors", self.ignore)):
            for check_id in ids:
                if check_id != ALL and check_id not in names:
                    raise InputError(
                        f"{flag}: unknown preflight check {check_id!r}", hint=suggest(check_id, names, "check")
                    )
            if ALL in ids and flag != "--ignore-preflight-errors":
                raise InputError(f"{flag}: name check IDs ({ALL!r} is only for --ignore-preflight-errors)")

    def selected(self, check_id: str) -> bool:
        return (not self.only or check_id in self.only) and check_id not in self.skip

    def ignores(self, check_id: str) -> bool:
        return ALL in self.ignore or check_id in self.ignore


def parse_ids(values: Iterable[str] | None) -> frozenset[str]:
    """`--only a,b --only c` → {a, b, c}."""
    return frozenset(part.strip() for value in values or () for part in value.split(",") if part.strip())


class PreflightFailedError(OperationError):
    """Preflight found problems: `apply` refuses to start (exit code 1) and nothing was written."""


@dataclass
class PreflightReport:
    app: str
    platform: str
    profile: str
    context: dict[str, Any]  # {name, server}
    identity: dict[str, Any]  # {username, groups} from a SelfSubjectReview, or {error}
    server_version: dict[str, Any]  # {gitVersion, version} or {error}
    checks: list[CheckResult]
    options: PreflightOptions
    seconds: float = 0.0
    requests: int = 0  # API requests preflight made

    def check(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(c.status for c in self.checks)
        return {status.value: counts.get(status, 0) for status in Status}

    @property
    def failures(self) -> list[CheckResult]:
        """What fails the run: failures, and with --fail-on warn also warnings and unknowns not ignored."""
        failing = {Status.FAIL}
        if self.options.fail_on is FailOn.WARN:
            failing |= {Status.WARN, Status.UNKNOWN}
        return [c for c in self.checks if c.status in failing and not c.ignored]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0: passed (warnings allowed unless --fail-on warn), 1: failed. Bad input (2) never gets this far."""
        return int(ExitCode.OK if self.ok else ExitCode.FAILED)

    def raise_for_failures(self) -> None:
        """For `apply`: refuse to start, naming each failed check and how to get past it."""
        failures = self.failures
        if not failures:
            return
        listed = "; ".join(f"{c.id}: {c.message}" for c in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        ids = ",".join(c.id for c in failures)
        error = PreflightFailedError(
            f"preflight failed, nothing was applied: {listed}{more}",
            hint=f"fix the cluster, or pass --ignore-preflight-errors={ids}; `kfctl preflight` shows remediations",
        )
        error.detail = self.as_dict()
        raise error

    def as_dict(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "app": self.app,
            "platform": self.platform,
            "profile": self.profile,
            "context": self.context,
            "identity": self.identity,
            "serverVersion": self.server_version,
            "result": "passed" if self.ok else "failed",
            "exitCode": self.exit_code,
            "summary": self.summary,
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "options": {
                "only": sorted(self.options.only),
                "skip": sorted(self.options.skip),
                "ignore": sorted(self.options.ignore),
                "failOn": self.options.fail_on.value,
                "deep": self.options.deep,
            },
            "checks": [c.as_dict() for c in self.checks],
        }
