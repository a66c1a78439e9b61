"""The offline commands' core: init, generate, build and the catalog listings.

Each function is what one CLI command calls; they take plain arguments and return data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfctl.config.app import APP, AppConfig, ComponentConfig, load_app_config, new_app_config
from kfctl.config.profiles import ClusterProfile, list_profiles, load_profile
from kfctl.errors import ConfigError, InputError
from kfctl.platform.catalog import Platform, load_platforms, newest
from kfctl.render.airgap import remote_report
from kfctl.render.appdir import GenerateResult, generate_app_dir
from kfctl.render.build import RenderedComponent, ordered_objects, ordered_text, remember_parsed, render_app
from kfctl.render.cache import RenderCache, cache_disabled
from kfctl.render.kustomize import find_kustomize
from kfctl.render.resolve import ResolvedApp, platform_by_name, resolve_app
from kfctl.render.tenants import add_tenants
from kfctl.tenancy.objects import COMPONENT as TENANTS


@dataclass
class RenderOptions:
    config_path: Path
    manifests_dir: Path | None = None
    kustomize_bin: str | None = None
    components: list[str] = field(default_factory=list)  # empty or ["all"]: every enabled component
    mirrors: dict[str, str] = field(default_factory=dict)  # --mirror PREFIX=LOCATION, over the config's mirrors
    use_cache: bool = True  # False: --no-cache (or $KFCTL_NO_CACHE): every component built by kustomize
    # `kfctl upgrade`: render the config as if it named this platform release, and (for a config that
    # relies on the release's default set) with these components instead of the new release's defaults.
    platform: str | None = None
    default_components: list[str] | None = None
    drop_components: list[str] = field(default_factory=list)  # listed components the new release no longer has


@dataclass
class BuildResult:
    app: ResolvedApp
    rendered: list[RenderedComponent]
    kustomize: str
    seconds: float
    cache: dict[str, Any] | None = None  # hits and misses of the render cache; None: not used
    render_cache: RenderCache | None = None

    def remember_parsed(self) -> None:
        """Keep the objects this run parsed beside their cache entries (see render.build.remember_parsed)."""
        if self.render_cache is not None:
            remember_parsed(self.rendered, self.render_cache)

    @property
    def objects(self) -> list[dict[str, Any]]:
        return ordered_objects(self.rendered)

    def text(self) -> str:
        return ordered_text(self.rendered)

    def summary(self) -> dict[str, Any]:
        return {
            **self.app.summary(),
            "kustomize": self.kustomize,
            "renderSeconds": round(self.seconds, 3),
            "objects": sum(len(c.documents) for c in self.rendered),
            "perComponent": {c.name: len(c.documents) for c in self.rendered},
            "cache": self.cache,
        }


def _only(components: list[str]) -> list[str] | None:
    selected = [c for c in components if c != "all"]
    return selected or None


def load_and_resolve(options: RenderOptions, *, check_remote: bool = True) -> ResolvedApp:
    config = load_app_config(options.config_path)
    if options.platform is not None:
        config.platform = options.platform
    if options.default_components is not None and config.components is None:
        config.components = [ComponentConfig(name) for name in options.default_components]
    if options.drop_components and config.components is not None:
        config.components = [c for c in config.components if c.name not in options.drop_components]
    selected = _only(options.components)
    if selected and TENANTS in selected:
        selected = None  # what tenants need is known only from the whole render (kfctl.render.tenants)
    return resolve_app(
        config,
        manifests_dir=options.manifests_dir,
        only=selected,
        mirrors=options.mirrors,
        check_remote=check_remote,
    )


def remote_sources(options: RenderOptions) -> tuple[ResolvedApp, dict[str, Any]]:
    """`kfctl sources remote`: every remote entry the enabled components would fetch and its mirror, if any.
    A report: nothing is refused, probed or copied."""
    app = load_and_resolve(options, check_remote=False)
    return app, remote_report(app.remote, app.mirrors)


def build(options: RenderOptions, on_component: Callable[[str, int], None] | None = None) -> BuildResult:
    """Render every enabled component (or the named ones and their dependencies) in apply order."""
    app = load_and_resolve(options)
    use_cache = options.use_cache and not cache_disabled()
    kustomize = find_kustomize(options.kustomize_bin or app.config.settings.get("kustomizeBin"), use_cache=use_cache)
    cache = RenderCache.open(kustomize) if use_cache else None
    started = time.monotonic()
    rendered = render_app(app, kustomize, concurrency=None, on_component=on_component, cache=cache)
    add_tenants(app, rendered, _only(options.components))
    summary = cache.summary() if cache else None
    return BuildResult(app, rendered, kustomize.label, time.monotonic() - started, summary, cache)


def write_build_output(result: BuildResult, out: str) -> list[Path]:
    """`-o -`: one stream on stdout (returned as no paths); `-o DIR`: one file per component, numbered."""
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"-o {out}: exists and is not a directory", hint="pass a directory, or - for stdout")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    ordered = sorted(result.rendered, key=lambda c: c.wave)
    for index, component in enumerate(ordered, start=1):
        path = directory / f"{index:02d}-{component.name}.yaml"
        path.write_text(f"# wave {component.wave}: {component.name}\n" + component.text())
        written.append(path)
    return written


def generate(options: RenderOptions, *, vendor: bool = True) -> GenerateResult:
    app = load_and_resolve(options)
    return generate_app_dir(app, vendor=vendor)


def init_app(
    app_dir: Path,
    *,
    profile: str | None,
    platform: str | None,
    components: list[str] | None,
    force: bool,
    from_kfdef: Path | None = None,
) -> Path:
    """Write APP_DIR/kfctl.yaml after checking profile, platform and components exist. With `from_kfdef`,
    the kfctl.yaml equivalent to that legacy KfDef file: profile and platform default to its annotations."""
    if from_kfdef is not None:
        if components:
            raise InputError(
                "--components cannot be combined with --from-kfdef",
                hint="the KfDef's applications choose the components; edit the written kfctl.yaml after",
            )
        text = _kfdef_app_config(from_kfdef, app_dir, profile=profile, platform=platform)
    else:
        if profile is None:
            raise InputError(
                "--profile is required",
                hint="name a cluster profile (kfctl profiles list), or convert a KfDef v1 file with --from-kfdef",
            )
        platform = platform or newest(load_platforms()).name
        release = platform_by_name(platform)
        load_profile(profile, base=app_dir)
        chosen = components or list(release.default_components)
        for name in chosen:
            if name not in release.components:
                from kfctl.schema import suggest

                raise ConfigError(
                    f"--components: unknown component {name!r} in {platform}",
                    hint=suggest(name, list(release.components), "component"),
                )
        name = "".join(c if c.isalnum() else "-" for c in app_dir.resolve().name.lower()).strip("-") or "kubeflow"
        text = new_app_config(name, profile, platform, chosen)
    config_path = app_dir / "kfctl.yaml"
    if config_path.exists() and not force:
        raise InputError(f"{config_path} already exists", hint="pass --force to overwrite it")
    app_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(text)
    load_app_config(config_path)  # what init writes must load
    return config_path


def _kfdef_app_config(kfdef: Path, app_dir: Path, *, profile: str | None, platform: str | None) -> str:
    from kfctl.config.kfdef import read_kfdef
    from kfctl.schema import Where, load_yaml_file

    conversion = read_kfdef(load_yaml_file(kfdef, what="KfDef file"), str(kfdef), platform=platform, profile=profile)
    # Checked before anything is written: a KfDef name that is no DNS name is reported against the KfDef.
    APP.check(conversion.document, Where(str(kfdef), None, ""))
    load_profile(conversion.profile, base=app_dir)
    return conversion.app_config_text()


def platforms() -> list[Platform]:
    """Oldest release first."""
    return sorted(load_platforms().values(), key=lambda p: p.version)


def components_of(platform: str | None) -> Platform:
    """A release's components; None: the newest release's."""
    return platform_by_name(platform) if platform else newest(load_platforms())


def profiles() -> list[ClusterProfile]:
    return list(list_profiles().values())


def profile(name: str) -> ClusterProfile:
    return load_profile(name, base=Path.cwd())


__all__ = ["AppConfig", "BuildResult", "RenderOptions", "build", "generate", "init_app", "write_build_output"]
