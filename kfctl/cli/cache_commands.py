"""`kfctl cache`: the render cache and the other regenerable files under the cache directory."""

from __future__ import annotations

import typer

from kfctl.cli.context import error_boundary
from kfctl.cli.options import OutputOption
from kfctl.output import OutputFormat, emit

cache_app = typer.Typer(help="kfctl's cache ($KFCTL_CACHE_DIR, else ~/.cache/kfctl).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("clean")
@error_boundary
def clean(output: OutputOption = OutputFormat.TABLE) -> None:
    """Remove the rendered components, tree digests, kustomize versions and mirrored copies; all are rebuilt
    offline when next needed. Downloaded release archives stay (fetching them again needs the network)."""
    from kfctl.render.cache import cache_root
    from kfctl.render.cache import clean as clean_cache

    root = cache_root()
    removed = clean_cache(root)
    data = {"directory": str(root), **removed}
    rows = [
        ("rendered components", str(removed["renders"])),
        ("mirrored trees", str(removed["mirroredTrees"])),
        ("bytes freed", str(removed["bytes"])),
    ]
    emit("CacheClean", data, output, columns=("WHAT", "REMOVED"), rows=rows)
