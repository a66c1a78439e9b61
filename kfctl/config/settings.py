"""Run settings: one resolver for what a command-line flag, the app config's `settings:` and the
built-in defaults say, in that order, so every command honours `settings:` the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kfctl.errors import InputError
from kfctl.schema import Where

DEFAULT_CONCURRENCY = 16
DEFAULT_WAIT = True
DEFAULT_TIMEOUT = "15m"
DEFAULT_ADOPT = False

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
DURATION_HINT = "use a number with a unit: 500ms, 90s, 15m, 1h or 1h30m"


@dataclass(frozen=True)
class RunSettings:
    concurrency: int  # API requests in flight at most
    wait: bool  # wait for each component to be ready
    timeout_seconds: float  # give up waiting after this long
    adopt: bool  # take over objects that another owner manages (recorded in the release)


def resolve_run_settings(
    config_settings: dict[str, Any],
    *,
    concurrency: int | None = None,
    wait: bool | None = None,
    timeout: str | None = None,
    adopt: bool | None = None,
) -> RunSettings:
    """A flag that was given wins, else the config's setting, else the built-in default.

    `config_settings` is `AppConfig.settings` (validated: a key is None when the config leaves it
    out); pass None for a flag the user did not give, never the flag's displayed default.
    """

    def pick(flag: Any, key: str, default: Any) -> Any:
        if flag is not None:
            return flag
        configured = config_settings.get(key)
        return default if configured is None else configured

    if timeout is not None:
        timeout_seconds = parse_duration(timeout, "--timeout")
    else:
        timeout_seconds = parse_duration(str(pick(None, "timeout", DEFAULT_TIMEOUT)), "settings.timeout")
    return RunSettings(
        concurrency=int(pick(concurrency, "concurrency", DEFAULT_CONCURRENCY)),
        wait=bool(pick(wait, "wait", DEFAULT_WAIT)),
        timeout_seconds=timeout_seconds,
        adopt=bool(pick(adopt, "adopt", DEFAULT_ADOPT)),
    )


def parse_duration(text: str, where: Where | str) -> float:
    """Seconds in a duration such as 500ms, 90s, 15m, 1h or 1h30m. `where` is the flag that gave it
    (`--timeout`) or the config field's position; a bad value is an InputError naming it."""
    stripped = text.strip()
    parts = list(_DURATION_PART.finditer(stripped))
    if not parts or "".join(part.group(0) for part in parts) != stripped:
        raise _bad(where, f"{text!r} is not a duration", DURATION_HINT)
    seconds = sum(float(part.group(1)) * _UNIT_SECONDS[part.group(2)] for part in parts)
    if seconds <= 0:
        raise _bad(where, f"{text!r}: a duration must be more than 0", DURATION_HINT)
    return seconds


def _bad(where: Where | str, message: str, hint: str) -> InputError:
    if isinstance(where, Where):
        return where.error(message, hint)
    return InputError(f"{where}: {message}", hint=hint)
