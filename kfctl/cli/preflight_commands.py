"""`kfctl preflight`: check the cluster before installing."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from kfctl.output import OutputFormat, emit
from kfctl.preflight.fail_on import FailOn

if TYPE_CHECKING:
    from kfctl.preflight.report import PreflightReport

IDS_HELP = "comma-separated or repeated; `kfctl preflight --list-checks` lists them"
OnlyOption = Annotated[list[str] | None, typer.Option("--only", help=f"Run only these checks ({IDS_HELP}).")]
SkipOption = Annotated[list[str] | None, typer.Option("--skip", help=f"Do not run these checks ({IDS_HELP}).")]
IgnoreOption = Annotated[
    list[str] | None,
    typer.Option("--ignore-preflight-errors", help="Report these checks' failures as warnings (IDs, or all)."),
]
FailOnOption = Annotated[FailOn, typer.Option("--fail-on", help="Exit 1 on failures (fail) or on warnings too (warn).")]
DeepOption = Annotated[
    bool, typer.Option("--deep", help="Also run checks that write a test object and delete it (a PVC that binds).")
]
STYLES = {"PASS": "green", "WARN": "yellow", "FAIL": "red", "SKIP": "dim", "UNKNOWN": "magenta"}


def register(app: typer.Typer) -> None:
    app.command("preflight")(error_boundary(preflight))


def preflight(
    ctx: typer.Context,
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    mirror: MirrorOption = None,
    no_cache: NoCacheOption = False,
    only: OnlyOption = None,
    skip: SkipOption = None,
    ignore_preflight_errors: IgnoreOption = None,
    fail_on: FailOnOption = FailOn.FAIL,
    deep: DeepOption = False,
    list_checks: Annotated[bool, typer.Option("--list-checks", help="List the checks and exit.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Check the cluster before installing: version, nodes, CNI, DNS, storage, cert-manager, GPUs,
    permissions, leftovers. Exit code 1 when a check fails (or warns, with --fail-on warn)."""
    from kfctl.preflight import CHECKS, PreflightOptions, parse_ids

    if list_checks:
        items = [{"id": c.id, "title": c.title, "deep": c.deep} for c in CHECKS]
        rows = [(c.id, c.title + (" (opt-in: --deep)" if c.deep else "")) for c in CHECKS]
        emit("PreflightCheckList", {"items": items}, output, columns=("ID", "CHECK"), rows=rows)
        return

    from kfctl.deploy.service import preflight as run
    from kfctl.kube.client import ClusterTarget
    from kfctl.preflight import CHECK_IDS
    from kfctl.preflight.context import kubeconfig_context
    from kfctl.render.service import RenderOptions

    globals_ = global_options(ctx)
    options = PreflightOptions(
        only=parse_ids(only),
        skip=parse_ids(skip),
        ignore=parse_ids(ignore_preflight_errors),
        fail_on=fail_on,
        deep=deep,
        context=kubeconfig_context(globals_.kubeconfig, globals_.context),
    )
    options.validate(CHECK_IDS)  # a wrong ID is bad input: exit 2 before rendering or connecting
    render = RenderOptions(
        config, manifests_dir, kustomize_bin, components or [], mirror_map(mirror), use_cache=not no_cache
    )
    report = run(render, ClusterTarget(globals_.kubeconfig, globals_.context), options)
    _emit(report, output)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _emit(report: "PreflightReport", output: OutputFormat) -> None:
    from rich.markup import escape

    data = report.as_dict()
    if output is not OutputFormat.TABLE:
        emit("PreflightReport", data, output)
        return
    rows = []
    for check in report.checks:
        text = escape(check.message)
        if check.remediation and check.status.value != "PASS":
            text += f"\n[dim]→ {escape(check.remediation)}[/dim]"
        style = STYLES[check.status.value]
        rows.append((check.id, f"[{style}]{check.status.value}[/{style}]", text))
    counts = ", ".join(f"{count} {status.lower()}" for status, count in report.summary.items() if count)
    user = report.identity.get("username") or "unknown user"
    where = report.context.get("name") or report.context.get("server")
    server = report.server_version.get("gitVersion") or "unknown version"
    title = escape(
        f"preflight of {report.app} ({report.platform}, profile {report.profile}) on {where} "
        f"(Kubernetes {server}) as {user}: {'passed' if report.ok else 'FAILED'}; {counts}; "
        f"{report.seconds:.1f}s, {report.requests} requests"
    )
    emit("PreflightReport", data, output, columns=("CHECK", "STATUS", "MESSAGE"), rows=rows, title=title)
