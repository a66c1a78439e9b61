"""`kfctl images`: the container images the rendered platform runs, and overrides for a private registry."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

import sys
from pathlib import Path
from typing import Annotated

import typer

from kfctl.cli.context import error_boundary
from kfctl.cli.options import (
    ConfigOption,
    KustomizeBinOption,
    ManifestsDirOption,
    MirrorOption,
    NoCacheOption,
    OutputOption,
    mirror_map,
)
from kfctl.output import OutputFormat, emit, log_console


def register(app: typer.Typer) -> None:
    app.command("images")(error_boundary(images))


def images(
    components: Annotated[
        list[str] | None, typer.Argument(help="Only these components' images (default: every enabled component).")
    ] = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    mirror: MirrorOption = None,
    no_cache: NoCacheOption = False,
    output: OutputOption = OutputFormat.TABLE,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            help="Print the overrides that point every image at this registry (host, host:port, either with /path): "
            "a components: list to merge into kfctl.yaml (-o json|yaml: the same as a document).",
        ),
    ] = None,
) -> None:
    """List every container image the rendered platform runs, with where each is named."""
    from kfctl.render.images import list_images, registry_overrides
    from kfctl.render.service import RenderOptions

    options = RenderOptions(
        config, manifests_dir, kustomize_bin, components or [], mirror_map(mirror), use_cache=not no_cache
    )
    console = log_console()
    if registry is not None:
        overrides = registry_overrides(options, registry)
        if output is OutputFormat.TABLE:
            sys.stdout.write(overrides.fragment())
        else:
            emit("ImageOverrides", overrides.as_dict(), output)
        changed = sum(1 for c in overrides.components if not isinstance(c.as_entry(), str))
        console.print(
            f"{len(overrides.moved)} images to {overrides.registry}: overrides for {changed} of "
            f"{len(overrides.components)} components",
            markup=False,
        )
        return
    report = list_images(options)
    if output is OutputFormat.TABLE:
        sys.stdout.write(report.text())
    else:
        emit("ImageList", report.as_dict(), output)
    console.print(f"{len(report.images())} images, {len(report.uses)} uses", markup=False)
