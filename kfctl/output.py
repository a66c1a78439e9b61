"""Data on stdout, logs on stderr: the emitters every read command shares."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# rich (logs only), PyYAML and json load inside the functions that print, not at import: every command module imports
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


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> str:
    """Aligned columns like kubectl's: two spaces apart, whole cells (a name or URL is never cut or folded),
    no trailing blanks, so a script can split a line and a reader can copy a cell."""
    cells = [[str(column) for column in columns]]
    cells += [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(line[index]) for line in cells if index < len(line)) for index in range(len(cells[0]))]
    lines = [title] if title else []
    for line in cells:
        padded = [cell.ljust(widths[index]) if index < len(widths) else cell for index, cell in enumerate(line)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


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
        sys.stdout.write(format_table(columns, rows, title=title))
        return
    body = data if isinstance(data, dict) else {"items": data}
    document = {"apiVersion": SCHEMA_VERSION, "kind": kind, "schemaVersion": SCHEMA_VERSION, **body}
    if fmt is OutputFormat.JSON:
        import json

        sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
