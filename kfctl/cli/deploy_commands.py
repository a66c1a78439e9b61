"""Cluster commands: apply, diff, status, delete, history, unlock."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from kfctl.cli.context import error_boundary, global_options
from kfctl.cli.options import (
    ComponentsArgument,
    ConfigOption,
    KustomizeBinOption,
    ManifestsDirOption,
    MirrorOption,
    NoCacheOption,
    OutputOption,
    mirror_map,
)
from kfctl.errors import ExitCode, InputError
from kfctl.output import OutputFormat, emit, log_console

TimeoutOption = Annotated[
    str | None, typer.Option("--timeout", help="Give up waiting after this long (e.g. 15m; default settings.timeout).")
]
AppOption = Annotated[str | None, typer.Option("--app", help="App name (default: metadata.name of -f CONFIG).")]
EventsOption = Annotated[
    Path | None,
    typer.Option("--events", help="Write progress events to this file as JSON lines (see the README)."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on a TTY.")]


def register(app: typer.Typer) -> None:
    for name, command in (
        ("apply", apply),
        ("diff", diff),
        ("status", status),
        ("delete", delete),
        ("history", history),
        ("unlock", unlock),
    ):
        app.command(name)(error_boundary(command))


def _target(ctx: typer.Context) -> Any:
    from kfctl.kube.client import ClusterTarget

    options = global_options(ctx)
    return ClusterTarget(options.kubeconfig, options.context)


def _app_name(app: str | None, config: Path) -> str:
    if app:
        return app
    from kfctl.config.app import load_app_config

    return load_app_config(config).name


@contextlib.contextmanager
def _events_file(path: Path | None) -> Iterator[TextIO | None]:
    if path is None:
        yield None
        return
    try:
        stream = path.open("w")
    except OSError as error:
        raise InputError(f"--events {path}: cannot write it: {error.strerror}") from None
    with stream:
        yield stream


def apply(
    ctx: typer.Context,
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    mirror: MirrorOption = None,
    no_cache: NoCacheOption = False,
    wait: Annotated[
        bool | None, typer.Option("--wait/--no-wait", help="Wait for each component to be ready (settings.wait).")
    ] = None,
    timeout: TimeoutOption = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Requests in flight at most (settings.concurrency).")
    ] = None,
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="Delete what the config no longer has.")] = True,
    adopt: Annotated[
        bool | None,
        typer.Option(
            "--adopt", help="Take over objects another kfctl app, ApplySet or Helm release manages (settings.adopt)."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Skip confirmations (kfctl never prompts without a TTY).")
    ] = False,
    skip_preflight: Annotated[bool, typer.Option("--skip-preflight", help="Do not check the cluster first.")] = False,
    ignore_preflight_errors: Annotated[
        list[str] | None,
        typer.Option("--ignore-preflight-errors", help="Report these preflight failures as warnings (IDs, or all)."),
    ] = None,
    events: EventsOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Install or update the platform: preflight, dependency order, server-side apply, readiness, prune."""
    from kfctl.config.app import load_app_config
    from kfctl.config.kfdef import conversion_summary
    from kfctl.config.settings import resolve_run_settings
    from kfctl.deploy.apply import ApplyOptions
    from kfctl.deploy.events import reporter_for
    from kfctl.deploy.service import apply as run_apply
    from kfctl.preflight import CHECK_IDS, PreflightOptions, parse_ids
    from kfctl.render.service import RenderOptions

    del yes  # apply never asks; the flag is accepted so scripts can pass it to every command
    app_config = load_app_config(config)
    settings = resolve_run_settings(
        app_config.settings, concurrency=concurrency, wait=wait, timeout=timeout, adopt=adopt
    )
    checks = None
    if not skip_preflight:
        checks = PreflightOptions(ignore=parse_ids(ignore_preflight_errors), adopt=settings.adopt)
        checks.validate(CHECK_IDS)
    for note in conversion_summary(app_config):
        log_console().print(note, highlight=False, markup=False)
    options = ApplyOptions(
        wait=settings.wait,
        timeout=settings.timeout_seconds,
        concurrency=settings.concurrency,
        prune=prune,
        adopt=settings.adopt,
    )
    with _events_file(events) as events_stream:
        reporter = reporter_for(json_output=output is not OutputFormat.TABLE, events_file=events_stream)
        try:
            report = run_apply(
                RenderOptions(
                    config, manifests_dir, kustomize_bin, components or [], mirror_map(mirror), use_cache=not no_cache
                ),
                _target(ctx),
                options,
                reporter,
                checks,
            )
        finally:
            reporter.close()
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
    mirror: MirrorOption = None,
    no_cache: NoCacheOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show what apply would change (server-side dry-run). Exit code 1 when there are differences."""
    from kfctl.config.app import load_app_config
    from kfctl.config.settings import resolve_run_settings
    from kfctl.deploy.service import diff as run_diff
    from kfctl.render.service import RenderOptions

    settings = resolve_run_settings(load_app_config(config).settings)
    result = run_diff(
        RenderOptions(
            config, manifests_dir, kustomize_bin, components or [], mirror_map(mirror), use_cache=not no_cache
        ),
        _target(ctx),
        settings.concurrency,
    )
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
        title=f"{data['app']} revision {data['revision']} ({data['status']})"
        + (f", {len(data['tenants'])} tenants" if data["tenants"] else ""),
    )
    if not data["healthy"]:
        raise typer.Exit(int(ExitCode.FAILED))


def delete(
    ctx: typer.Context,
    config: ConfigOption = Path("kfctl.yaml"),
    app: AppOption = None,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete PVCs, CRDs and namespaces (data).")] = False,
    timeout: TimeoutOption = None,
    yes: YesOption = False,
    events: EventsOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Delete the platform in reverse dependency order; keeps data unless --purge."""
    from kfctl.config.app import load_app_config
    from kfctl.config.settings import resolve_run_settings
    from kfctl.deploy.events import reporter_for
    from kfctl.deploy.service import delete as run_delete

    name = _app_name(app, config)
    # With --app there is no config to read settings from: the flag, else the default.
    settings = {} if app else load_app_config(config).settings
    seconds = resolve_run_settings(settings, timeout=timeout).timeout_seconds
    if (
        sys.stdin.isatty()
        and not yes
        and not typer.confirm(f"Delete kfctl app {name}{' and its data' if purge else ''}?", default=False)
    ):
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    with _events_file(events) as events_stream:
        reporter = reporter_for(json_output=output is not OutputFormat.TABLE, events_file=events_stream)
        try:
            report = run_delete(name, _target(ctx), purge=purge, timeout=seconds, reporter=reporter)
        finally:
            reporter.close()
    kept = report.kept_summary()
    emit(
        "DeleteReport",
        report.as_dict(),
        output,
        columns=("KIND", "KEPT", "WHY"),
        rows=[(k["kind"], k["count"], k["why"]) for k in kept],
        title=f"deleted {len(report.deleted)} objects of {name}"
        + (f"; kept {sum(k['count'] for k in kept)}:" if kept else ""),
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


def unlock(
    ctx: typer.Context,
    config: ConfigOption = Path("kfctl.yaml"),
    app: AppOption = None,
    yes: YesOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Break the app's lock (a run that died, or one you stopped). The next run takes it at once."""
    import time

    from kfctl.deploy.service import unlock as run_unlock

    name = _app_name(app, config)
    if sys.stdin.isatty() and not yes and not typer.confirm(f"Break the lock of kfctl app {name}?", default=False):
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    holder = run_unlock(name, _target(ctx))
    message = (
        f"broke the lock of {name}, held by {holder.describe(time.time())}" if holder else f"{name} was not locked"
    )
    if output is OutputFormat.TABLE:
        log_console().print(message, highlight=False, markup=False)
        return
    emit(
        "Unlock", {"app": name, "wasLocked": holder is not None, "holder": holder.as_dict() if holder else None}, output
    )
