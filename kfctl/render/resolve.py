"""Resolve an app config against its profile and platform: which components, which overlays,
which source directories, in which waves. Everything here is checked before any rendering."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kfctl.config.app import AppConfig, ComponentConfig, SourceOverride, override_sites
from kfctl.config.profiles import ClusterProfile, load_profile
from kfctl.errors import ConfigError
from kfctl.platform.catalog import (
    PROJECT_PREFIX,
    PROJECT_SOURCE,
    ComponentDef,
    Platform,
    load_platforms,
    project_kustomize_dir,
)
from kfctl.platform.graph import dependency_closure, waves
from kfctl.platform.remote import plan_rewrite, rewrite_remote_resources
from kfctl.platform.sources import SourceContext, SourceSpec, resolve_source
from kfctl.render.airgap import RemoteUse, merged_mirrors, refuse_uncovered, remote_uses
from kfctl.render.cache import cache_root as cache_dir
from kfctl.schema import Where, line_of, load_yaml_file, suggest


@dataclass
class ResolvedComponent:
    name: str
    definition: ComponentDef
    overlay: str
    source_root: Path  # the source tree the paths are relative to
    paths: tuple[str, ...]
    config: ComponentConfig
    wave: int = 0

    project_root: Path | None = None  # the project's kustomize components, for `kfctl:` paths

    @property
    def directories(self) -> list[Path]:
        return [self.directory(path) for path in self.paths]

    def directory(self, path: str) -> Path:
        if path.startswith(PROJECT_PREFIX):
            assert self.project_root is not None
            return self.project_root / path.removeprefix(PROJECT_PREFIX)
        return self.source_root / path


@dataclass
class ResolvedApp:
    config: AppConfig
    profile: ClusterProfile
    platform: Platform
    components: list[ResolvedComponent]  # in apply order: wave, then name
    waves: list[list[str]]
    source_roots: dict[str, Path] = field(default_factory=dict)
    mirrors: dict[str, str] = field(default_factory=dict)  # the config's and --mirror's, merged
    remote: list[RemoteUse] = field(default_factory=list)  # remote entries the components' builds would fetch

    def component(self, name: str) -> ResolvedComponent:
        return next(c for c in self.components if c.name == name)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "profile": self.profile.name,
            "platform": self.platform.name,
            "release": self.platform.release,
            "waves": self.waves,
            "components": [
                {
                    "name": c.name,
                    "wave": c.wave,
                    "overlay": c.overlay,
                    "source": c.definition.source,
                    "paths": list(c.paths),
                    "dependsOn": list(c.definition.depends_on),
                }
                for c in self.components
            ],
        }


def platform_by_name(name: str, where: Where | None = None) -> Platform:
    platforms = load_platforms()
    if name not in platforms:
        at = where or Where("--platform", None, "")
        raise at.error(f"unknown platform {name!r}", hint=suggest(name, list(platforms), "platform"))
    return platforms[name]


def resolve_app(
    config: AppConfig,
    *,
    manifests_dir: Path | None = None,
    only: list[str] | None = None,
    mirrors: Mapping[str, str] | None = None,
    check_remote: bool = True,
) -> ResolvedApp:
    """Check the config against catalog and profile; find the sources. `only` limits to those components
    and their dependencies (`kfctl generate COMPONENT…`). `mirrors` (--mirror) win over the config's.
    `check_remote`: refuse remote entries the render cannot get, and point the others at their mirrors;
    False (`kfctl sources remote`): only list them, the trees as they are."""
    all_mirrors = merged_mirrors(config.mirrors, config.directory, mirrors or {}, Path.cwd())
    platform = platform_by_name(config.platform, config.where_platform)
    profile = load_profile(config.profile, base=config.directory, where=config.where_profile)
    chosen = _chosen_components(config, platform)
    if not chosen:
        raise (config.where_components or Where(str(config.path), None, "spec.components")).error(
            f"no component is enabled (platform {platform.name} has no default set)",
            hint="list the components to install under spec.components",
        )
    by_name = {c.name: c for c in chosen}
    where = config.where_components or Where(str(config.path), None, "spec.components")
    for component in chosen:
        definition = platform.components[component.name]
        for other in definition.conflicts:
            if other in by_name:
                raise (component.where or where).error(
                    f"{component.name} and {other} cannot both be enabled", hint="remove one of them"
                )
    depends_on = {c.name: [*platform.components[c.name].depends_on, *c.depends_on] for c in chosen}
    component_waves = waves(depends_on, where=f"{config.path}: spec.components")
    if only:
        unknown = [name for name in only if name not in by_name]
        if unknown:
            raise ConfigError(
                f"{unknown[0]} is not enabled in {config.path}", hint=suggest(unknown[0], list(by_name), "component")
            )
        keep = set(dependency_closure(only, depends_on))
        component_waves = [[n for n in wave if n in keep] for wave in component_waves]
        component_waves = [wave for wave in component_waves if wave]
    wave_of = {name: index for index, wave in enumerate(component_waves) for name in wave}
    used_sources = sorted({platform.components[name].source for name in wave_of} | {PROJECT_SOURCE})
    roots = _resolve_sources(config, platform, used_sources, manifests_dir, all_mirrors)
    resolved = []
    for wave in component_waves:
        for name in wave:
            component = by_name[name]
            definition = platform.components[name]
            overlay = component.overlay or profile.component_overlays.get(name) or definition.default_overlay
            if overlay not in definition.overlays:
                at = component.where or where
                raise at.error(
                    f"component {name} of {platform.name} has no overlay {overlay!r}"
                    + ("" if component.overlay else f" (set by profile {profile.name})"),
                    hint=f"overlays: {', '.join(definition.overlays)}",
                )
            merged = _with_profile_parameters(component, profile)
            root = roots[definition.source]
            resolved_component = ResolvedComponent(
                name, definition, overlay, root, definition.paths(overlay), merged, wave_of[name], roots[PROJECT_SOURCE]
            )
            for directory in resolved_component.directories:
                if not directory.is_dir():
                    raise ConfigError(
                        f"component {name}: {directory} does not exist in source {definition.source} ({root})",
                        hint=f"does the source hold {platform.name} ({platform.release})? check source/--manifests-dir",
                    )
            resolved.append(resolved_component)
    uses = remote_uses([walk for c in resolved for walk in _walks(c)], all_mirrors)
    if check_remote:
        refuse_uncovered(uses)
        roots = {name: _mirrored(root, all_mirrors, name, uses) for name, root in roots.items()}
        for mirrored in resolved:
            mirrored.source_root = roots[mirrored.definition.source]
            mirrored.project_root = roots[PROJECT_SOURCE]
    return ResolvedApp(config, profile, platform, resolved, component_waves, roots, all_mirrors, uses)


def _walks(component: ResolvedComponent) -> list[tuple[str, str, Path, list[Path]]]:
    """(component, source, root, directories) for the remote-entry walk: `kfctl:` paths are the project's."""
    project = [component.directory(p) for p in component.paths if p.startswith(PROJECT_PREFIX)]
    upstream = [component.directory(p) for p in component.paths if not p.startswith(PROJECT_PREFIX)]
    walks = [(component.name, component.definition.source, component.source_root, upstream)]
    if project and component.project_root is not None:
        walks.append((component.name, PROJECT_SOURCE, component.project_root, project))
    return walks


