"""Render components: write one kustomization per component (the profile's overlay plus the
user's overrides on top of the upstream paths), build them with the real kustomize in parallel,
parse, validate and order the objects."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from kfctl.config.app import ComponentConfig
from kfctl.errors import RenderError
from kfctl.platform.catalog import PROJECT_PREFIX, PROJECT_SOURCE
from kfctl.platform.remote import kustomization_file
from kfctl.render.cache import KEY_AT, RenderCache
from kfctl.render.documents import RenderedDocument, split_documents
from kfctl.render.kustomize import Kustomize
from kfctl.render.overrides import RESOURCE_KINDS, Original, check_overrides, explain_render_failure
from kfctl.render.resolve import ResolvedApp, ResolvedComponent
from kfctl.render.yamlload import load_rendered

WORKLOAD_KINDS = f"({'|'.join(RESOURCE_KINDS)})"


@dataclass
class RenderedComponent:
    name: str
    wave: int
    documents: list[RenderedDocument]
    cache_key: str | None = None  # its render cache entry
    parsed_cached: bool = False  # its parsed objects came from the cache too
    output: tuple[str, list[RenderedDocument]] | None = None  # kustomize's text and its documents in that order

    @property
    def objects(self) -> list[dict[str, Any]]:
        """The parsed objects (parsed on first use), in apply order."""
        return [document.obj for document in self.documents]

    def text(self) -> str:
        """kustomize's own text of the objects, in apply order."""
        return "---\n".join(document.text for document in self.documents)


def component_kustomization(
    component: ResolvedComponent, source_dir: Path, project_dir: Path, at: Path
) -> dict[str, Any]:
    """The kustomization of one component, written in directory `at`, its paths under `source_dir`
    (and `kfctl:` paths under the project's kustomize folder `project_dir`). A path that holds a
    kustomize Component (a project one, or a release's own such as v1.11's PSS component the example
    lists under `components:`) is listed under `components:`, in catalog order, as kustomize requires."""
    resources: list[str] = []
    components: list[str] = []
    for path in component.paths:
        if path.startswith(PROJECT_PREFIX):
            components.append(os.path.relpath(project_dir / path.removeprefix(PROJECT_PREFIX), at))
        elif is_kustomize_component(source_dir / path):
            components.append(os.path.relpath(source_dir / path, at))
        else:
            resources.append(os.path.relpath(source_dir / path, at))
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    if components:
        kustomization["components"] = components
    config = component.config
    if config.images:
        kustomization["images"] = [dict(image) for image in config.images]
    if config.replicas:
        kustomization["replicas"] = [{"name": name, "count": count} for name, count in config.replicas.items()]
    patches = [_parameters_patch(name, values) for name, values in config.parameters.items()]
    patches += [
        _resources_patch(name, override.requests, override.limits, override.container)
        for name, override in config.resources.items()
    ]
    patches += [dict(patch) for patch in config.patches]
    if patches:
        kustomization["patches"] = patches
    return kustomization


