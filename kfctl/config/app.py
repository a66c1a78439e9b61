"""The app config (kfctl.yaml): which profile, which platform release, which components, with
the user's overrides. Validated completely, with file:line, before anything else happens."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from kfctl.config.oci import DIGEST_EXAMPLE, NAME_EXAMPLE, TAG_EXAMPLE, digest_problem, name_problem, tag_problem
from kfctl.config.selectors import SelectorError, parse_selector
from kfctl.config.settings import DEFAULT_ADOPT, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, DEFAULT_WAIT, parse_duration
from kfctl.config.tenants import TENANTS, TenantConfig, read_tenants
from kfctl.schema import (
    Bool,
    Checked,
    Either,
    Field,
    Int,
    ListOf,
    MapOf,
    Obj,
    Scalar,
    Shape,
    Str,
    Where,
    line_of,
    load_yaml_file,
    type_name,
)

API_VERSION = "kfctl.dev/v1alpha1"
KIND = "AppConfig"
LEGACY_KFDEF_GROUP = "kfdef.apps.kubeflow.org/"
DNS_NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def _source_shape() -> Either:
    long = Obj(
        {
            "path": Field(Str()),
            "url": Field(Str(pattern=r"(https?|file)://\S+", what="an http(s) or file URL")),
            "sha256": Field(Str(pattern=r"[0-9a-f]{64}", what="a sha256 hex digest (64 lowercase hex digits)")),
            "stripPrefix": Field(Str()),
        }
    )

    def normalize(text: str) -> dict[str, Any]:
        if "://" in text:
            return {"path": None, "url": text, "sha256": None, "stripPrefix": None}
        return {"path": text, "url": None, "sha256": None, "stripPrefix": None}

    return Either(Str(what="a path or URL"), long, normalize)


def _image_name(value: str, _node: Any, where: Where) -> None:
    if problem := name_problem(value):
        raise where.error(f"{value!r} is not an image name: {problem}", hint=NAME_EXAMPLE)


def _digest(value: str, _node: Any, where: Where) -> None:
    if problem := digest_problem(value):
        raise where.error(f"{value!r} is not a digest: {problem}", hint=DIGEST_EXAMPLE)


def _as_written(value: Any) -> str:
    """A YAML scalar as the user wrote it (ruamel keeps `2.10`, `0123`, `1_000` for round trips)."""
    buffer = io.StringIO()
    YAML().dump(value, buffer)
    return buffer.getvalue().split("\n", 1)[0]


@dataclass
class ImageTag(Shape):
    """A tag. An unquoted number is one only when YAML keeps its digits: `5` is the tag "5", but
    `2.10` is the float 2.1 and `0123` the integer 123, so those are refused with a hint to quote."""

    description = "an image tag"

    def check(self, value: Any, where: Where) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise where.error(f"expected an image tag, got {type_name(value)}", hint=TAG_EXAMPLE)
        rewritten = isinstance(value, int) and type(value) is not int  # ruamel keeps 0123, 0x1f, 1_000 as ScalarInt
        if isinstance(value, float) or rewritten:
            written = _as_written(value)
            raise where.error(
                f"{written} is a YAML number ({value}), not a tag",
                hint=f'quote the tag: newTag: "{written}"',
            )
        text = str(value)
        if problem := tag_problem(text):
            raise where.error(f"{text!r} is not an image tag: {problem}", hint=TAG_EXAMPLE)
        return text


def _regex(value: str, _node: Any, where: Where) -> None:
    try:
        re.compile(value)
    except re.error as error:
        raise where.error(
            f"{value!r} is not a regular expression: {error}",
            hint="kustomize matches target kind, name, namespace, group and version as anchored regexes",
        ) from None


def _selector(value: str, _node: Any, where: Where) -> None:
    try:
        parse_selector(value)
    except SelectorError as error:
        raise where.error(f"not a selector: {error}", hint="e.g. app=web,tier in (a,b),!legacy") from None


def _duration(value: str, _node: Any, where: Where) -> None:
    parse_duration(value, where)


PATCH_HINT = "write a strategic-merge patch (an object with apiVersion, kind, metadata) or a JSON patch (a list of ops)"


def _patch(value: dict[str, Any], node: Any, where: Where) -> None:
    """A patch body kustomize can read: a strategic-merge patch names a kind and metadata.name (and
    without a target, the apiVersion of the one object it patches); a JSON patch needs a target."""
    at = where.child("patch", line_of(node, "patch"))
    text = value["patch"]
    if text.lstrip().startswith("["):
        try:  # kustomize reads a patch that starts with [ as JSON, not YAML
            json.loads(text)
        except ValueError as error:
            raise at.error(
                f"a JSON patch that starts with [ must be JSON: {error}",
                hint='quote keys and strings ([{"op": "add", ...}]), or write it as a YAML list (- op: add)',
            ) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        position = f" (line {mark.line + 1}, column {mark.column + 1} of the patch)" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise at.error(f"not YAML: {problem}{position}", hint=PATCH_HINT) from None
    if not documents:
        raise at.error("the patch is empty", hint=PATCH_HINT)
    if len(documents) == 1 and isinstance(documents[0], list):
        if value.get("target") is None:
            raise at.error("a JSON patch needs a target", hint="add target: {kind: ..., name: ...}")
        return
    for document in documents:
        if not isinstance(document, Mapping):
            raise at.error(f"expected a patch, got {type_name(document)}", hint=PATCH_HINT)
        metadata = document.get("metadata")
        targeted = value.get("target") is not None
        required = [
            ("apiVersion", targeted or document.get("apiVersion")),
            ("kind", document.get("kind")),
            ("metadata.name", isinstance(metadata, Mapping) and metadata.get("name")),
        ]
        missing = [label for label, present in required if not present]
        if missing:
            raise at.error(
                f"a strategic-merge patch names the object it patches; this one has no {', '.join(missing)}",
                hint="with a target any name will do, kustomize still needs one"
                if targeted
                else "add them, or give the patch a target",
            )


IMAGE = Obj(
    {
        "name": Field(Checked(Str(what="an image name"), _image_name), required=True),
        "newName": Field(Checked(Str(what="an image name"), _image_name)),
        "newTag": Field(ImageTag()),
        "digest": Field(Checked(Str(what="a digest"), _digest)),
    }
)
QUANTITIES = MapOf(Scalar())
RESOURCES = Obj(
    {
        "container": Field(Str()),
        "requests": Field(QUANTITIES, default=dict),
        "limits": Field(QUANTITIES, default=dict),
    }
)
TARGET = Obj(
    {
        **{key: Field(Checked(Str(), _regex)) for key in ("group", "version", "kind", "name", "namespace")},
        **{key: Field(Checked(Str(), _selector)) for key in ("labelSelector", "annotationSelector")},
    }
)
PATCH = Checked(Obj({"patch": Field(Str(), required=True), "target": Field(TARGET)}), _patch)
COMPONENT_LONG = Obj(
    {
        "name": Field(Str(pattern=DNS_NAME, what="a component name"), required=True),
        "overlay": Field(Str()),
        "parameters": Field(MapOf(MapOf(Scalar())), default=dict),
        "images": Field(ListOf(IMAGE), default=list),
        "replicas": Field(MapOf(Int(minimum=0)), default=dict),
        "resources": Field(MapOf(RESOURCES), default=dict),
        "patches": Field(ListOf(PATCH), default=list),
        # Extra ordering on top of the catalog's (e.g. a component of the user's after another one).
        "dependsOn": Field(ListOf(Str(pattern=DNS_NAME, what="a component name")), default=list),
    }
)
COMPONENT = Either(
    Str(pattern=DNS_NAME, what="a component name"),
    COMPONENT_LONG,
    lambda name: {
        "name": name,
        "overlay": None,
        "parameters": {},
        "images": [],
        "replicas": {},
        "resources": {},
        "patches": [],
        "dependsOn": [],
    },
)
SETTINGS = Obj(
    {
        # No defaults: None tells kfctl.config.settings.resolve_run_settings that the config left it
        # out, so a flag, then this, then the built-in default applies.
        "concurrency": Field(Int(minimum=1)),
        "timeout": Field(Checked(Str(what="a duration like 15m or 90s"), _duration)),
        "wait": Field(Bool()),
        # Take over objects another kfctl app or Helm manages (recorded in the release).
        "adopt": Field(Bool()),
        "kustomizeBin": Field(Str()),
        # Who the ApplySet says manages it: "kubectl" lets `kubectl apply --prune --applyset` work on it
        # (kubectl refuses sets of other tools, as KEP-3659 asks).
        "applysetTooling": Field(Str(choices=["kfctl", "kubectl"]), default="kfctl"),
    }
)
APP = Obj(
    {
        "apiVersion": Field(Str(choices=[API_VERSION]), required=True),
        "kind": Field(Str(choices=[KIND]), required=True),
        "metadata": Field(
            Obj(
                {
                    "name": Field(Str(pattern=DNS_NAME, what="a lowercase DNS name"), required=True),
                    "annotations": Field(MapOf(Str()), default=dict),
                }
            ),
            required=True,
        ),
        "spec": Field(
            Obj(
                {
                    "profile": Field(Str(), required=True),
                    "platform": Field(Str(), required=True),
                    "source": Field(_source_shape()),
                    "sources": Field(MapOf(_source_shape()), default=dict),
                    "mirrors": Field(MapOf(Str()), default=dict),
                    "components": Field(ListOf(COMPONENT)),
                    "tenants": Field(TENANTS, default=list),
                    "settings": Field(SETTINGS, default=lambda: SETTINGS.check({}, Where("", None, ""))),
                }
            ),
            required=True,
        ),
    }
)


@dataclass(frozen=True)
class ResourceOverride:
    requests: dict[str, Any]
    limits: dict[str, Any]
    container: str | None = None


OverridePath = tuple[str | int, ...]


@dataclass
class ComponentConfig:
    """One enabled component and the user's overrides of it."""

    name: str
    overlay: str | None = None
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: list[dict[str, Any]] = field(default_factory=list)
    replicas: dict[str, int] = field(default_factory=dict)
    resources: dict[str, ResourceOverride] = field(default_factory=dict)
    patches: list[dict[str, Any]] = field(default_factory=list)
    where: Where | None = None
    depends_on: list[str] = field(default_factory=list)
    # Where each override entry was written, for errors that name it: ("images", 0),
    # ("replicas", NAME), ("resources", NAME[, "container"]), ("parameters", CONFIGMAP[, KEY]),
    # ("patches", 0). Profile parameters point into the profile file.
    sites: dict[OverridePath, Where] = field(default_factory=dict)

    @property
    def has_overrides(self) -> bool:
        return bool(self.parameters or self.images or self.replicas or self.resources or self.patches)

    def site(self, *path: str | int) -> Where:
        """Where an override entry was written; the nearest enclosing entry's when that one is unknown."""
        for length in range(len(path), 0, -1):
            if (where := self.sites.get(path[:length])) is not None:
                return where
        return self.where or Where(f"component {self.name}", None, "")


