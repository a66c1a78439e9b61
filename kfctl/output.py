"""Data on stdout, logs on stderr: the emitters every read command shares."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich, PyYAML and json load inside the functions that print, not at import: every command module imports
# this one, and `kfctl --help` should not pay for them.

# JSON and YAML output carry a schema version so scripts can depend on the shape: every document has
# apiVersion, kind and schemaVersion; a command prints exactly one document on stdout.
SCHEMA_VERSION = "kfctl.dev/v1alpha1"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def log_console() -> Console:
    """Logs and progress go to stderr so stdout stays parseable."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit(
    kind: str,
    data: Any,
    fmt: OutputFormat,
    *,
    columns: Sequence[str] = (),
    rows: Sequence[Sequence[Any]] = (),
    title: str | None = None,
) -> None:
    """Print `data` as JSON/YAML (with kind and schema version) or `rows` as a table."""
    if fmt is OutputFormat.TABLE:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_edge=False, box=None, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")  # never cut a name or URL short
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        # A terminal gets its width (long cells fold); a pipe or CI log gets whole lines, never cut.
        width = Console().width if sys.stdout.isatty() else 100_000
        Console(soft_wrap=True, width=max(120, width)).print(table)
        return
    body = data if isinstance(data, dict) else {"items": data}
    document = {"apiVersion": SCHEMA_VERSION, "kind": kind, "schemaVersion": SCHEMA_VERSION, **body}
    if fmt is OutputFormat.JSON:
        import json

        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
