"""Every override the user wrote must change a rendered object.

kustomize drops an image override, a resources patch or a patch target that matches nothing
without a word, and refuses others (replicas, parameters, a patch naming a missing object) with
an error that names neither kfctl.yaml nor the override. So after a component renders, each
override is checked against its output; one that matches nothing is a ConfigError naming the
entry's file:line, the component, and the names that would match, closest first.

Identity (kind, name, namespace) comes from the text of the rendered documents; only candidates
are parsed (a workload's containers, an object's labels). When the rendered output does not show
a match, the component is rendered once more without any override (`original`): an override that
matched there and was then changed by a later one (a patch that relabels, renames or re-images an
object) did its job. The same rendering explains a kustomize failure caused by an override.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import yaml

from kfctl.config.app import ComponentConfig, ResourceOverride
from kfctl.config.oci import split_reference
from kfctl.config.selectors import parse_selector
from kfctl.errors import ConfigError
from kfctl.render.documents import RenderedDocument
from kfctl.schema import Where

# The kinds kustomize's replicas transformer changes (its fieldspecs), and the kinds kfctl's
# resources patch targets (kfctl.render.build).
REPLICA_KINDS = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")
RESOURCE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# Objects whose `image:` lines are data, not containers: the images transformer leaves them alone.
_NOT_CONTAINERS = frozenset({"ConfigMap", "Secret", "CustomResourceDefinition"})
_IMAGE_LINE = re.compile(r"^[ \t]*(?:-[ \t]+)?image:[ \t]*(\S.*?)[ \t]*$", re.MULTILINE)
# kustomize's name suffix for generated ConfigMaps: 10 characters of a hex hash with 0 1 3 a e
# replaced (api/hasher encode), so they never spell words.
_HASH_SUFFIX = "-[2456789bcdfghkmt]{10}"
# Built-in cluster-scoped kinds: kustomize's effective namespace for them is no namespace at all,
# while a namespaced object without one is in "default" (api/resid EffectiveNamespace).
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)
NOT_A_NAMESPACE = "_non_namespaceable_"
SHOWN = 5  # names listed in a hint
TYPO_CUTOFF = 0.8  # difflib ratio above which a new parameter key is taken for a misspelt existing one

Documents = Sequence[RenderedDocument]
Original = Callable[[], Documents | None]  # the component without overrides, rendered on first call
Check = Callable[[Documents, bool], "Problem | None"]  # (documents, they are the original?) -> problem


@dataclass(frozen=True)
class Problem:
    where: Where
    message: str
    hint: str

    def error(self) -> ConfigError:
        return self.where.error(self.message, self.hint)


def check_overrides(config: ComponentConfig, documents: Documents, original: Original) -> None:
    """Raise a ConfigError for the first override (in file order) that changed no rendered object."""
    if not config.has_overrides:
        return
    problems = []
    for check in _checks(config):
        problem = check(documents, False)
        if problem is None:
            continue
        before = original()
        if before is not None and check(before, True) is None:
            continue  # it matched what kustomize started from; a later override changed the object
        problems.append(problem)
    problems += _parameter_typos(config, documents, original)
    if problems:
        raise _first(config, problems).error()


def explain_render_failure(config: ComponentConfig, original: Original) -> ConfigError | None:
    """kustomize failed: the override that matches nothing in the component, if one does (kustomize
    refuses a replicas entry, a parameters ConfigMap or a patch's named object that do not exist)."""
    if not config.has_overrides:
        return None
    before = original()
    if before is None:
        return None  # the component fails on its own: kustomize's message is the one to show
    problems = [problem for check in _checks(config) if (problem := check(before, True)) is not None]
    return _first(config, problems).error() if problems else None


def _checks(config: ComponentConfig) -> list[Check]:
    checks: list[Check] = []
    checks += [partial(_image, config, index, image) for index, image in enumerate(config.images)]
    checks += [partial(_replicas, config, name) for name in config.replicas]
    checks += [partial(_resources, config, name, override) for name, override in config.resources.items()]
    checks += [partial(_parameters, config, name) for name in config.parameters]
    checks += [partial(_patch, config, index, patch) for index, patch in enumerate(config.patches)]
    return checks


def _first(config: ComponentConfig, problems: list[Problem]) -> Problem:
    """The user's entries in file order first, then the profile's."""
    own = config.where.file if config.where else None
    return min(problems, key=lambda p: (p.where.file != own, p.where.line or 0))


# --- images -------------------------------------------------------------------------------------


def images_used(documents: Iterable[RenderedDocument]) -> list[str]:
    """The `image:` values of containers (a line scan; ConfigMaps, Secrets and CRDs skipped)."""
    found = []
    for document in documents:
        if document.kind in _NOT_CONTAINERS:
            continue
        for match in _IMAGE_LINE.finditer(document.text):
            value = match.group(1)
            if value[0] in "'\"":
                value = value[1:-1]
            elif value[0] in "{[|>&*!$":
                continue
            found.append(value)
    return found


def _image(
    config: ComponentConfig, index: int, image: Mapping[str, str], documents: Documents, original: bool
) -> Problem | None:
    used = [split_reference(reference) for reference in images_used(documents)]
    if original:
        matched = any(name == image["name"] for name, _tag, _digest in used)
    else:
        # After the transformer some container has the resulting reference.
        name = image.get("newName") or image["name"]
        tag, digest = image.get("newTag"), image.get("digest")
        matched = any(n == name and (tag is None or t == tag) and (digest is None or d == digest) for n, t, d in used)
    if matched:
        return None
    return Problem(
        config.site("images", index),
        f"matches nothing: no container of {config.name} uses image {image['name']!r}",
        _closest(image["name"], [name for name, _tag, _digest in used], f"images {config.name} uses"),
    )


# --- replicas and resources ---------------------------------------------------------------------


def _replicas(config: ComponentConfig, name: str, documents: Documents, _original: bool) -> Problem | None:
    if any(d.kind in REPLICA_KINDS and d.name == name for d in documents):
        return None
    return Problem(
        config.site("replicas", name),
        f"matches nothing: {config.name} renders no {_either(REPLICA_KINDS)} named {name!r}",
        _closest(name, [d.name for d in documents if d.kind in REPLICA_KINDS], f"workloads of {config.name}"),
    )


def _resources(
    config: ComponentConfig, name: str, override: ResourceOverride, documents: Documents, original: bool
) -> Problem | None:
    workloads = [d for d in documents if d.kind in RESOURCE_KINDS and d.name == name]
    if not workloads:
        return Problem(
            config.site("resources", name),
            f"matches nothing: {config.name} renders no {_either(RESOURCE_KINDS)} named {name!r}",
            _closest(name, [d.name for d in documents if d.kind in RESOURCE_KINDS], f"workloads of {config.name}"),
        )
    if override.container is None:
        return None
    for workload in workloads:
        # The patch adds a container it does not find: one without an image is the patch's own.
        names = [c.get("name") for c in _containers(workload.obj) if original or c.get("image")]
        if override.container not in names:
            return Problem(
                config.site("resources", name, "container"),
                f"matches nothing: {workload.kind} {name} of {config.name} has no container {override.container!r}",
                _closest(override.container, [str(n) for n in names if n], f"containers of {name}"),
            )
    return None


def _containers(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]


# --- parameters ---------------------------------------------------------------------------------


def generated_config_maps(name: str, documents: Iterable[RenderedDocument]) -> list[RenderedDocument]:
    """The ConfigMaps a generator named `name` produced (`name`, or `name-<hash>`)."""
    pattern = re.compile(re.escape(name) + f"(?:{_HASH_SUFFIX})?")
    return [d for d in documents if d.kind == "ConfigMap" and not d.group and pattern.fullmatch(d.name)]


def _parameters(config: ComponentConfig, name: str, documents: Documents, _original: bool) -> Problem | None:
    if generated_config_maps(name, documents):
        return None
    names = [re.sub(f"{_HASH_SUFFIX}$", "", d.name) for d in documents if d.kind == "ConfigMap" and not d.group]
    return Problem(
        config.site("parameters", name),
        f"matches nothing: {config.name} generates no ConfigMap named {name!r}",
        _closest(name, names, f"ConfigMaps of {config.name}"),
    )


def _parameter_typos(config: ComponentConfig, documents: Documents, original: Original) -> list[Problem]:
    """A key the ConfigMap does not have is added to it, which is how settings that only have an
    example in the manifests are given (Knative's config-*). But a new key close to an existing
    one is a misspelling that leaves the real setting at its default: refused, with the key meant."""
    problems = []
    for name, values in config.parameters.items():
        rendered = _data_keys(generated_config_maps(name, documents))
        for key in values:
            if not _close_to(key, [k for k in rendered if k != key]):
                continue  # nothing it could be a misspelling of: an override of a key, or a new one
            before = original()
            if before is None:
                continue
            existing = _data_keys(generated_config_maps(name, before))
            close = _close_to(key, existing)
            if key not in existing and close:
                problems.append(
                    Problem(
                        config.site("parameters", name, key),
                        f"ConfigMap {name} of {config.name} has no key {key!r}",
                        f"did you mean {close[0]!r}? a new key this close to an existing one is taken for a typo",
                    )
                )
    return problems


def _data_keys(config_maps: list[RenderedDocument]) -> list[str]:
    return sorted({str(key) for d in config_maps for key in (d.obj.get("data") or {})})


def _close_to(key: str, keys: list[str]) -> list[str]:
    same_but_case = [k for k in keys if k.lower() == key.lower() and k != key]
    return same_but_case or difflib.get_close_matches(key, keys, n=1, cutoff=TYPO_CUTOFF)


# --- patches ------------------------------------------------------------------------------------


def _patch(
    config: ComponentConfig, index: int, patch: Mapping[str, Any], documents: Documents, original: bool
) -> Problem | None:
    target = patch.get("target")
    if target is not None:
        outcome = narrow(target, documents)
        if outcome.matched:
            return None
        return Problem(
            config.site("patches", index, "target"),
            f"matches nothing: {config.name} renders no {outcome.described}",
            _closest(outcome.wanted, outcome.alternatives, outcome.noun),
        )
    if not original:
        return None  # kustomize fails for a patch whose named object does not exist
    for body in yaml.safe_load_all(patch["patch"]):
        if isinstance(body, Mapping) and (problem := _named_object(config, index, body, documents)):
            return problem
    return None


def _named_object(config: ComponentConfig, index: int, body: Mapping[str, Any], documents: Documents) -> Problem | None:
    """A patch without a target applies to the one object of its apiVersion, kind, name and namespace."""
    api_version, kind = str(body.get("apiVersion")), str(body.get("kind"))
    metadata = body.get("metadata") or {}
    name, namespace = str(metadata.get("name")), str(metadata.get("namespace") or "")
    wanted = _effective_namespace(kind, namespace)
    same_kind = [d for d in documents if d.kind == kind]
    if any(d.api_version == api_version and d.name == name and effective_namespace(d) == wanted for d in same_kind):
        return None
    at = f"{namespace}/{name}" if namespace else name
    hint = _closest(at, [_qualified(d) for d in same_kind], f"{kind}s of {config.name}")
    elsewhere = [d.namespace for d in same_kind if d.name == name and d.namespace and d.namespace != namespace]
    if not namespace and elsewhere:
        hint = f"add metadata.namespace: {elsewhere[0]} to the patch"
    versions = [d.api_version for d in same_kind if d.name == name and d.api_version != api_version]
    if versions and not elsewhere:
        hint = f"its apiVersion is {versions[0]}"
    scope = "" if namespace or kind in CLUSTER_SCOPED else ", no namespace, so default"
    return Problem(
        config.site("patches", index),
        f"matches nothing: the patch names {kind} {at} ({api_version}{scope}) and {config.name} renders no such object",
        hint,
    )


@dataclass(frozen=True)
class Narrowed:
    """What a patch target selects; when nothing, the criterion that left nothing and what was left before."""

    matched: list[RenderedDocument]
    described: str = ""  # "Deployment named 'x'", the target up to the criterion that failed
    wanted: str = ""  # that criterion's value
    alternatives: tuple[str, ...] = ()  # the values the candidates before it have
    noun: str = ""  # what the alternatives are


def narrow(target: Mapping[str, Any], documents: Documents) -> Narrowed:
    """Apply a patch target as kustomize does (resmap Select): group, version, kind, namespace and
    name are anchored regular expressions; label and annotation selectors are Kubernetes selectors."""
    candidates = list(documents)
    kind = str(target.get("kind") or "")
    kinds = f"{kind}s" if kind else "objects"
    described = ""  # the target's criteria so far, after its kind
    for key, phrase, value_of in _CRITERIA:
        wanted = target.get(key)
        if not wanted:
            continue
        if key in ("labelSelector", "annotationSelector"):
            selector = parse_selector(str(wanted))
            field = "labels" if key == "labelSelector" else "annotations"
            left = [d for d in candidates if selector.matches(_metadata_map(d, field))]
            alternatives = tuple(f"{k}={v}" for d in candidates for k, v in _metadata_map(d, field).items())
        else:
            pattern = re.compile(f"(?:{wanted})")
            left = [d for d in candidates if pattern.fullmatch(value_of(d))]
            alternatives = tuple(v for d in candidates if (v := value_of(d)) != NOT_A_NAMESPACE)
        if key != "kind":
            described += phrase.format(wanted)
        if not left:
            if key == "kind":
                return Narrowed([], f"object of kind {kind!r}{described}", kind, alternatives, "kinds it renders")
            noun = f"{_plural(key)} of its {kinds}{described.removesuffix(phrase.format(wanted))}"
            return Narrowed([], f"{kind or 'object'}{described}", str(wanted), alternatives, noun)
        candidates = left
    return Narrowed(candidates)


_CRITERIA: tuple[tuple[str, str, Callable[[RenderedDocument], str]], ...] = (
    ("group", " of API group {!r}", lambda d: d.group),
    ("version", " of API version {!r}", lambda d: d.api_version.rsplit("/", 1)[-1]),
    ("kind", "", lambda d: d.kind),
    ("namespace", " in namespace {!r}", lambda d: effective_namespace(d)),
    ("name", " named {!r}", lambda d: d.name),
    ("labelSelector", " with labels {!r}", lambda d: ""),
    ("annotationSelector", " with annotations {!r}", lambda d: ""),
)


def _plural(key: str) -> str:
    return {
        "group": "API groups",
        "version": "API versions",
        "namespace": "namespaces",
        "name": "names",
        "labelSelector": "labels",
        "annotationSelector": "annotations",
    }.get(key, "kinds")


def effective_namespace(document: RenderedDocument) -> str:
    return _effective_namespace(document.kind, document.namespace)


def _effective_namespace(kind: str, namespace: str) -> str:
    if kind in CLUSTER_SCOPED:
        return NOT_A_NAMESPACE
    return namespace or "default"


def _metadata_map(document: RenderedDocument, field: str) -> dict[str, str]:
    values = (document.obj.get("metadata") or {}).get(field) or {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, Mapping) else {}


def _qualified(document: RenderedDocument) -> str:
    return f"{document.namespace}/{document.name}" if document.namespace else document.name


# --- wording ------------------------------------------------------------------------------------


def closest(wanted: str, names: Iterable[str], limit: int = SHOWN) -> list[str]:
    """Distinct names, the most similar to `wanted` first (difflib), at most `limit`."""
    unique = sorted(set(names))
    ranked = sorted(unique, key=lambda n: -difflib.SequenceMatcher(None, wanted, n).ratio())
    return ranked[:limit]


def _closest(wanted: str, names: Sequence[str], noun: str) -> str:
    ranked = closest(wanted, names)
    if not ranked:
        return f"there are no {noun}; remove the override"
    more = ", …" if len(set(names)) > len(ranked) else ""
    return f"{noun}, closest first: {', '.join(ranked)}{more}"


def _either(kinds: Sequence[str]) -> str:
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}"
