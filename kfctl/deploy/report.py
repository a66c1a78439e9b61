"""Progress of long operations: plain lines on stderr for people and CI, JSON lines for scripts.

kfctl never prompts without a TTY; progress never goes to stdout unless JSON was asked for, so
stdout stays the command's data.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from kfctl.output import SCHEMA_VERSION


class Reporter:
    """Events of an operation. `json_lines`: one JSON object per event on stdout."""

    def __init__(self, *, json_lines: bool = False, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.quiet = quiet
        self.stream = stream or (sys.stdout if json_lines else sys.stderr)
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        if self.quiet:
            return
        elapsed = round(time.monotonic() - self.started, 2)
        with self._lock:
            if self.json_lines:
                self.stream.write(
                    json.dumps(
                        {"apiVersion": SCHEMA_VERSION, "kind": "Event", "event": kind, "elapsed": elapsed, **fields}
                    )
                    + "\n"
                )
            else:
                self.stream.write(f"[{elapsed:7.2f}s] {self._text(kind, fields)}\n")
            self.stream.flush()

    def flush(self) -> None:
        with self._lock:
            self.stream.flush()

    @staticmethod
    def _text(kind: str, fields: dict[str, Any]) -> str:
        if kind == "start":
            relaxed = fields.get("relaxed") or []
            text = (
                f"applying {fields['app']} revision {fields['revision']}: {fields['objects']} objects in "
                f"{fields['components']} components, {fields['waves']} waves ({fields['unchanged']} unchanged)"
            )
            if relaxed:
                text += (
                    f"; simulated cluster: {len(relaxed)} webhook configurations set to failurePolicy Ignore "
                    "(no pod answers here)"
                )
            return text
        if kind == "wave":
            return f"wave {fields['index']}/{fields['total']}: {', '.join(fields['components'])}"
        if kind == "component":
            text = f"  {fields['name']}: {fields['status']}"
            if "applied" in fields:
                text += f" ({fields.get('applied', 0)} applied, {fields.get('unchanged', 0)} unchanged"
                text += f", {fields['seconds']}s)" if "seconds" in fields else ")"
            if fields.get("message"):
                text += f" — {fields['message']}"
            return text
        if kind == "waiting":
            return f"  {fields['component']}: waiting for {fields['object']}: {fields['reason']}"
        if kind == "prune":
            lines = [f"pruned {len(fields['pruned'])} objects"] + [f"  kept {item}" for item in fields["kept"]]
            return "\n".join(lines)
        return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in fields.items())
