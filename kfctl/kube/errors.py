"""What the API server said, as typed errors: one table from status code (and Status reason) to an
exception class, so callers catch `Conflict` or `WebhookUnavailable` instead of matching message text
(after kopf's `_cogs/clients/errors.py`)."""

from __future__ import annotations

from kfctl.errors import ClusterUnreachableError, OperationError
from kfctl.http import httpx

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
MESSAGE_LIMIT = 500


class ApiError(OperationError):
    """The API server refused a request. `transient` errors are worth retrying."""

    transient = False

    def __init__(self, message: str, *, status: int, reason: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


class Unauthorized(ApiError, ClusterUnreachableError):
    """401: the server does not accept the credentials (exit code 3, like an unreachable cluster)."""

    exit_code = ClusterUnreachableError.exit_code


class Forbidden(ApiError):
    """403: the user may not do this."""


class NamespaceTerminating(Forbidden):
    """403 because the namespace is being deleted: it takes nothing new until it is gone."""


class NotFound(ApiError):
    """404: the object does not exist."""


class NotServedError(NotFound):
    """The kind is not (yet) served by the API server: its CRD is missing or not established."""

    transient = True


class Conflict(ApiError):
    """409: the object changed since it was read (resourceVersion), or a field manager conflict."""


class AlreadyExists(Conflict):
    """409 AlreadyExists: a create lost a race."""


class Invalid(ApiError):
    """422: the object is invalid (or changes an immutable field)."""


class TooManyRequests(ApiError):
    """429: the server asks to slow down."""

    transient = True


class ServerError(ApiError):
    """5xx: the server failed; usually worth another try."""

    transient = True


class WebhookUnavailable(ServerError):
    """An admission webhook the request passes through did not answer (its backend is not up yet)."""


def _class_for(status: int, reason: str, message: str) -> type[ApiError]:
    if "failed calling webhook" in message:
        return WebhookUnavailable
    if status == 404 and "the server could not find the requested resource" in message:
        return NotServedError
    if status == 403 and "being terminated" in message:
        return NamespaceTerminating
    if status == 409 and reason == "AlreadyExists":
        return AlreadyExists
    by_status: dict[int, type[ApiError]] = {
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        422: Invalid,
        429: TooManyRequests,
    }
    if status in by_status:
        return by_status[status]
    return ServerError if status in TRANSIENT_STATUS else ApiError


HINTS: dict[type[ApiError], str] = {
    NamespaceTerminating: "the namespace is being deleted; wait for it to go, then apply again",
    Forbidden: "the current user lacks this permission; check with `kubectl auth can-i`",
    Invalid: "the object is invalid; fix it in the component's overrides or the manifests",
    Conflict: "the object changed while kfctl worked on it; run the command again",
    Unauthorized: "the credentials were refused: are they expired? check the kubeconfig's user",
    WebhookUnavailable: "the webhook's backend is not answering; is its Deployment ready?",
}


def api_error(response: httpx.Response, what: str, *, identity: str = "") -> ApiError:
    """The server's Status as a one-line typed error (body truncated; never echoes credentials).
    `identity` ("user U in context C") goes into the message of a 401/403 so the user knows who was refused."""
    try:
        status = response.json()
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    message = str(status.get("message") or response.text[:300] or f"HTTP {response.status_code}")
    reason = str(status.get("reason") or "")
    cls = _class_for(response.status_code, reason, message)
    hint = HINTS.get(cls) or next((h for c, h in HINTS.items() if issubclass(cls, c)), None)
    if "field is immutable" in message:
        hint = "an immutable field changed; delete the object (or the component) and apply again"
    if identity and cls in (Unauthorized, Forbidden):
        message = f"{message} (as {identity})"
    return cls(f"{what}: {message[:MESSAGE_LIMIT]}", status=response.status_code, reason=reason, hint=hint)