@dataclass
class SourceOverride:
    path: Path | None = None
    url: str | None = None
    sha256: str | None = None
    strip_prefix: str | None = None


@dataclass
class AppConfig:
    path: Path
    name: str
    profile: str
    platform: str
    components: list[ComponentConfig] | None  # None: the platform's default components
    source: SourceOverride | None = None
    sources: dict[str, SourceOverride] = field(default_factory=dict)
    mirrors: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    converted_from: str | None = None  # "KfDef v1" when read from a legacy file
    where_components: Where | None = None
    where_profile: Where | None = None
    where_platform: Where | None = None
    tenants: list[TenantConfig] = field(default_factory=list)
    where_tenants: Where | None = None

    @property
    def directory(self) -> Path:
        return self.path.parent


def load_app_config(path: Path) -> AppConfig:
    """Read and validate an app config (or a legacy KfDef v1, converted)."""
    document = load_yaml_file(path, what="app config")
    where = Where(str(path), 1, "")
    converted_from = None
    if isinstance(document, dict) and (
        document.get("kind") == "KfDef" or str(document.get("apiVersion", "")).startswith(LEGACY_KFDEF_GROUP)
    ):
        from kfctl.config.kfdef import convert_kfdef

        document = convert_kfdef(document, str(path))
        converted_from = "KfDef v1"
        where = Where(str(path), None, "")  # lines refer to the legacy file, not the converted one
    raw = APP.check(document, where)
    spec = raw["spec"]
    spec_node = document["spec"] if isinstance(document, dict) else {}

    def child(key: str) -> Where:
        return where.child("spec", line_of(document, "spec")).child(key, line_of(spec_node, key))

    components = None
    if spec["components"] is not None:
        components = []
        items = spec_node.get("components") or []
        for index, item in enumerate(spec["components"]):
            at = child("components").child(index, line_of(items, index))
            components.append(
                ComponentConfig(
                    name=item["name"],
                    overlay=item["overlay"],
                    parameters=item["parameters"],
                    images=[{k: v for k, v in image.items() if v is not None} for image in item["images"]],
                    replicas=item["replicas"],
                    resources={
                        k: ResourceOverride(v["requests"], v["limits"], v["container"])
                        for k, v in item["resources"].items()
                    },
                    patches=[{k: v for k, v in p.items() if v is not None} for p in item["patches"]],
                    where=at,
                    depends_on=item["dependsOn"],
                    sites=override_sites(items[index] if index < len(items) else None, at),
                )
            )
    return AppConfig(
        path=path,
        name=raw["metadata"]["name"],
        profile=spec["profile"],
        platform=spec["platform"],
        components=components,
        source=_source(spec["source"], path.parent),
        sources={key: s for key, value in spec["sources"].items() if (s := _source(value, path.parent))},
        mirrors=spec["mirrors"],
        settings=spec["settings"],
        annotations=raw["metadata"]["annotations"],
        converted_from=converted_from,
        where_components=child("components"),
        where_profile=child("profile"),
        where_platform=child("platform"),
        tenants=read_tenants(spec["tenants"], spec_node.get("tenants"), child("tenants")),
        where_tenants=child("tenants"),
    )


