"""Offline commands: init, generate, build."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kfctl.cli.context import error_boundary
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
from kfctl.output import OutputFormat, emit, log_console

if TYPE_CHECKING:
    from kfctl.config.app import AppConfig


def register(app: typer.Typer) -> None:
    app.command("init")(error_boundary(init))
    app.command("generate")(error_boundary(generate))
    app.command("build")(error_boundary(build))


def init(
    app_dir: Annotated[Path, typer.Argument(help="Directory to create the app config in.")],
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="Cluster profile (kfctl profiles list). Required, except with --from-kfdef: "
            "then the KfDef's kfctl.dev/profile annotation, else generic.",
        ),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            help="Platform release (kfctl platforms list); default the newest "
            "(with --from-kfdef: the KfDef's kfctl.dev/platform annotation, if any).",
        ),
    ] = None,
    components: Annotated[
        str | None, typer.Option("--components", help="Comma-separated components (default: the release's set).")
    ] = None,
    from_kfdef: Annotated[
        Path | None,
        typer.Option("--from-kfdef", help="Write the kfctl.yaml equivalent to this legacy kfctl v1 KfDef file."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing kfctl.yaml.")] = False,
) -> None:
    """Create APP_DIR/kfctl.yaml for a profile and a platform release, or from a legacy KfDef v1 file."""
    from kfctl.render.service import init_app

    chosen = [c.strip() for c in components.split(",") if c.strip()] if components else None
    path = init_app(app_dir, profile=profile, platform=platform, components=chosen, force=force, from_kfdef=from_kfdef)
    converted = f" (converted from {from_kfdef}: its comments say what changed)" if from_kfdef else ""
    log_console().print(f"wrote {path}{converted}; next: kfctl build -f {path}", markup=False)


def _print_conversion_notes(config: "AppConfig") -> None:
    """Say on stderr what reading a legacy KfDef changed (nothing for a kfctl.yaml)."""
    from kfctl.config.kfdef import conversion_summary

    console = log_console()
    for line in conversion_summary(config):
        console.print(line, markup=False)


def generate(
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    mirror: MirrorOption = None,
    no_vendor: Annotated[
        bool, typer.Option("--no-vendor", help="Reference the sources in place instead of copying them.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Write the app directory: one kustomization per component, buildable with plain kustomize."""
    from kfctl.config.app import load_app_config
    from kfctl.render.service import RenderOptions
    from kfctl.render.service import generate as run_generate

    _print_conversion_notes(load_app_config(config))  # GenerateResult does not carry the config
    result = run_generate(
        RenderOptions(config, manifests_dir, None, components or [], mirror_map(mirror)), vendor=not no_vendor
    )
    emit(
        "GenerateResult",
        result.as_dict(),
        output,
        columns=("COMPONENT", "KUSTOMIZATION"),
        rows=[(name, result.app_dir / "components" / name / "kustomization.yaml") for name in result.components],
    )


def build(
    components: ComponentsArgument = None,
    config: ConfigOption = Path("kfctl.yaml"),
    manifests_dir: ManifestsDirOption = None,
    kustomize_bin: KustomizeBinOption = None,
    mirror: MirrorOption = None,
    no_cache: NoCacheOption = False,
    out: Annotated[str, typer.Option("-o", "--out", help="- for stdout, or a directory (one file per component).")] = (
        "-"
    ),
) -> None:
    """Render the manifests in apply order (waves, then kinds) with the real kustomize."""
    from kfctl.render.service import RenderOptions, write_build_output
    from kfctl.render.service import build as run_build

    result = run_build(
        RenderOptions(
            config, manifests_dir, kustomize_bin, components or [], mirror_map(mirror), use_cache=not no_cache
        )
    )
    console = log_console()
    _print_conversion_notes(result.app.config)
    if out == "-":
        sys.stdout.write(result.text())
    else:
        for path in write_build_output(result, out):
            console.print(f"wrote {path}")
    summary = result.summary()
    console.print(
        f"rendered {summary['objects']} objects in {len(result.rendered)} components, "
        f"{len(result.app.waves)} waves, in {summary['renderSeconds']}s with {result.kustomize}"
    )
