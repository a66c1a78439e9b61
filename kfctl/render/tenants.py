"""Tenants as one more rendered component, `tenants`: their objects come from the config and the
rendered platform (kfctl.tenancy.objects), not from kustomize, and from here on they are planned,
applied, waited for, recorded, diffed and pruned like every other component's objects."""

from __future__ import annotations

from pathlib import Path

import yaml

from kfctl.config.app import ComponentConfig
from kfctl.errors import ConfigError
from kfctl.platform.catalog import PROJECT_SOURCE, ComponentDef
from kfctl.platform.graph import dependency_closure
from kfctl.render.build import RenderedComponent, sort_documents
from kfctl.render.documents import RenderedDocument
from kfctl.render.resolve import ResolvedApp, ResolvedComponent
from kfctl.tenancy.objects import COMPONENT, PlatformFacts, all_tenant_objects, platform_facts

# Namespaces Kubernetes itself owns: never a team's.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def facts_of(rendered: list[RenderedComponent]) -> PlatformFacts:
    return platform_facts((c.name, c.documents) for c in rendered)


def add_tenants(
    app: ResolvedApp, rendered: list[RenderedComponent], selected: list[str] | None
) -> PlatformFacts | None:
    """Append the `tenants` component to the app and its render when the config has tenants and the
    selection (None: everything) includes them. With a selection, only the selected components, the
    tenants' dependencies and theirs stay: `--components tenants` applies tenants alone."""
    tenants = app.config.tenants
    if not tenants or (selected is not None and COMPONENT not in selected):
        return None
    facts = facts_of(rendered)
    for tenant in tenants:
        if tenant.name in RESERVED_NAMESPACES or tenant.name in facts.system_namespaces:
            where = tenant.where or app.config.where_tenants
            message = f"tenant {tenant.name}: the namespace is the platform's own"
            hint = "give the team a namespace of its own"
            raise where.child("name", None).error(message, hint=hint) if where else ConfigError(message, hint=hint)
    depends_on = facts.dependencies
    wave_of = {c.name: c.wave for c in app.components}
    wave = max((wave_of[d] + 1 for d in depends_on), default=0)
    definition = ComponentDef(
        name=COMPONENT,
        description="team namespaces (spec.tenants)",
        source=PROJECT_SOURCE,
        overlays={"default": ()},
        default_overlay="default",
        depends_on=tuple(depends_on),
    )
    resolved = ResolvedComponent(COMPONENT, definition, "default", Path(), (), ComponentConfig(COMPONENT), wave)
    if selected is not None:
        graph = {c.name: [*c.definition.depends_on, *c.config.depends_on] for c in app.components}
        graph[COMPONENT] = depends_on
        keep = set(dependency_closure([*selected], graph))
        app.components[:] = [c for c in app.components if c.name in keep]
        rendered[:] = [c for c in rendered if c.name in keep]
    app.components.append(resolved)
    documents = [_document(obj) for obj in all_tenant_objects(tenants, facts)]
    rendered.append(RenderedComponent(COMPONENT, wave, sort_documents(documents)))
    _renumber_waves(app, rendered)
    return facts


def _renumber_waves(app: ResolvedApp, rendered: list[RenderedComponent]) -> None:
    """Waves numbered 0.. again after components were left out or tenants added, in the same order."""
    numbers = sorted({c.wave for c in app.components})
    index = {number: position for position, number in enumerate(numbers)}
    for resolved in app.components:
        resolved.wave = index[resolved.wave]
    for component in rendered:
        component.wave = index[component.wave]
    app.waves[:] = [[c.name for c in app.components if c.wave == position] for position in range(len(numbers))]


def _document(obj: dict[str, object]) -> RenderedDocument:
    metadata = obj["metadata"]
    assert isinstance(metadata, dict)
    text = yaml.dump(obj, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)
    document = RenderedDocument(
        text, str(obj["apiVersion"]), str(obj["kind"]), str(metadata["name"]), str(metadata.get("namespace") or "")
    )
    document.prime(obj)
    return document
