"""Progress of long operations, as events: plain lines on stderr for people and CI, JSON lines for
scripts (on stderr with `-o json`, or in a file with `--events FILE`).

stdout is the command's data only: with `-o json` it carries exactly one document, the final
report, so `kfctl apply -o json | jq` works. kfctl never prompts without a TTY.

Event kinds: start, preflight, lock, wave, component, waiting, prune, delete, deleted; each JSON line
is {"apiVersion", "kind": "Event", "event": KIND, "elapsed": seconds since the start, …fields}.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from kfctl.output import SCHEMA_VERSION


class Reporter:
    """Writes each event as a text line to `text` and as a JSON line to `json_stream` (either may be None)."""

    def __init__(self, *, text: TextIO | None = None, json_stream: TextIO | None = None) -> None:
        self.text = text
        self.json_stream = json_stream
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def event(self, kind: str, **fields: Any) -> None:
        elapsed = round(time.monotonic() - self.started, 2)
        with self._lock:
            if self.json_stream is not None:
                document = {"apiVersion": SCHEMA_VERSION, "kind": "Event", "event": kind, "elapsed": elapsed, **fields}
                self.json_stream.write(json.dumps(document, default=str) + "\n")
                self.json_stream.flush()
            self._text_line(kind, elapsed, fields)

    def _text_line(self, kind: str, elapsed: float, fields: dict[str, Any]) -> None:
        if self.text is not None:
            self.text.write(f"[{elapsed:7.2f}s] {describe(kind, fields)}\n")
            self.text.flush()

    def close(self) -> None:
        with self._lock:
            for stream in (self.text, self.json_stream):
                if stream is not None:
                    stream.flush()


def describe(kind: str, fields: dict[str, Any]) -> str:
    """An event as one line for people."""
    if kind == "start":
        relaxed = fields.get("relaxed") or []
        text = (
            f"applying {fields['app']} revision {fields['revision']}: {fields['objects']} objects in "
            f"{fields['components']} components, {fields['waves']} waves ({fields['unchanged']} unchanged)"
        )
        if fields.get("adopted"):
            text += f"; adopting {fields['adopted']} objects from other owners (--adopt)"
        if fields.get("orphaned"):
            text += f"; taking over {fields['orphaned']} objects whose ApplySet is gone (an app deleted earlier)"
        if relaxed:
            text += (
                f"; simulated cluster: {len(relaxed)} webhook configurations set to failurePolicy Ignore "
                "(no pod answers here)"
            )
        return text
    if kind == "render":
        cache = fields.get("cache")
        how = (
            f" ({cache['hits']} components from the render cache, {cache['misses']} built)"
            if cache
            else " (render cache off)"
        )
        return f"rendered in {fields['seconds']}s{how}"
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
    if kind in ("lock", "notice"):
        return str(fields["message"])
    if kind == "delete":
        return f"deleting {fields['app']}: {fields['objects']} objects" + (
            " and their data (--purge)" if fields.get("purge") else ""
        )
    if kind == "deleted":
        kept = sum(k["count"] for k in fields.get("kept") or [])
        return f"deleted {fields['deleted']} objects of {fields['app']}" + (f", kept {kept}" if kept else "")
    return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in fields.items())


class TerminalReporter(Reporter):
    """On a TTY: a rich progress bar of components done, with the same lines printed above it."""

    def __init__(self, *, json_stream: TextIO | None = None) -> None:
        super().__init__(text=None, json_stream=json_stream)
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

    def _text_line(self, kind: str, elapsed: float, fields: dict[str, Any]) -> None:
        if kind == "start":
            self.progress.start()
            self.task = self.progress.add_task("components", total=fields["components"])
        elif kind == "wave" and self.task is not None:
            self.progress.update(self.task, description=f"wave {fields['index']}/{fields['total']}")
        elif kind == "component" and self.task is not None:
            self.progress.advance(self.task)
        self.progress.console.print(f"[{elapsed:7.2f}s] {describe(kind, fields)}", highlight=False, markup=False)

    def close(self) -> None:
        super().close()
        with self._lock:
            self.progress.stop()


def reporter_for(*, json_output: bool, events_file: TextIO | None = None) -> Reporter:
    """With -o json: JSON lines on stderr, or only in `events_file`. Otherwise: a progress bar on a
    terminal, plain lines in CI and pipes, and JSON lines in `events_file` too when given."""
    if json_output:
        return Reporter(json_stream=events_file or sys.stderr)
    if sys.stderr.isatty():
        return TerminalReporter(json_stream=events_file)
    return Reporter(text=sys.stderr, json_stream=events_file)


def quiet() -> Reporter:
    """No output (library callers, benchmarks)."""
    return Reporter()
