"""The error hierarchy and the one table that maps errors to exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0
    FAILED = 1  # the operation ran and failed (or `diff` found differences)
    BAD_INPUT = 2  # bad input or usage; nothing was changed
    UNREACHABLE = 3  # the cluster could not be reached
    TIMEOUT = 4  # timed out waiting for readiness
    LOCKED = 5  # another kfctl run holds the app's lock; nothing was changed


class KfctlError(Exception):
    """Root of every error kfctl reports to the user: a message that says what, where and how to fix."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail: dict[str, object] = {}  # structured context for JSON reports (object, conditions, events)

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text


class InputError(KfctlError):
    """Bad input: config, profile, catalog, flags or rendered manifests. Raised before any cluster write."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(InputError):
    """An app config, profile or catalog file is invalid; the message names file:line and the field."""


class RenderError(InputError):
    """kustomize is missing or too old, or a kustomization does not build."""


class SourceError(InputError):
    """A manifest source cannot be fetched or does not match its pinned digest."""


class ClusterUnreachableError(KfctlError):
    """The API server could not be reached (connection refused, DNS, TLS)."""

    exit_code = ExitCode.UNREACHABLE


class OperationError(KfctlError):
    """The cluster refused or failed an operation."""

    exit_code = ExitCode.FAILED


class LockedError(KfctlError):
    """Another kfctl run holds the app's lock (a Lease that is being renewed)."""

    exit_code = ExitCode.LOCKED


class WaitTimeoutError(KfctlError):
    """Readiness was not reached within --timeout."""

    exit_code = ExitCode.TIMEOUT
