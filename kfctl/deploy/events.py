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
        if kind == "preflight":
            counts = ", ".join(f"{n} {status.lower()}" for status, n in fields["summary"].items() if n)
            return "preflight: " + counts + "".join(f"\n  warning: {w}" for w in fields["warnings"])
        if kind == "prune":
            lines = [f"pruned {len(fields['pruned'])} objects"] + [f"  kept {item}" for item in fields["kept"]]
            return "\n".join(lines)
        return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in fields.items())


class TerminalReporter(Reporter):
    """On a TTY: a rich progress bar of components done per wave, with the same lines printed above it."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task: Any = None

    def event(self, kind: str, **fields: Any) -> None:
        with self._lock:
            if kind == "start":
                self.progress.start()
                self.task = self.progress.add_task("components", total=fields["components"])
            elif kind == "wave" and self.task is not None:
                self.progress.update(self.task, description=f"wave {fields['index']}/{fields['total']}")
            elif kind == "component" and self.task is not None:
                self.progress.advance(self.task)
            elapsed = round(time.monotonic() - self.started, 2)
            self.progress.console.print(f"[{elapsed:7.2f}s] {self._text(kind, fields)}", highlight=False, markup=False)

    def flush(self) -> None:
        with self._lock:
            self.progress.stop()


def reporter_for(*, json_lines: bool) -> Reporter:
    """JSON lines when asked; a progress bar on a terminal; plain lines otherwise (CI, pipes)."""
    if json_lines:
        return Reporter(json_lines=True)
    if sys.stderr.isatty():
        return TerminalReporter()
    return Reporter()
