"""The kfctl command line: the root app, global options and command registration."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

from typing import Annotated

import typer

from kfctl.cli import (
    cache_commands,
    catalog_commands,
    deploy_commands,
    images_commands,
    lifecycle_commands,
    preflight_commands,
    render_commands,
    source_commands,
    tenant_commands,
)
from kfctl.cli.context import GlobalOptions, error_boundary, global_options
from kfctl.cli.options import OutputOption
from kfctl.output import OutputFormat, emit

app = typer.Typer(
    name="kfctl",
    help="Install and run the whole lifecycle of a Kubeflow ML platform on any Kubernetes cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help loads rich, markdown and pygments (~0.15 s)
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.", envvar="KUBECONFIG")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    ctx.obj = GlobalOptions(kubeconfig=kubeconfig, context=context, debug=debug)


@app.command()
@error_boundary
def version(
    ctx: typer.Context,
    output: OutputOption = OutputFormat.TABLE,
    client_only: Annotated[bool, typer.Option("--client", help="Only the client version.")] = False,
) -> None:
    """Print the client version and, when a cluster is reachable, the server version."""
    from kfctl.kube.info import collect_versions

    options = global_options(ctx)
    versions = collect_versions(options.kubeconfig, options.context, client_only=client_only)
    rows = [("client", versions["client"]["version"])]
    if "server" in versions:
        server = versions["server"]
        rows.append(("server", server.get("gitVersion") or server.get("error", "")))
    emit("Version", versions, output, columns=("COMPONENT", "VERSION"), rows=rows)


render_commands.register(app)
catalog_commands.register(app)
deploy_commands.register(app)
preflight_commands.register(app)
source_commands.register(app)
images_commands.register(app)
cache_commands.register(app)
tenant_commands.register(app)
lifecycle_commands.register(app)


def run() -> None:
    app()


__all__ = ["app", "run"]
