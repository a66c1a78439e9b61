"""Cluster commands: apply, diff, status, delete, history."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kfctl.cli.context import error_boundary, global_options
from kfctl.cli.options import ComponentsArgument, ConfigOption, KustomizeBinOption, ManifestsDirOption, OutputOption
from kfctl.errors import ExitCode, InputError
from kfctl.output import OutputFormat, emit, log_console

TimeoutOption = Annotated[str | None, typer.Option("--timeout", help="Give up waiting after this long (e.g. 15m).")]
AppOption = Annotated[str | None, typer.Option("--app", help="App name (default: metadata.name of -f CONFIG).")]


def register(app: typer.Typer) -> None:
    for name, command in (
        ("apply", apply),
        ("diff", diff),
        ("status", status),
        ("delete", delete),
        ("history", history),
    ):
        app.command(name)(error_boundary(command))


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        raise InputError(f"--timeout {text}: not a duration", hint="use e.g. 90s, 15m or 1h")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def _target(ctx: typer.Context) -> Any:
    from kfctl.kube.client import ClusterTarget

    options = global_options(ctx)
    return ClusterTarget(options.kubeconfig, options.context)


def _app_name(app: str | None, config: Path) -> str:
    if app:
        return app
    from kfctl.config.app import load_app_config

    return load_app_config(config).name


def apply(
    ctx: typer.Context,
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for each component to be ready.")] = True,
    timeout: TimeoutOption = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight at most.")] = 16,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="Delete what the config no longer has.")] = True,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Skip confirmations (kfctl never prompts without a TTY).")
    ] = False,
    skip_preflight: Annotated[bool, typer.Option("--skip-preflight", help="Do not check the cluster first.")] = False,
    ignore_preflight_errors: Annotated[
        list[str] | None,
        typer.Option("--ignore-preflight-errors", help="Report these preflight failures as warnings (IDs, or all)."),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Install or update the platform: preflight, dependency order, server-side apply, readiness, prune."""
    from kfctl.config.app import load_app_config
    from kfctl.deploy.executor import ApplyOptions
    from kfctl.deploy.report import reporter_for
    from kfctl.deploy.service import apply as run_apply
    from kfctl.preflight import CHECK_IDS, PreflightOptions, parse_ids
    from kfctl.render.service import RenderOptions

    del yes  # apply never asks; the flag is accepted so scripts can pass it to every command
    checks = None if skip_preflight else PreflightOptions(ignore=parse_ids(ignore_preflight_errors))
    if checks is not None:
        checks.validate(CHECK_IDS)
    settings = load_app_config(config).settings
    options = ApplyOptions(
        wait=wait,
        timeout=parse_duration(timeout or settings.get("timeout", "15m")),
        concurrency=concurrency,
        prune=prune,
    )
    reporter = reporter_for(json_lines=output is OutputFormat.JSON)
    report = run_apply(
        RenderOptions(config, manifests_dir, kustomize_bin, components or []), _target(ctx), options, reporter, checks
    )
    data = report.as_dict()
    if output is OutputFormat.TABLE:
        rows = [
            (c.name, c.wave, c.status, c.applied, c.unchanged, f"{c.finished - c.started:.1f}s", c.message)
            for c in report.components
        ]
        emit(
            "ApplyReport",
            data,
            output,
            columns=("COMPONENT", "WAVE", "STATUS", "APPLIED", "UNCHANGED", "TIME", "MESSAGE"),
            rows=rows,
            title=f"{report.app} revision {report.revision}: {report.status} in {report.seconds:.1f}s "
            f"({report.requests} requests)",
        )
    else:
        emit("ApplyReport", data, output)
    if report.status == "timeout":
        raise typer.Exit(int(ExitCode.TIMEOUT))
    if report.status == "failed":
        raise typer.Exit(int(ExitCode.FAILED))


def diff(
    ctx: typer.Context,
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show what apply would change (server-side dry-run). Exit code 1 when there are differences."""
    from kfctl.deploy.service import diff as run_diff
    from kfctl.render.service import RenderOptions

    result = run_diff(RenderOptions(config, manifests_dir, kustomize_bin, components or []), _target(ctx))
    if output is OutputFormat.TABLE:
        for change in result.changes:
            sys.stdout.write(change["diff"])
        log_console().print(f"{len(result.changes)} objects differ" if result.changed else "no differences")
    else:
        emit("Diff", {"changed": result.changed, "changes": result.changes}, output)
    if result.changed:
        raise typer.Exit(int(ExitCode.FAILED))


def status(
    ctx: typer.Context,
    config: ConfigOption = Path("kfctl.yaml"),
    app: AppOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Per-component health of the installed release."""
    from kfctl.deploy.service import status as run_status

    data = run_status(_app_name(app, config), _target(ctx))
    rows = [
        (
            c["name"],
            c["health"],
            f"{c['ready']}/{c['objects']}",
            "; ".join(f"{n['object']}: {n['message']}" for n in c["notReady"][:2]),
        )
        for c in data["components"]
    ]
    emit(
        "Status",
        data,
        output,
        columns=("COMPONENT", "HEALTH", "READY", "NOT READY"),
        rows=rows,
        title=f"{data['app']} revision {data['revision']} ({data['status']})",
    )
    if not data["healthy"]:
        raise typer.Exit(int(ExitCode.FAILED))


def delete(
    ctx: typer.Context,
    config: ConfigOption = Path("kfctl.yaml"),
    app: AppOption = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete PVCs, CRDs and namespaces (data).")] = False,
    timeout: TimeoutOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on a TTY.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Delete the platform in reverse dependency order; keeps data unless --purge."""
    from kfctl.deploy.report import reporter_for
    from kfctl.deploy.service import delete as run_delete

    name = _app_name(app, config)
    if (
        sys.stdin.isatty()
        and not yes
        and not typer.confirm(f"Delete kfctl app {name}{' and its data' if purge else ''}?", default=False)
    ):
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    report = run_delete(
        name,
        _target(ctx),
        purge=purge,
        timeout=parse_duration(timeout or "5m"),
        reporter=reporter_for(json_lines=output is OutputFormat.JSON),
    )
    emit(
        "DeleteReport",
        report.as_dict(),
        output,
        columns=("DELETED", "KEPT"),
        rows=[(len(report.deleted), "; ".join(report.kept[:5]) + (" …" if len(report.kept) > 5 else ""))],
    )


def history(
    ctx: typer.Context,
    config: ConfigOption = Path("kfctl.yaml"),
    app: AppOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The release records of an app, oldest first."""
    from kfctl.deploy.service import history as run_history

    items = run_history(_app_name(app, config), _target(ctx))
    emit(
        "History",
        {"items": items},
        output,
        columns=("REVISION", "STATUS", "STARTED", "OBJECTS", "MESSAGE"),
        rows=[(i["revision"], i["status"], i["started"], i["objects"], i["message"]) for i in items],
    )
