"""The platform catalog: releases, their manifest sources and components.

Catalogs are package data (kfctl/data/catalogs/*.yaml), checked with the same schema machinery as
the user's files, so a broken entry is reported with file:line like any other input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from kfctl.data import CATALOGS, KUSTOMIZE, data_dir, empty_dir_error
from kfctl.plain_yaml import load_plain_yaml
from kfctl.schema import Field, ListOf, MapOf, Obj, Str, Where, load_yaml_file

CATALOG_ENV = "KFCTL_CATALOG_DIR"
PROJECT_KUSTOMIZE_ENV = "KFCTL_KUSTOMIZE_DIR"


def catalog_dir() -> Path:
    """The bundled catalogs, or $KFCTL_CATALOG_DIR (a site's own platform definitions)."""
    return data_dir(CATALOGS, CATALOG_ENV)


def project_kustomize_dir() -> Path:
    """The project's own kustomize components (kfctl/data/kustomize), or $KFCTL_KUSTOMIZE_DIR."""
    return data_dir(KUSTOMIZE, PROJECT_KUSTOMIZE_ENV)


PROJECT_SOURCE = "kfctl"
# An overlay path with this prefix is a kustomize Component of the project's kustomize folder.
PROJECT_PREFIX = "kfctl:"

NAME = r"[a-z0-9]([-.a-z0-9]*[a-z0-9])?"
VERSION = r"\d+\.\d+(\.\d+)?"


@dataclass(frozen=True)
class ReadinessGate:
    """An extra object a component must have ready before its dependents start."""

    kind: str
    namespace: str | None
    name: str
    condition: str | None = None


@dataclass(frozen=True)
class SourceDef:
    name: str
    dir_name: str
    url: str | None = None
    sha256: str | None = None
    subdir: str | None = None


@dataclass(frozen=True)
class ComponentDef:
    name: str
    description: str
    source: str
    overlays: dict[str, tuple[str, ...]]
    default_overlay: str
    namespaces: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    kubernetes_min: str | None = None
    readiness: tuple[ReadinessGate, ...] = ()

    def paths(self, overlay: str | None) -> tuple[str, ...]:
        return self.overlays[overlay or self.default_overlay]


@dataclass(frozen=True)
class Platform:
    name: str
    release: str
    description: str
    kubernetes_min: str
    kubernetes_tested_max: str
    sources: dict[str, SourceDef]
    components: dict[str, ComponentDef]
    default_components: tuple[str, ...]
    file: Path = field(compare=False, default=Path())

    @property
    def primary_source(self) -> str:
        return next(iter(self.sources))

    @property
    def version(self) -> Version:
        """The release on one scale across the switch to calendar versions: v1.11.0 < 26.03 < 26.03.1."""
        return release_version(self.release or self.name.rsplit("-", 1)[-1])


def release_version(text: str) -> Version:
    try:
        return Version(text.removeprefix("v"))
    except InvalidVersion:
        return Version("0")


def newest(platforms: dict[str, Platform]) -> Platform:
    """The newest release (what `kfctl init` installs unless told otherwise)."""
    return max(platforms.values(), key=lambda p: p.version)


GATE = Obj(
    {
        "kind": Field(Str(), required=True),
        "namespace": Field(Str()),
        "name": Field(Str(), required=True),
        "condition": Field(Str()),
    }
)
COMPONENT = Obj(
    {
        "description": Field(Str(), required=True),
        "source": Field(Str()),
        "paths": Field(ListOf(Str(), min_items=1)),
        "overlays": Field(MapOf(ListOf(Str(), min_items=1))),
        "defaultOverlay": Field(Str()),
        "namespaces": Field(ListOf(Str(pattern=NAME, what="a namespace name")), default=list),
        "dependsOn": Field(ListOf(Str()), default=list),
        "conflicts": Field(ListOf(Str()), default=list),
        "kubernetes": Field(Obj({"min": Field(Str(pattern=VERSION, what="a version like 1.29"))}), default=dict),
        "readiness": Field(ListOf(GATE), default=list),
    }
)
SOURCE = Obj(
    {
        "dirName": Field(Str(), required=True),
        "url": Field(Str()),
        "sha256": Field(Str(pattern=r"[0-9a-f]{64}", what="a sha256 hex digest")),
        "subdir": Field(Str()),
    }
)
PLATFORM = Obj(
    {
        "apiVersion": Field(Str(choices=["kfctl.dev/v1alpha1"]), required=True),
        "kind": Field(Str(choices=["Platform", "ComponentSet"]), required=True),
        "metadata": Field(
            Obj({"name": Field(Str(pattern=NAME, what="a lowercase name"), required=True)}), required=True
        ),
        "spec": Field(
            Obj(
                {
                    "release": Field(Str()),
                    "description": Field(Str()),
                    "kubernetes": Field(
                        Obj(
                            {
                                "min": Field(Str(pattern=VERSION), required=True),
                                "testedMax": Field(Str(pattern=VERSION), required=True),
                            }
                        )
                    ),
                    "sources": Field(MapOf(SOURCE), default=dict),
                    "defaultComponents": Field(ListOf(Str()), default=list),
                    "components": Field(MapOf(COMPONENT), required=True),
                }
            ),
            required=True,
        ),
    }
)


def _component(name: str, raw: dict[str, Any], default_source: str, where: Where) -> ComponentDef:
    if raw["paths"] and raw["overlays"]:
        raise where.error("give either paths or overlays, not both")
    if raw["paths"]:
        overlays = {"default": tuple(raw["paths"])}
        default = "default"
    elif raw["overlays"]:
        overlays = {key: tuple(paths) for key, paths in raw["overlays"].items()}
        default = raw["defaultOverlay"] or next(iter(overlays))
        if default not in overlays:
            raise where.error(f"defaultOverlay {default!r} is not one of the overlays")
    else:
        raise where.error("a component needs paths or overlays")
    return ComponentDef(
        name=name,
        description=raw["description"],
        source=raw["source"] or default_source,
        overlays=overlays,
        default_overlay=default,
        namespaces=tuple(raw["namespaces"]),
        depends_on=tuple(raw["dependsOn"]),
        conflicts=tuple(raw["conflicts"]),
        kubernetes_min=raw["kubernetes"].get("min") if raw["kubernetes"] else None,
        readiness=tuple(ReadinessGate(**gate) for gate in raw["readiness"]),
    )


def load_catalog_file(path: Path) -> tuple[str, dict[str, Any]]:
    """Parsed with the C loader (every command reads every catalog: the line-keeping parser costs ~0.3 s);
    a catalog that fails its checks is read again with line numbers, for the error to name them."""
    try:
        fast = load_plain_yaml(path.read_text(encoding="utf-8"))
        raw = PLATFORM.check(fast, Where(str(path), 1, ""))
    except Exception:  # the careful path below reports whatever is wrong, with its line
        raw = PLATFORM.check(load_yaml_file(path, what="catalog"), Where(str(path), 1, ""))
    return raw["kind"], raw


def load_platforms() -> dict[str, Platform]:
    return _load_platforms(catalog_dir())


@cache
def _load_platforms(directory: Path) -> dict[str, Platform]:
    """Every platform release, with the project's own components (kind ComponentSet) added to each."""
    platforms: dict[str, dict[str, Any]] = {}
    files: dict[str, Path] = {}
    shared: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted(directory.glob("*.yaml")):
        kind, raw = load_catalog_file(path)
        if kind == "Platform":
            platforms[raw["metadata"]["name"]] = raw
            files[raw["metadata"]["name"]] = path
        else:
            shared.append((path, raw))
    if not platforms:
        # An empty listing would look like "nothing to install" rather than a broken installation.
        raise empty_dir_error(
            "catalog directory", directory, CATALOG_ENV, "platform catalogs (*.yaml of kind Platform)"
        )
    result = {}
    for name, raw in platforms.items():
        spec = raw["spec"]
        where = Where(str(files[name]), None, "spec")
        if not spec["sources"] or not spec["kubernetes"]:
            raise where.error("a Platform needs sources and kubernetes")
        sources = {
            key: SourceDef(key, s["dirName"], s["url"], s["sha256"], s["subdir"]) for key, s in spec["sources"].items()
        }
        sources[PROJECT_SOURCE] = SourceDef(PROJECT_SOURCE, "kustomize")
        primary = next(iter(spec["sources"]))
        components = {
            key: _component(key, c, primary, where.child("components", None).child(key, None))
            for key, c in spec["components"].items()
        }
        for shared_path, shared_raw in shared:
            for key, c in shared_raw["spec"]["components"].items():
                components[key] = _component(key, c, PROJECT_SOURCE, Where(str(shared_path), None, key))
        result[name] = Platform(
            name=name,
            release=spec["release"] or "",
            description=spec["description"] or name,
            kubernetes_min=spec["kubernetes"]["min"],
            kubernetes_tested_max=spec["kubernetes"]["testedMax"],
            sources=sources,
            components=components,
            default_components=tuple(spec["defaultComponents"]),
            file=files[name],
        )
        _check_references(result[name])
    return result


def _check_references(platform: Platform) -> None:
    """Catalog consistency: sources, dependencies and defaults name things that exist."""
    where = Where(str(platform.file), None, "spec.components")
    for component in platform.components.values():
        here = where.child(component.name, None)
        if component.source not in platform.sources:
            raise here.error(f"unknown source {component.source!r}")
        for other in (*component.depends_on, *component.conflicts):
            if other not in platform.components:
                raise here.error(f"names unknown component {other!r}")
    for name in platform.default_components:
        if name not in platform.components:
            raise Where(str(platform.file), None, "spec.defaultComponents").error(f"unknown component {name!r}")