def _chosen_components(config: AppConfig, platform: Platform) -> list[ComponentConfig]:
    if config.components is None:
        return [ComponentConfig(name) for name in platform.default_components]
    where = config.where_components or Where(str(config.path), None, "spec.components")
    seen: dict[str, ComponentConfig] = {}
    for component in config.components:
        at = component.where or where
        if component.name not in platform.components:
            raise at.error(
                f"unknown component {component.name!r} in platform {platform.name}",
                hint=suggest(component.name, list(platform.components), "component"),
            )
        if component.name in seen:
            raise at.error(f"component {component.name} is listed twice", hint="merge the two entries")
        seen[component.name] = component
    return list(seen.values())


def _with_profile_parameters(component: ComponentConfig, profile: ClusterProfile) -> ComponentConfig:
    profile_parameters = profile.component_parameters.get(component.name)
    if not profile_parameters:
        return component
    parameters = {name: dict(values) for name, values in profile_parameters.items()}
    for name, values in component.parameters.items():
        parameters.setdefault(name, {}).update(values)  # the user's values win over the profile's
    # The profile's entries are checked like the user's (kustomize refuses a ConfigMap the release
    # does not generate anyway): errors name the profile file's line, or the user's where both set it.
    document = load_yaml_file(profile.file, what="cluster profile")
    where = Where(str(profile.file), 1, "")
    node: Any = document
    for key in ("spec", "components", component.name):
        parent, node = node, node.get(key) if isinstance(node, dict) else None
        where = where.child(key, line_of(parent, key))
    sites = {path: at for path, at in override_sites(node, where).items() if path[0] == "parameters"}
    return replace(component, parameters=parameters, sites={**sites, **component.sites})


