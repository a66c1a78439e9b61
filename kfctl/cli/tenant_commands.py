"""`kfctl tenant` and `kfctl access`: team namespaces and who may use them, for operators and scripts.
Each command writes `spec.tenants` of the app config, then applies the tenants alone (unless
--no-apply); see kfctl.deploy.tenants."""

# No `from __future__ import annotations` here (see kfctl.cli.deploy_commands).

from pathlib import Path
from typing import Annotated, Any

import typer

from kfctl.cli.context import error_boundary, global_options
from kfctl.cli.options import ConfigOption, KustomizeBinOption, ManifestsDirOption, OutputOption
from kfctl.errors import ExitCode, InputError
from kfctl.output import OutputFormat, emit

tenant_app = typer.Typer(help="Team namespaces (spec.tenants): create, list, show, delete.", no_args_is_help=True)
access_app = typer.Typer(help="Who may use a team namespace: grant, revoke, list.", no_args_is_help=True)

NoApplyOption = Annotated[
    bool, typer.Option("--no-apply", help="Only write the config (commit it; the next `kfctl apply` applies it).")
]
SkipPreflightOption = Annotated[bool, typer.Option("--skip-preflight", help="Do not check the cluster first.")]
UsersOption = Annotated[list[str] | None, typer.Option(metavar="USER", help="Repeatable.")]
RoleOption = Annotated[str, typer.Option("--role", help="admin, edit or view.")]


def register(app: typer.Typer) -> None:
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(access_app, name="access")


def _run(
    ctx: typer.Context,
    config: Path,
    manifests_dir: Path | None,
    kustomize_bin: str | None,
    output: OutputFormat,
    *,
    no_apply: bool,
    skip_preflight: bool,
    adopt: bool | None = None,
) -> Any:
    from kfctl.config.app import load_app_config
    from kfctl.config.settings import resolve_run_settings
    from kfctl.deploy.apply import ApplyOptions
    from kfctl.deploy.events import reporter_for
    from kfctl.deploy.tenants import TenantRun
    from kfctl.kube.client import ClusterTarget
    from kfctl.preflight import PreflightOptions
    from kfctl.render.service import RenderOptions

    settings = resolve_run_settings(load_app_config(config).settings, adopt=adopt)
    options = global_options(ctx)
    return TenantRun(
        RenderOptions(config, manifests_dir, kustomize_bin),
        ClusterTarget(options.kubeconfig, options.context),
        ApplyOptions(
            wait=settings.wait, timeout=settings.timeout_seconds, concurrency=settings.concurrency, adopt=settings.adopt
        ),
        reporter_for(json_output=output is not OutputFormat.TABLE, events_file=None),
        None if skip_preflight else PreflightOptions(adopt=settings.adopt),
        apply=not no_apply,
    )


def _member(name: str, role: str, *, group: bool = False) -> Any:
    from kfctl.config.tenants import ROLES, is_user, member

    if role not in ROLES:
        raise InputError(f"--role {role}: unknown role", hint="admin, edit or view")
    if group:
        if not name or name.startswith("system:"):
            raise InputError(
                f"--group {name!r}: not a team's group", hint="name the team's own group, not a system: one"
            )
    elif not is_user(name):
        raise InputError(f"{name!r} is not a user", hint="an email address or system:serviceaccount:NAMESPACE:NAME")
    return member(name, role, group=group)


def _emit_result(result: Any, output: OutputFormat, summary: str) -> None:
    report = result.report
    if output is OutputFormat.TABLE:
        rows = []
        if report is not None:
            rows = [(c.name, c.status, c.applied, c.unchanged, c.message) for c in report.components]
            summary += f"; applied: {report.status} ({report.requests} requests)"
        emit(
            "TenantChange",
            result.as_dict(),
            output,
            columns=("COMPONENT", "STATUS", "APPLIED", "UNCHANGED", "MESSAGE"),
            rows=rows,
            title=summary,
        )
    else:
        emit("TenantChange", result.as_dict(), output)
    if report is not None and report.status == "timeout":
        raise typer.Exit(int(ExitCode.TIMEOUT))
    if report is not None and report.status == "failed":
        raise typer.Exit(int(ExitCode.FAILED))


