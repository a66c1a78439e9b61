"""Every container image the rendered platform runs, where each one is named, and the overrides
that point all of them at another registry (`kfctl images`, `--registry`).

Where images are found (each rule is one function below):
- containers: the `image` of every item of a `containers`, `initContainers` or
  `ephemeralContainers` list anywhere in an object (Pods, workloads, Jobs, CronJobs, and the pod
  templates of custom resources such as KServe serving runtimes or Trainer runtimes);
- fields: a key `image` elsewhere in a custom resource (Knative's caching Image, KServe's
  ClusterStorageContainer `spec.container`), and `image.reference` of image volumes;
- env: a container's literal env value when the variable's name ends with IMAGE, or when the
  value is a reference with a registry host and a tag or digest (Pipelines' V2_DRIVER_IMAGE);
- args: a container argument `--…image=REF`, or the one after `--…image` (Argo's executor,
  cert-manager's ACME solver);
- ConfigMaps: a data key whose name contains image (not imagePull…) and whose value is a
  reference, and inside values that are YAML or JSON documents, the strings under keys named so (KServe's
  inferenceservice-config, Katib's katib-config and trial templates, the Jupyter spawner's image
  options); in Istio's values (a document with `global.hub`) an `image` without a slash is
  HUB/IMAGE:TAG, as the sidecar injector composes it.
Outside container fields a value counts only when it is a whole reference with a slash, a tag or a
digest, so `image: true`, `auto` or a `$(VAR)` never count. Left out on purpose: Secrets, CRD
schemas, `_example` keys (Knative's and KServe's documentation, never read), Go templates (Istio's
injection template) and program code packed into ConfigMaps.

The registry rule: the path after the registry host is kept, `NEW/PATH[:TAG][@DIGEST]`; a
reference without a host is Docker Hub's, whose one-component names live under `library/`
(`python:3.9` → `NEW/library/python:3.9`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kfctl.config.oci import NAME, TAG, digest_problem, split_reference
from kfctl.errors import InputError, OperationError
from kfctl.render.build import RenderedComponent
from kfctl.render.documents import RenderedDocument
from kfctl.render.overrides import generated_config_maps
from kfctl.render.service import RenderOptions, build
from kfctl.render.yamlload import load_rendered

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# The lists kustomize's images transformer rewrites wherever they are (its legacy filter);
# ephemeral containers and every other field need a patch.
TRANSFORMED_LISTS = frozenset({"containers", "initContainers"})
SKIPPED_KINDS = frozenset({"Secret", "CustomResourceDefinition"})
DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# A character that may continue a reference: a match bounded by none of these is the whole token.
_TOKEN = r"[A-Za-z0-9._/:@-]"

FieldPath = tuple[str | int, ...]  # keys and list indices into an object


@dataclass(frozen=True)
class ImageUse:
    """One place an image is named: the object, the field, and what a rewrite replaces there."""

    image: str
    component: str
    api_version: str
    kind: str
    namespace: str
    name: str
    field: str  # for people: spec.template.spec.containers[api].env[V2_DRIVER_IMAGE]
    source: str  # container, field, env, arg or configmap
    pointer: FieldPath  # where the string is in the object (a ConfigMap use: ("data", KEY))
    value: str  # the whole string there
    literal: str  # the part of it that names the image (for Istio's values: the hub)
    transformer: bool = False  # kustomize's images transformer reaches it

    def as_dict(self) -> dict[str, str]:
        return {
            "component": self.component,
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "field": self.field,
            "source": self.source,
            "pointer": json_pointer(self.pointer),
        }


@dataclass
class ImageReport:
    platform: str
    components: list[str]
    uses: list[ImageUse]

    def images(self) -> dict[str, list[ImageUse]]:
        """Image → its uses, both sorted."""
        grouped: dict[str, list[ImageUse]] = defaultdict(list)
        for use in self.uses:
            grouped[use.image].append(use)
        return {image: sorted(grouped[image], key=_use_order) for image in sorted(grouped)}

    def as_dict(self) -> dict[str, Any]:
        images = self.images()
        return {
            "platform": self.platform,
            "components": self.components,
            "count": len(images),
            "images": [
                {"image": image, **_parts(image), "uses": [use.as_dict() for use in uses]}
                for image, uses in images.items()
            ],
        }

    def text(self) -> str:
        """The table: each image on a line of its own (whole, so it can be copied or grepped;
        references run to 130 characters), its uses indented below it."""
        lines = []
        for image, uses in self.images().items():
            lines.append(image)
            for use in uses:
                where = f"{use.namespace}/{use.name}" if use.namespace else use.name
                lines.append(f"    {use.component}: {use.kind} {where} {use.field}")
        return "".join(f"{line}\n" for line in lines)


def _use_order(use: ImageUse) -> tuple[str, ...]:
    return (use.component, use.kind, use.namespace, use.name, use.field)


def _parts(image: str) -> dict[str, str]:
    name, tag, digest = split_reference(image)
    return {"name": name, "tag": tag, "digest": digest}


# --- references ---------------------------------------------------------------------------------


def parse_reference(text: str) -> tuple[str, str, str] | None:
    """(name, tag, digest) of a valid image reference, or None."""
    if not text or text != text.strip():
        return None
    name, tag, digest = split_reference(text)
    if not NAME.fullmatch(name) or (tag and not TAG.fullmatch(tag)) or (digest and digest_problem(digest)):
        return None
    if text.count("@") > 1 or (not tag and text.partition("@")[0] != name):
        return None  # an empty tag ("name:") or a second @
    return name, tag, digest


def is_image(text: str) -> bool:
    """A value outside container fields names an image only when it is unmistakably one: a valid
    reference with a slash, a tag or a digest (not `true`, `auto`, `proxyv2`)."""
    parsed = parse_reference(text)
    return parsed is not None and ("/" in parsed[0] or bool(parsed[1]) or bool(parsed[2]))


def registry_host(name: str) -> str:
    """The registry host of an image name, "" for Docker Hub's implied one (docker's rule)."""
    first, slash, _rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def _hosted_image(text: str) -> bool:
    parsed = parse_reference(text)
    return parsed is not None and bool(registry_host(parsed[0])) and bool(parsed[1] or parsed[2])


def _is_image_key(key: object) -> bool:
    """image, imageGroupOne, cacheImage, queue-sidecar-image, TENSORBOARD_IMAGE, defaultJobImage;
    not imagePullPolicy or imagePullSecrets (a secret's ns/name would read as a reference)."""
    return isinstance(key, str) and "image" in key.lower() and "pull" not in key.lower()


def _is_image_flag(flag: str) -> bool:
    """--executor-image, --acme-http01-solver-image; not --image-pull-policy."""
    return re.sub(r"[-_.]", "", flag).lower().endswith("image")


def check_registry(registry: str) -> str:
    """The registry prefix of `--registry`, without a trailing slash; InputError when it is none."""
    prefix = registry.rstrip("/")
    problem = None
    if "://" in prefix:
        problem = "no scheme: a registry is a host, host:port, or either followed by /path"
    elif not NAME.fullmatch(prefix + "/x") or "@" in prefix:
        problem = "a host, host:port, or either followed by /path, with lowercase path components and no tag or digest"
    elif not registry_host(prefix + "/x"):
        problem = "its first part is no registry host (a host has a dot or a port, or is localhost)"
    if problem:
        raise InputError(
            f"--registry {registry!r} is not a registry: {problem}", hint="e.g. registry.internal:5000/mirror"
        )
    return prefix


def move(reference: str, registry: str) -> str:
    """The reference (or bare name, like Istio's hub) under `registry`: the path after the host kept."""
    return _with_host(reference, registry)


def canonical(reference: str) -> str:
    """The reference as Docker reads it: `mysql:8.0` is `docker.io/library/mysql:8.0`."""
    host = registry_host(split_reference(reference)[0])
    return _with_host(reference, "docker.io" if not host or host in DOCKER_HUB else host)


def _with_host(reference: str, host: str) -> str:
    name, tag, digest = split_reference(reference)
    own = registry_host(name)
    path = name[len(own) + 1 :] if own else name
    if (not own or own in DOCKER_HUB) and "/" not in path:
        path = f"library/{path}"
    return f"{host}/{path}" + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def under(reference: str, registry: str) -> bool:
    return reference.startswith(registry + "/")


# --- finding ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """What a rule found in one object; the object's identity is added by the caller."""

    image: str
    field: str
    source: str
    pointer: FieldPath
    value: str
    literal: str
    transformer: bool = False


def find_images(rendered: Sequence[RenderedComponent], only: Sequence[str] = ()) -> list[ImageUse]:
    """Every image use in the rendered components (or in those named)."""
    uses = []
    for component in rendered:
        if only and component.name not in only:
            continue
        for document in component.documents:
            uses += [_use(component.name, document, found) for found in document_images(document)]
    return uses


def _use(component: str, document: RenderedDocument, found: _Found) -> ImageUse:
    return ImageUse(
        found.image,
        component,
        document.api_version,
        document.kind,
        document.namespace,
        document.name,
        found.field,
        found.source,
        found.pointer,
        found.value,
        found.literal,
        found.transformer,
    )


def document_images(document: RenderedDocument) -> list[_Found]:
    if document.kind in SKIPPED_KINDS or "image" not in document.text.lower():
        return []  # the text test spares parsing most of the platform
    if document.kind == "ConfigMap" and not document.group:
        return list(_config_map_images(document.obj))
    body = {k: v for k, v in document.obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    return list(_object_images(body, ()))


def _object_images(node: Any, path: FieldPath) -> Iterator[_Found]:
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _object_images(item, (*path, index))
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        at = (*path, key)
        if key in CONTAINER_LISTS and isinstance(value, list):
            for index, container in enumerate(value):
                if isinstance(container, Mapping):
                    yield from _container_images(container, (*at, index), key in TRANSFORMED_LISTS)
        elif key == "image" and isinstance(value, str) and is_image(value):
            yield _Found(value, _field(at), "field", at, value, value)
        elif key == "image" and isinstance(value, Mapping) and isinstance(value.get("reference"), str):
            reference = value["reference"]  # an image volume (Kubernetes 1.31+)
            if is_image(reference):
                yield _Found(reference, _field((*at, "reference")), "field", (*at, "reference"), reference, reference)
        else:
            yield from _object_images(value, at)


def _container_images(container: Mapping[str, Any], path: FieldPath, transformer: bool) -> Iterator[_Found]:
    label = f"{_field(path[:-1])}[{container.get('name') or path[-1]}]"  # containers[NAME] reads better
    image = container.get("image")
    if isinstance(image, str) and parse_reference(image):  # a container's image needs no slash or tag
        yield _Found(image, f"{label}.image", "container", (*path, "image"), image, image, transformer)
    for index, variable in enumerate(container.get("env") or []):
        if not isinstance(variable, Mapping):
            continue
        name, value = variable.get("name"), variable.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            continue  # valueFrom: the ConfigMap key it reads is found on its own
        if (name.upper().endswith("IMAGE") and is_image(value)) or _hosted_image(value):
            at = (*path, "env", index, "value")
            yield _Found(value, f"{label}.env[{name}]", "env", at, value, value)
    for key in ("command", "args"):
        items = container.get(key)
        if isinstance(items, list):
            for index, reference in _flag_images(items):
                at = (*path, key, index)
                yield _Found(reference, f"{label}.{key}[{index}]", "arg", at, str(items[index]), reference)


def _flag_images(items: list[Any]) -> Iterator[tuple[int, str]]:
    """(index, reference) of `--…image=REF` items, and of REF items right after `--…image`."""
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.startswith("-"):
            continue
        flag, equals, value = item.lstrip("-").partition("=")
        if not _is_image_flag(flag):
            continue
        if equals and is_image(value):
            yield index, value
        elif not equals and index + 1 < len(items):
            following = items[index + 1]
            if isinstance(following, str) and is_image(following):
                yield index + 1, following


def _config_map_images(obj: Mapping[str, Any]) -> Iterator[_Found]:
    data = obj.get("data")
    if not isinstance(data, Mapping):
        return
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str) or key.startswith("_example"):
            continue
        at: FieldPath = ("data", key)
        if _is_image_key(key) and is_image(value.strip()):
            yield _Found(value.strip(), _field(at), "configmap", at, value, value.strip())
            continue
        document = _parse_value(value)
        if isinstance(document, dict | list):
            for image, inner, literal in _embedded_images(document):
                yield _Found(image, f"{_field(at)} {inner}", "configmap", at, value, literal)


def _parse_value(value: str) -> Any:
    """A ConfigMap value as a YAML or JSON document; None when it is neither (a template, code)."""
    if "\n" not in value and value.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        return load_rendered(value)
    except yaml.YAMLError:
        return None


def _embedded_images(document: Any) -> Iterator[tuple[str, str, str]]:
    """(image, path in the document, the literal to rewrite) of a YAML/JSON ConfigMap value."""
    hub = _istio_hub(document)
    for path, value in _image_strings(document, (), False):
        if hub is not None and path[-1] == "image" and "/" not in value:
            parent = _at(document, path[:-1])
            local_hub, local_tag = parent.get("hub"), parent.get("tag")
            image_hub = local_hub if isinstance(local_hub, str) and local_hub else hub[0]
            tag = str(local_tag) if isinstance(local_tag, str | int) and local_tag else hub[1]
            composed = f"{image_hub}/{value}:{tag}"
            if is_image(composed):
                via = _field((*path[:-1], "hub")) if image_hub == local_hub else "global.hub"
                yield composed, f"{_field(path)} ({via})", image_hub
        elif is_image(value):
            yield value, _field(path), value


def _image_strings(node: Any, path: FieldPath, under_image_key: bool) -> Iterator[tuple[FieldPath, str]]:
    """Strings under image keys (through nested lists and mappings: the spawner's
    `image: {value, options: [...]}`)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _image_strings(value, (*path, str(key)), under_image_key or _is_image_key(key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _image_strings(item, (*path, index), under_image_key)
    elif isinstance(node, str) and under_image_key:
        yield path, node


def _istio_hub(document: Any) -> tuple[str, str] | None:
    """(hub, tag) of Istio's values (`global.hub`, `global.tag`), or None for other documents."""
    settings = document.get("global") if isinstance(document, Mapping) else None
    if not isinstance(settings, Mapping):
        return None
    hub, tag = settings.get("hub"), settings.get("tag")
    if isinstance(hub, str) and hub and isinstance(tag, str | int) and tag:
        return hub, str(tag)
    return None


def _at(document: Any, path: FieldPath) -> Mapping[str, Any]:
    node = document
    for part in path:
        node = node[part]
    return node if isinstance(node, Mapping) else {}


def _field(path: FieldPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text and re.fullmatch(r"[A-Za-z0-9_-]+", part):
            text += f".{part}"
        elif text:
            text += f"[{part}]"  # data[katib-config.yaml]
        else:
            text = part
    return text


def json_pointer(path: FieldPath) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


# --- the command's core -------------------------------------------------------------------------


def list_images(options: RenderOptions) -> ImageReport:
    """`kfctl images`: render, then find every image of the enabled (or named) components."""
    result = build(options)
    named = [c for c in options.components if c != "all"]
    components = [c.name for c in result.rendered if not named or c.name in named]
    return ImageReport(result.app.platform.name, components, find_images(result.rendered, named))


@dataclass
class ComponentOverrides:
    name: str
    images: list[dict[str, str]] = field(default_factory=list)
    parameters: dict[str, dict[str, str]] = field(default_factory=dict)
    patches: list[dict[str, Any]] = field(default_factory=list)

    def as_entry(self) -> str | dict[str, Any]:
        """A `spec.components` entry: the bare name when nothing changes."""
        entry: dict[str, Any] = {"name": self.name}
        for key in ("images", "parameters", "patches"):
            if value := getattr(self, key):
                entry[key] = value
        return entry if len(entry) > 1 else self.name


@dataclass
class RegistryOverrides:
    registry: str
    report: ImageReport
    components: list[ComponentOverrides]

    @property
    def moved(self) -> dict[str, str]:
        """Each image outside the registry → where it goes."""
        return {image: move(image, self.registry) for image in self.report.images() if not under(image, self.registry)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.report.platform,
            "registry": self.registry,
            "images": self.moved,
            "components": [component.as_entry() for component in self.components],
        }

    def fragment(self) -> str:
        """The `components:` list to merge into kfctl.yaml's spec, as YAML."""
        header = (
            f"# kfctl images --registry {self.registry}: {len(self.moved)} images moved.\n"
            "# Merge into spec.components: add each entry's images, parameters and patches to that\n"
            "# component's entry; a bare name needs nothing. Without COMPONENT arguments every enabled\n"
            "# component is listed, so in a config without spec.components it can be pasted whole.\n"
        )
        body = {"components": [component.as_entry() for component in self.components]}
        return header + yaml.dump(body, Dumper=_BlockDumper, sort_keys=False, width=120)


def registry_overrides(options: RenderOptions, registry: str) -> RegistryOverrides:
    """`kfctl images --registry NEW`: the overrides that point every image at NEW, per component."""
    prefix = check_registry(registry)
    report = list_images(options)
    return RegistryOverrides(prefix, report, overrides_for(report, prefix))


def overrides_for(report: ImageReport, registry: str) -> list[ComponentOverrides]:
    _check_collisions(report, registry)
    by_component: dict[str, list[ImageUse]] = defaultdict(list)
    for use in report.uses:
        if not under(use.image, registry):
            by_component[use.component].append(use)
    return [_component_overrides(name, by_component.get(name, []), registry) for name in report.components]


def _check_collisions(report: ImageReport, registry: str) -> None:
    """Two different images that would become one reference: the rule cannot keep both. (`mysql:8.0`
    and `docker.io/library/mysql:8.0` are one image, written two ways.)"""
    sources: dict[str, str] = {}
    for image in report.images():
        target = move(image, registry)
        if canonical(sources.setdefault(target, image)) != canonical(image):
            raise InputError(
                f"--registry {registry}: {sources[target]} and {image} would both become {target}",
                hint="mirror one of them under another path and override it by hand",
            )


def _component_overrides(name: str, uses: list[ImageUse], registry: str) -> ComponentOverrides:
    overrides = ComponentOverrides(name)
    # One images entry per distinct name: kustomize keeps each container's tag and digest.
    names = sorted({split_reference(u.image)[0] for u in uses if u.source == "container" and u.transformer})
    overrides.images = [{"name": n, "newName": move(n, registry)} for n in names]
    patched: dict[tuple[str, str, str, str], list[ImageUse]] = defaultdict(list)
    configs: dict[tuple[str, str, str], list[ImageUse]] = defaultdict(list)
    for use in uses:
        if use.source == "configmap":
            configs[(use.namespace, use.name, str(use.pointer[-1]))].append(use)
        elif not use.transformer:
            patched[(use.api_version, use.kind, use.namespace, use.name)].append(use)
    overrides.parameters = _parameters(configs, registry, name)
    overrides.patches = [_patch(identity, found, registry) for identity, found in sorted(patched.items())]
    return overrides


def _rewrite_text(text: str, literals: set[str], registry: str) -> str:
    """Each literal, where it stands as a whole token, moved to the registry (one pass, so a moved
    reference is never moved again)."""
    moved = {literal: move(literal, registry) for literal in literals}
    alternatives = "|".join(re.escape(literal) for literal in sorted(literals, key=len, reverse=True))
    pattern = re.compile(f"(?<!{_TOKEN})(?:{alternatives})(?!{_TOKEN})")
    return pattern.sub(lambda match: moved[match.group(0)], text)


def _parameters(
    configs: dict[tuple[str, str, str], list[ImageUse]], registry: str, component: str
) -> dict[str, dict[str, str]]:
    """`parameters` for ConfigMap keys; keyed by the generator's name, as kfctl's parameters are."""
    parameters: dict[str, dict[str, str]] = {}
    for (_namespace, config_map, key), uses in sorted(configs.items()):
        value = _rewrite_text(uses[0].value, {u.literal for u in uses}, registry)
        values = parameters.setdefault(_generator_name(config_map), {})
        if values.setdefault(key, value) != value:
            raise OperationError(
                f"{component}: two ConfigMaps named {config_map} hold different {key!r}; "
                "kfctl's parameters cannot tell them apart",
                hint="override that key with a patch that targets the namespace",
            )
    return parameters


def _generator_name(config_map: str) -> str:
    """The name a parameters entry uses: without the hash suffix a generator appended."""
    base = config_map[:-11]
    if len(config_map) > 11 and config_map[-11] == "-" and generated_config_maps(base, [_named(config_map)]):
        return base
    return config_map


def _named(name: str) -> RenderedDocument:
    return RenderedDocument("", "v1", "ConfigMap", name, "")


def _patch(identity: tuple[str, str, str, str], uses: list[ImageUse], registry: str) -> dict[str, Any]:
    """A JSON 6902 patch for one object: per string a `test` of what it holds (so a patch that
    lands anywhere else fails loudly) and a `replace`."""
    api_version, kind, namespace, name = identity
    group, _, version = api_version.rpartition("/")
    target = {"group": group, "version": version, "kind": kind, "namespace": namespace, "name": name}
    target = {k: v.replace(".", r"\.") for k, v in target.items() if v}  # anchored regexes
    operations = []
    for use in sorted(uses, key=lambda u: json_pointer(u.pointer)):
        path = json_pointer(use.pointer)
        new = use.value.replace(use.literal, move(use.literal, registry))
        operations += [{"op": "test", "path": path, "value": use.value}, {"op": "replace", "path": path, "value": new}]
    return {"target": target, "patch": yaml.safe_dump(operations, sort_keys=False, width=1000)}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (patches, ConfigMap documents) as `|` blocks, so the fragment reads."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)
