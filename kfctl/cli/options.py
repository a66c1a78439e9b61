"""Option types shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kfctl.output import OutputFormat

OutputOption = Annotated[OutputFormat, typer.Option("-o", "--output", help="Output format.")]
ConfigOption = Annotated[
    Path,
    typer.Option("-f", "--file", help="The app config (kfctl.yaml, or a legacy KfDef v1 file).", envvar="KFCTL_CONFIG"),
]
ManifestsDirOption = Annotated[
    Path | None,
    typer.Option("--manifests-dir", help="Directory holding the platform's manifests (or $KFCTL_MANIFESTS_DIR)."),
]
KustomizeBinOption = Annotated[
    str | None, typer.Option("--kustomize-bin", help="kustomize or kubectl binary to render with.")
]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache", help="Build every component with kustomize, not from the render cache ($KFCTL_NO_CACHE=1)."
    ),
]
ComponentsArgument = Annotated[
    list[str] | None, typer.Argument(help="Components (default: all enabled); dependencies come along.")
]
MirrorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        metavar="PREFIX=LOCATION",
        help="Fetch URLs starting with PREFIX from LOCATION (a local folder or another URL); repeatable, "
        "wins over the config's mirrors: for the same PREFIX.",
    ),
]


def mirror_map(values: list[str] | None) -> dict[str, str]:
    """--mirror values as {prefix: location}; the last one wins for a repeated prefix."""
    from kfctl.errors import InputError
    from kfctl.platform.locations import redact_url

    mirrors: dict[str, str] = {}
    for value in values or []:
        prefix, equals, location = value.partition("=")  # the first `=`: a location URL may hold more
        if not equals or not prefix.strip() or not location.strip():
            raise InputError(
                f"--mirror {redact_url(value)!r}: expected PREFIX=LOCATION",
                hint="e.g. --mirror https://github.com/=/srv/mirror/github.com/",
            )
        mirrors[prefix.strip()] = location.strip()
    return mirrors