def is_kustomize_component(directory: Path) -> bool:
    """Whether the folder's kustomization is `kind: Component` (kustomize refuses one under `resources`)."""
    file = kustomization_file(directory)
    if file is None:
        return False
    try:
        document = load_rendered(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # kustomize reports the broken file itself, with its own message
    return isinstance(document, dict) and document.get("kind") == "Component"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameters_patch(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """KfDef-style parameters: values merged into a ConfigMap the component generates (params.env).
    A patch, not a `configMapGenerator` merge: the merge finds the ConfigMap only when told the
    namespace its own kustomization gave it, a patch target finds it by name; kustomize gives it
    its new hash suffix either way."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {key: _literal(value) for key, value in values.items()},
    }
    return {"target": {"version": "v1", "kind": "ConfigMap", "name": re.escape(name)}, "patch": yaml.safe_dump(body)}


def _resources_patch(
    name: str, requests: dict[str, Any], limits: dict[str, Any], container: str | None
) -> dict[str, Any]:
    resources = {
        key: {k: str(v) for k, v in values.items()}
        for key, values in (("requests", requests), ("limits", limits))
        if values
    }
    target = {"kind": WORKLOAD_KINDS, "name": name}
    if container:
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"name": container, "resources": resources}]}}},
        }
        return {"target": target, "patch": yaml.safe_dump(body, sort_keys=False)}
    # No container named: the first container's resources are replaced by the given ones.
    operation = [{"op": "add", "path": "/spec/template/spec/containers/0/resources", "value": resources}]
    return {"target": target, "patch": yaml.safe_dump(operation, sort_keys=False)}


def write_kustomizations(app: ResolvedApp, root: Path, source_dirs: dict[str, Path]) -> dict[str, Path]:
    """Write `root/<component>/kustomization.yaml` for every component; returns their directories."""
    directories = {}
    for component in app.components:
        directory = root / component.name
        write_kustomization(component, directory, source_dirs)
        directories[component.name] = directory
    return directories


def write_kustomization(component: ResolvedComponent, directory: Path, source_dirs: dict[str, Path]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = component_kustomization(
        component, source_dirs[component.definition.source], source_dirs[PROJECT_SOURCE], directory
    )
    header = f"# {component.name}: {component.definition.description} (overlay {component.overlay}).\n"
    (directory / "kustomization.yaml").write_text(header + yaml.safe_dump(body, sort_keys=False))


@contextmanager
def scratch_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kfctl-render-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def render_app(
    app: ResolvedApp,
    kustomize: Kustomize,
    *,
    concurrency: int | None = None,
    on_component: Callable[[str, int], None] | None = None,
    cache: RenderCache | None = None,
) -> list[RenderedComponent]:
    """Render every component in parallel; objects validated, duplicates across components refused.
    With `cache`, a component whose inputs are unchanged since an earlier run is not built again."""
    with scratch_dir() as root:
        directories = write_kustomizations(app, root, app.source_roots)
        workers = max(1, min(concurrency or render_workers(), len(directories) or 1))

        def render_one(component: ResolvedComponent) -> RenderedComponent:
            origin = f"component {component.name}"
            original = _original(component, kustomize, root / f"{component.name}.original", app.source_roots)
            key = _cache_key(cache, component, app) if cache else None
            text = cache.get(key, component.name) if cache and key else None
            if text is None:
                try:
                    text = kustomize.build(directories[component.name], origin)
                except RenderError:
                    if (explained := explain_render_failure(component.config, original)) is not None:
                        raise explained from None
                    raise
            documents = split_documents(text, origin)
            parsed = cache.parsed(key, text, len(documents)) if cache and key else None
            for document, obj in zip(documents, parsed or [], strict=False):
                document.prime(obj)
            check_overrides(component.config, documents, original)
            if cache and key and component.name not in cache.hits:
                cache.put(key, text)
            if on_component:
                on_component(component.name, len(documents))
            return RenderedComponent(
                component.name,
                component.wave,
                sort_documents(documents),
                key,
                parsed is not None,
                (text, documents) if cache and key and parsed is None else None,
            )

        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                rendered = list(pool.map(render_one, app.components))
        finally:
            if cache:
                cache.finish()
    check_duplicates(rendered)
    return rendered


def remember_parsed(rendered: list[RenderedComponent], cache: RenderCache) -> None:
    """After a run parsed every object (apply, diff, preflight do), keep the parsed objects beside the
    cache entries that lack them, so the next run reads JSON instead of parsing YAML."""
    for component in rendered:
        if component.cache_key is None or component.output is None:
            continue
        text, documents = component.output
        if all(document.parsed for document in documents):
            cache.put_parsed(component.cache_key, text, [document.obj for document in documents])


def _cache_key(cache: RenderCache, component: ResolvedComponent, app: ResolvedApp) -> str | None:
    kustomization = component_kustomization(
        component,
        app.source_roots[component.definition.source],
        app.source_roots[PROJECT_SOURCE],
        KEY_AT / component.name,
    )
    remote = [(use.coverage.covered, use.coverage.local) for use in app.remote if component.name in use.components]
    return cache.key(component, kustomization, remote)


def _original(
    component: ResolvedComponent, kustomize: Kustomize, directory: Path, source_dirs: dict[str, Path]
) -> Original:
    """The component without any override, rendered on first call only: what the override checks
    compare with when the real output shows no match (kfctl.render.overrides)."""
    rendered: list[list[RenderedDocument] | None] = []

    def render() -> list[RenderedDocument] | None:
        if not rendered:
            write_kustomization(replace(component, config=ComponentConfig(component.name)), directory, source_dirs)
            origin = f"component {component.name} without overrides"
            try:
                rendered.append(split_documents(kustomize.build(directory, origin), origin))
            except RenderError:
                rendered.append(None)
        return rendered[0]

    return render


def render_workers() -> int:
    """kustomize is partly single-threaded, so one build more than CPUs keeps the CPUs busy."""
    configured = os.environ.get("KFCTL_RENDER_CONCURRENCY", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else (os.cpu_count() or 2) + 1


def parse_objects(text: str, origin: str) -> list[dict[str, Any]]:
    """Every object of a kustomize output, parsed (tests and callers that need whole objects)."""
    return [document.obj for document in split_documents(text, origin)]


def sort_documents(documents: list[RenderedDocument]) -> list[RenderedDocument]:
    """Apply order (stage, kind rank, identity: kfctl.platform.kinds), so output is deterministic."""
    return sorted(documents, key=lambda d: d.order)


def check_duplicates(rendered: list[RenderedComponent]) -> None:
    owner: dict[tuple[str, str, str, str], str] = {}
    for component in rendered:
        for document in component.documents:
            key = document.key
            if key in owner and owner[key] != component.name:
                _group, kind, namespace, name = key
                where = f"{namespace}/{name}" if namespace else name
                raise RenderError(
                    f"{kind} {where} is rendered by both {owner[key]} and {component.name}",
                    hint="enable only one of the two components, or patch one object away",
                )
            owner[key] = component.name


def ordered_objects(rendered: list[RenderedComponent]) -> list[dict[str, Any]]:
    """All objects in apply order: wave, component (catalog order within a wave), kind rank."""
    return [obj for component in sorted(rendered, key=lambda c: c.wave) for obj in component.objects]


def ordered_text(rendered: list[RenderedComponent]) -> str:
    """The whole render as one YAML stream in apply order, as kustomize printed each object."""
    return "---\n".join(c.text() for c in sorted(rendered, key=lambda c: c.wave) if c.documents)


def tree_digest(directory: Path) -> str:
    """A digest of a directory's files (names and contents), to skip re-copying identical sources."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