def override_sites(node: Any, where: Where) -> dict[OverridePath, Where]:
    """The position of every override entry under a component's node (see ComponentConfig.sites)."""
    sites: dict[OverridePath, Where] = {}
    if not isinstance(node, Mapping):
        return sites
    for kind in ("images", "patches"):
        entries = node.get(kind)
        if isinstance(entries, list):
            at = where.child(kind, line_of(node, kind))
            for index, entry in enumerate(entries):
                sites[(kind, index)] = at.child(index, line_of(entries, index))
                if isinstance(entry, Mapping) and "target" in entry:
                    sites[(kind, index, "target")] = sites[(kind, index)].child("target", line_of(entry, "target"))
    for kind in ("replicas", "resources", "parameters"):
        entries = node.get(kind)
        if not isinstance(entries, Mapping):
            continue
        at = where.child(kind, line_of(node, kind))
        for key, value in entries.items():
            entry = sites[(kind, str(key))] = at.child(str(key), line_of(entries, key))
            if kind == "resources" and isinstance(value, Mapping) and "container" in value:
                sites[(kind, str(key), "container")] = entry.child("container", line_of(value, "container"))
            if kind == "parameters" and isinstance(value, Mapping):
                for name in value:
                    sites[(kind, str(key), str(name))] = entry.child(str(name), line_of(value, name))
    return sites


