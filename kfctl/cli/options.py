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
ComponentsArgument = Annotated[
    list[str] | None, typer.Argument(help="Components (default: all enabled); dependencies come along.")
]
