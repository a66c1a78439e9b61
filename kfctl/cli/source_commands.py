"""Commands about where the manifests come from: `kfctl sources remote`."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

from pathlib import Path

import typer

from kfctl.cli.context import error_boundary
from kfctl.cli.options import (
    ComponentsArgument,
    ConfigOption,
    ManifestsDirOption,
    MirrorOption,
    OutputOption,
    mirror_map,
)
from kfctl.output import OutputFormat, emit, log_console

sources_app = typer.Typer(help="Where the manifests come from.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")


@sources_app.command("remote")
@error_boundary
def remote(
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    mirror: MirrorOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List every remote resource the enabled components' kustomizations fetch at build time, and the
    mirror that covers each (or none). A report: exit code 0 even when some are uncovered."""
    from kfctl.render.service import RenderOptions, remote_sources

    app, report = remote_sources(RenderOptions(config, manifests_dir, None, components or [], mirror_map(mirror)))
    data = {"app": app.config.name, "platform": app.platform.name, **report}
    rows = [
        (
            item["url"],
            item["ref"] or "",
            item["kustomization"],
            "yes" if item["covered"] else "NO",
            item["location"] if item["covered"] else item["reason"],
        )
        for item in report["items"]
    ]
    emit("RemoteSources", data, output, columns=("URL", "REF", "KUSTOMIZATION", "COVERED", "WHERE"), rows=rows)
    if output is OutputFormat.TABLE:
        summary = report["summary"]
        log_console().print(
            f"{summary['entries']} remote entries, {summary['covered']} covered by a mirror, "
            f"{summary['uncovered']} uncovered",
            markup=False,
        )
