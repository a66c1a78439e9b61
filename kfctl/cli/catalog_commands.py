"""Read commands over the catalog: components, platforms, profiles."""

# No `from __future__ import annotations` here: typer reads every command's signature at each start
# (`kfctl --help` too), and annotations that are objects already spare it an eval per parameter.

from typing import Annotated, Any

import typer

from kfctl.cli.context import error_boundary
from kfctl.cli.options import OutputOption
from kfctl.output import OutputFormat, emit

components_app = typer.Typer(help="Components of a platform release.", no_args_is_help=True)
profiles_app = typer.Typer(help="Cluster profiles.", no_args_is_help=True)
platforms_app = typer.Typer(help="Platform releases.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(components_app, name="components")
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(platforms_app, name="platforms")


@components_app.command("list")
@error_boundary
def components_list(
    platform: Annotated[str | None, typer.Option("--platform", help="Platform release (default: the newest).")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the components of a platform release, with overlays and dependencies."""
    from kfctl.render.service import components_of

    release = components_of(platform)
    items: list[dict[str, Any]] = [
        {
            "name": c.name,
            "description": c.description,
            "source": c.source,
            "default": c.name in release.default_components,
            "overlays": list(c.overlays),
            "defaultOverlay": c.default_overlay,
            "dependsOn": list(c.depends_on),
            "namespaces": list(c.namespaces),
        }
        for c in release.components.values()
    ]
    emit(
        "ComponentList",
        {"platform": platform, "items": items},
        output,
        columns=("NAME", "DEFAULT", "OVERLAYS", "DEPENDS ON", "DESCRIPTION"),
        rows=[
            (
                i["name"],
                "yes" if i["default"] else "",
                ",".join(i["overlays"]),
                ",".join(i["dependsOn"]),
                i["description"],
            )
            for i in items
        ],
    )


@platforms_app.command("list")
@error_boundary
def platforms_list(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the platform releases kfctl can install."""
    from kfctl.render.service import platforms

    items: list[dict[str, Any]] = [
        {
            "name": p.name,
            "release": p.release,
            "description": p.description,
            "kubernetes": {"min": p.kubernetes_min, "testedMax": p.kubernetes_tested_max},
            "components": len(p.components),
        }
        for p in platforms()
    ]
    emit(
        "PlatformList",
        {"items": items},
        output,
        columns=("NAME", "RELEASE", "KUBERNETES", "COMPONENTS"),
        rows=[
            (
                i["name"],
                i["release"],
                f">={i['kubernetes']['min']} (tested {i['kubernetes']['testedMax']})",
                i["components"],
            )
            for i in items
        ],
    )


@profiles_app.command("list")
@error_boundary
def profiles_list(output: OutputOption = OutputFormat.TABLE) -> None:
    """List the cluster profiles."""
    from kfctl.render.service import profiles

    items = [p.as_dict() for p in profiles()]
    emit(
        "ProfileList",
        {"items": items},
        output,
        columns=("NAME", "GPU", "CNI", "DESCRIPTION"),
        rows=[
            (
                i["name"],
                "required" if i["requirements"]["gpu"]["required"] else "",
                ",".join(i["requirements"]["cni"]),
                i["description"],
            )
            for i in items
        ],
    )


@profiles_app.command("show")
@error_boundary
def profiles_show(
    name: Annotated[str, typer.Argument(help="Profile name or path.")],
    output: OutputOption = OutputFormat.YAML,
) -> None:
    """Show one cluster profile's requirements and component settings."""
    from kfctl.render.service import profile

    data = profile(name).as_dict()
    req = data["requirements"]
    rows = [
        ("kubernetes", f">={req['kubernetes']['min'] or '-'} <={req['kubernetes']['max'] or '-'}"),
        ("cni", ",".join(req["cni"])),
        ("gpu required", req["gpu"]["required"]),
        ("default storage class", req["storage"]["defaultClass"]),
        ("cert-manager", req["certManager"]),
        *((f"overlay {k}", v["overlay"]) for k, v in data["components"].items()),
        ("simulation relaxes", ",".join(data["simulation"]["relax"]) or "-"),
    ]
    emit("ClusterProfile", data, output, columns=("FIELD", "VALUE"), rows=rows, title=data["name"])