def _resolve_sources(
    config: AppConfig, platform: Platform, used: list[str], manifests_dir: Path | None, mirrors: dict[str, str]
) -> dict[str, Path]:
    """Where each source comes from: --manifests-dir, else the config's source, else
    $KFCTL_MANIFESTS_DIR, else the release archive named by the catalog."""
    env_dir = Path(os.environ["KFCTL_MANIFESTS_DIR"]) if os.environ.get("KFCTL_MANIFESTS_DIR") else None
    roots: dict[str, Path] = {}
    for name in used:
        if name == PROJECT_SOURCE:
            roots[name] = project_kustomize_dir()
            continue
        definition = platform.sources[name]
        override: SourceOverride | None = config.sources.get(name)
        if override is None and name == platform.primary_source:
            override = config.source
        directory = manifests_dir or (None if override else env_dir)
        context = SourceContext(
            cache_dir=cache_dir() / "sources",
            lock_file=config.directory / "kfctl.lock",
            manifests_dir=directory.expanduser().resolve() if directory else None,
            mirrors=mirrors,
        )
        subdir = None
        if directory is not None:
            spec = SourceSpec(name, definition.dir_name)
        elif override is not None:
            spec = SourceSpec(
                name,
                definition.dir_name,
                path=override.path,
                url=override.url,
                sha256=override.sha256,
                strip_prefix=override.strip_prefix,
            )
            subdir = definition.subdir if override.url else None
        else:
            spec = SourceSpec(name, definition.dir_name, url=definition.url, sha256=definition.sha256)
            subdir = definition.subdir
        # The primary source may be the manifests directory itself; others sit inside it by folder name.
        root = resolve_source(spec, context, only_source=name == platform.primary_source)
        root = root / subdir if subdir else root
        roots[name] = root
    return roots


def _mirrored(root: Path, mirrors: dict[str, str], name: str, uses: list[RemoteUse]) -> Path:
    """The tree with the remote entries the components reach pointed at their mirrors (a rewritten copy, cached);
    entries no mirror covers are left to kustomize."""
    inside = [(use.kustomization, use.target.entry) for use in uses if use.source == name]
    planned = plan_rewrite(root, mirrors, [(k, entry) for k, entry in inside if k.is_relative_to(root)])
    if not planned:
        return root
    # Named by what the copy holds: the tree, each rewritten entry's target, and each copied file's version.
    lines = [str(root)]
    for relative, coverage_by_entry in sorted(planned.items()):
        for entry, coverage in sorted(coverage_by_entry.items()):
            local = coverage.local
            version = f"{local.stat().st_size}:{local.stat().st_mtime_ns}" if local and local.is_file() else ""
            lines.append(f"{relative}\t{entry}\t{coverage.location}\t{version}")
    key = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    out_dir = cache_dir() / "mirrored" / f"{name}-{key}"
    if out_dir.is_dir() and any(out_dir.iterdir()):
        return out_dir
    return rewrite_remote_resources(root, mirrors, out_dir, planned=planned)
