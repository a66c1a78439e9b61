"""`kfctl upgrade`: the platform to a newer release, one release step at a time (kfctl.lifecycle)."""

# No `from __future__ import annotations` here (see kfctl.cli.deploy_commands).

from pathlib import Path
from typing import Annotated

import typer

from kfctl.cli.context import error_boundary, global_options
from kfctl.cli.options import (
    ConfigOption,
    KustomizeBinOption,
    ManifestsDirOption,
    MirrorOption,
    OutputOption,
    mirror_map,
)
from kfctl.errors import ExitCode, InputError
from kfctl.output import OutputFormat, emit, log_console


def register(app: typer.Typer) -> None:
    app.command("upgrade")(error_boundary(upgrade))


def upgrade(
    ctx: typer.Context,
    to: Annotated[str, typer.Option("--to", help="The platform release to reach (kfctl platforms list).")],
    config: ConfigOption = Path("kfctl.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: nothing is written.")] = False,
    no_chain: Annotated[
        bool, typer.Option("--no-chain", help="Refuse when --to is more than one release ahead.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Upgrade without asking (required without a TTY).")] = False,
    skip_preflight: Annotated[bool, typer.Option("--skip-preflight", help="Do not check the cluster first.")] = False,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Readiness timeout per step (e.g. 15m).")] = None,
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    mirror: MirrorOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Upgrade the installed platform to --to: per step a plan, its migrations, re-creates, apply, prune, wait."""
    import sys

    from kfctl.config.app import load_app_config
    from kfctl.config.settings import resolve_run_settings
    from kfctl.deploy.apply import ApplyOptions
    from kfctl.deploy.events import reporter_for
    from kfctl.kube.client import ClusterTarget
    from kfctl.lifecycle.upgrade import UpgradeOptions
    from kfctl.lifecycle.upgrade import upgrade as run_upgrade
    from kfctl.preflight import PreflightOptions
    from kfctl.render.service import RenderOptions

    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise InputError(
                "an upgrade needs --yes (or --dry-run to see the plan)", hint="kfctl never prompts without a TTY"
            )
        if not typer.confirm(f"Upgrade the platform of {config} to {to}?"):
            raise typer.Exit(int(ExitCode.BAD_INPUT))
    settings = resolve_run_settings(load_app_config(config).settings, timeout=timeout)
    options = UpgradeOptions(
        to=to,
        dry_run=dry_run,
        chain=not no_chain,
        apply=ApplyOptions(wait=settings.wait, timeout=settings.timeout_seconds, concurrency=settings.concurrency),
        checks=None if skip_preflight else PreflightOptions(adopt=settings.adopt),
    )
    globals_ = global_options(ctx)
    reporter = reporter_for(json_output=output is not OutputFormat.TABLE, events_file=None)
    try:
        report = run_upgrade(
            RenderOptions(config, manifests_dir, kustomize_bin, [], mirror_map(mirror)),
            ClusterTarget(globals_.kubeconfig, globals_.context),
            options,
            reporter,
        )
    finally:
        reporter.close()
    data = report.as_dict()
    if output is not OutputFormat.TABLE:
        emit("UpgradeReport", data, output)
    else:
        console = log_console()
        for step in data["steps"]:
            console.print(f"{step['step']}: {step.get('status', 'planned')}", highlight=False, markup=False)
            for migration in step["migrations"]:
                applies = "applies" if migration["applies"] else "does not apply"
                console.print(f"  migration {migration['id']}: {applies}", highlight=False, markup=False)
            for blocked in step["blocked"]:
                console.print(f"  blocked: {blocked}", highlight=False, markup=False)
        actions = ("add", "change", "recreate", "prune", "keep", "unchanged")
        rows = [
            (step["step"], c["name"], *(c.get(action, 0) for action in actions))
            for step in data["steps"]
            for c in step["components"]
        ]
        emit(
            "UpgradeReport",
            data,
            output,
            columns=("STEP", "COMPONENT", *(action.upper() for action in actions)),
            rows=rows,
            title=f"{data['app']}: {data['from']} -> {data['to']} {data['status']}" + (" (dry run)" if dry_run else ""),
        )
    if report.status == "timeout":
        raise typer.Exit(int(ExitCode.TIMEOUT))
    if report.status == "failed":
        raise typer.Exit(int(ExitCode.FAILED))