@tenant_app.command("create")
@error_boundary
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The team's namespace.")],
    owner: Annotated[str, typer.Option("--owner", help="The team's owner (email or service account).")],
    admin: Annotated[list[str] | None, typer.Option("--admin", metavar="USER", help="Admins (repeatable).")] = None,
    edit: Annotated[list[str] | None, typer.Option("--edit", metavar="USER", help="Editors (repeatable).")] = None,
    view: Annotated[list[str] | None, typer.Option("--view", metavar="USER", help="Viewers (repeatable).")] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", metavar="GROUP[=ROLE]", help="Groups, edit unless =admin/=view.")
    ] = None,
    gpu_quota: Annotated[int | None, typer.Option("--gpu-quota", min=0, help="GPUs (nvidia.com/gpu) at most.")] = None,
    cpu_quota: Annotated[str | None, typer.Option("--cpu-quota", help="CPU requests at most (e.g. 32).")] = None,
    memory_quota: Annotated[
        str | None, typer.Option("--memory-quota", help="Memory requests at most (e.g. 128Gi).")
    ] = None,
    storage_quota: Annotated[
        str | None, typer.Option("--storage-quota", help="PVC storage at most (e.g. 1Ti).")
    ] = None,
    isolate: Annotated[
        bool | None, typer.Option("--isolate/--no-isolate", help="A default-deny NetworkPolicy (default: on).")
    ] = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    no_apply: NoApplyOption = False,
    skip_preflight: SkipPreflightOption = False,
    adopt: Annotated[
        bool | None, typer.Option("--adopt", help="Take over a namespace that exists and is not kfctl's.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accepted for scripts; create never asks.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Add a team to spec.tenants and apply it: namespace, access, quota, limits, isolation."""
    from kfctl.deploy.tenants import tenant_create
    from kfctl.tenancy.edit import TenantSpec

    del yes
    members = [
        _member(u, role) for role, users in (("admin", admin), ("edit", edit), ("view", view)) for u in users or []
    ]
    for entry in group or []:
        group_name, _, role = entry.partition("=")
        members.append(_member(group_name, role or "edit", group=True))
    quota = {
        key: value
        for key, value in (("cpu", cpu_quota), ("memory", memory_quota), ("gpu", gpu_quota), ("storage", storage_quota))
        if value is not None
    }
    run = _run(
        ctx, config, manifests_dir, kustomize_bin, output, no_apply=no_apply, skip_preflight=skip_preflight, adopt=adopt
    )
    try:
        result = tenant_create(run, TenantSpec(name, owner, members, quota, isolate))
    finally:
        run.reporter.close()
    _emit_result(result, output, f"tenant {name}: {'created' if result.changed else 'unchanged'} in {config}")


@tenant_app.command("delete")
@error_boundary
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The team's namespace.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete the namespace even when it holds PVCs or workloads.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm the deletion (required without a TTY).")] = False,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    no_apply: NoApplyOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Remove a team from spec.tenants and prune its objects; a namespace with users' work needs --force."""
    import sys

    from kfctl.deploy.tenants import tenant_delete

    if not yes:
        if not sys.stdin.isatty():
            raise InputError(f"deleting tenant {name} needs --yes", hint="kfctl never prompts without a TTY")
        if not typer.confirm(f"Delete tenant {name} and its namespace's access, quota and policies?"):
            raise typer.Exit(int(ExitCode.BAD_INPUT))
    run = _run(ctx, config, manifests_dir, kustomize_bin, output, no_apply=no_apply, skip_preflight=True)
    try:
        result = tenant_delete(run, name, force=force)
    finally:
        run.reporter.close()
    _emit_result(result, output, f"tenant {name}: {'deleted' if result.changed else 'not in the config'}")


@tenant_app.command("list")
@error_boundary
def list_tenants(config: ConfigOption = Path("kfctl.yaml"), output: OutputOption = OutputFormat.TABLE) -> None:
    """The tenants of the app config."""
    from kfctl.config.app import load_app_config

    tenants = load_app_config(config).tenants
    rows = [
        (
            t.name,
            t.owner,
            len(t.members),
            t.gpu_quota,
            t.quota.get("cpu", "-"),
            t.quota.get("memory", "-"),
            "on" if t.isolation else "off",
        )
        for t in tenants
    ]
    emit(
        "TenantList",
        {"items": [t.summary() for t in tenants]},
        output,
        columns=("NAME", "OWNER", "MEMBERS", "GPUS", "CPU", "MEMORY", "ISOLATION"),
        rows=rows,
    )


@tenant_app.command("show")
@error_boundary
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The team's namespace.")],
    offline: Annotated[bool, typer.Option("--offline", help="Only the config; no cluster reads.")] = False,
    config: ConfigOption = Path("kfctl.yaml"),
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """A tenant as configured and, unless --offline, its namespace's quota use and role bindings."""
    from kfctl.config.app import load_app_config
    from kfctl.deploy.tenants import tenant_show
    from kfctl.kube.client import ClusterTarget

    options = global_options(ctx)
    target = None if offline else ClusterTarget(options.kubeconfig, options.context)
    data = tenant_show(load_app_config(config), name, target)
    rows: list[tuple[str, str]] = [("owner", data["owner"]), ("isolation", "on" if data["isolation"] else "off")]
    rows += [(f"member {m['kind'].lower()}", f"{m['name']} ({m['role']})") for m in data["members"]]
    rows += [(f"quota {k}", str(v)) for k, v in (data["quota"] or {}).items()]
    for quota_name, quota in ((data.get("live") or {}).get("quotas") or {}).items():
        for resource, hard in quota["hard"].items():
            rows.append((f"{quota_name} {resource}", f"{quota['used'].get(resource, '0')} of {hard} used"))
    emit("Tenant", data, output, columns=("FIELD", "VALUE"), rows=rows, title=f"tenant {name}")


def _access(
    ctx: typer.Context,
    namespace: str,
    user: str,
    role: str,
    group: bool,
    grant: bool,
    config: Path,
    manifests_dir: Path | None,
    kustomize_bin: str | None,
    no_apply: bool,
    output: OutputFormat,
) -> None:
    from kfctl.deploy.tenants import access_change

    subject = _member(user, role, group=group)
    run = _run(ctx, config, manifests_dir, kustomize_bin, output, no_apply=no_apply, skip_preflight=True)
    try:
        result = access_change(run, namespace, subject, grant=grant)
    finally:
        run.reporter.close()
    verb = ("granted" if grant else "revoked") if result.changed else "unchanged"
    _emit_result(result, output, f"{subject.kind.lower()} {user} in {namespace}: {role} {verb}")


GroupFlag = Annotated[bool, typer.Option("--group", help="USER names a group.")]


@access_app.command("grant")
@error_boundary
def grant(
    ctx: typer.Context,
    namespace: Annotated[str, typer.Argument(help="The tenant.")],
    user: Annotated[str, typer.Argument(help="Email, system:serviceaccount:NS:NAME, or a group with --group.")],
    role: RoleOption = "edit",
    group: GroupFlag = False,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    no_apply: NoApplyOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Give a user or group a role in a tenant (replacing the role it had) and apply it."""
    _access(ctx, namespace, user, role, group, True, config, manifests_dir, kustomize_bin, no_apply, output)


@access_app.command("revoke")
@error_boundary
def revoke(
    ctx: typer.Context,
    namespace: Annotated[str, typer.Argument(help="The tenant.")],
    user: Annotated[str, typer.Argument(help="Email, system:serviceaccount:NS:NAME, or a group with --group.")],
    role: RoleOption = "edit",
    group: GroupFlag = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accepted for scripts; revoke never asks.")] = False,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    no_apply: NoApplyOption = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Take a user's or group's access to a tenant away and apply it (its binding is pruned)."""
    del yes
    _access(ctx, namespace, user, role, group, False, config, manifests_dir, kustomize_bin, no_apply, output)


@access_app.command("list")
@error_boundary
def list_access(
    namespace: Annotated[str, typer.Argument(help="The tenant.")],
    config: ConfigOption = Path("kfctl.yaml"),
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Who has which role in a tenant, as the config says (the owner first)."""
    from kfctl.config.app import load_app_config
    from kfctl.deploy.tenants import access_list

    rows = access_list(load_app_config(config), namespace)
    emit(
        "AccessList",
        {"tenant": namespace, "items": rows},
        output,
        columns=("KIND", "NAME", "ROLE", "BINDING"),
        rows=[(r["kind"], r["name"], r["role"], r["binding"]) for r in rows],
    )