def _source(raw: dict[str, Any] | None, base: Path) -> SourceOverride | None:
    if not raw:
        return None
    path = Path(raw["path"]).expanduser() if raw.get("path") else None
    if path is not None and not path.is_absolute():
        path = (base / path).resolve()
    return SourceOverride(path=path, url=raw.get("url"), sha256=raw.get("sha256"), strip_prefix=raw.get("stripPrefix"))


def new_app_config(name: str, profile: str, platform: str, components: list[str]) -> str:
    """The text `kfctl init` writes: a complete, commented starting point."""
    listed = "\n".join(f"  - {c}" for c in components)
    defaults = "\n".join(
        f"  #   {f'{key}: {value}':<18}# {meaning}"
        for key, value, meaning in (
            ("concurrency", DEFAULT_CONCURRENCY, "API requests in flight at most (--concurrency)"),
            ("wait", str(DEFAULT_WAIT).lower(), "wait for each component to be ready (--wait/--no-wait)"),
            ("timeout", DEFAULT_TIMEOUT, "give up waiting after this long (--timeout)"),
            ("adopt", str(DEFAULT_ADOPT).lower(), "take over objects another kfctl app or Helm manages (--adopt)"),
        )
    )
    return f"""# kfctl app config: `kfctl build -f kfctl.yaml` renders it, `kfctl apply -f kfctl.yaml` installs it.
apiVersion: {API_VERSION}
kind: {KIND}
metadata:
  name: {name}
spec:
  # A cluster profile (kfctl profiles list): the prerequisites preflight checks and per-component overlays.
  profile: {profile}
  # A platform release (kfctl platforms list).
  platform: {platform}
  # Where the release's manifests come from: a local directory or an archive URL (pin it with sha256).
  # Unset: --manifests-dir, $KFCTL_MANIFESTS_DIR, or the release's archive (digest recorded in kfctl.lock).
  # source: ../manifests
  # Redirect remote sources to local copies for air-gapped clusters:
  # mirrors:
  #   https://github.com/: /srv/mirror/github.com/
  components:
{listed}
  # A component with overrides; each must change a rendered object, or kfctl refuses it:
  # - name: pipelines
  #   images: [{{name: ghcr.io/kubeflow/kfp-api-server, newTag: "2.5.0"}}]
  #   replicas: {{ml-pipeline: 2}}
  #   resources: {{ml-pipeline: {{requests: {{cpu: "1", memory: 2Gi}}}}}}
  #   parameters: {{pipeline-install-config: {{bucketName: my-bucket}}}}
  # How apply and delete run; a command-line flag wins over these. The defaults:
  # settings:
{defaults}
"""
