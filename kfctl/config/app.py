"""The app config (kfctl.yaml): which profile, which platform release, which components, with
the user's overrides. Validated completely, with file:line, before anything else happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfctl.schema import (
    Bool,
    Either,
    Field,
    Int,
    ListOf,
    MapOf,
    Obj,
    Scalar,
    Str,
    Where,
    line_of,
    load_yaml_file,
)

API_VERSION = "kfctl.dev/v1alpha1"
KIND = "AppConfig"
LEGACY_KFDEF_GROUP = "kfdef.apps.kubeflow.org/"
DNS_NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DURATION = r"\d+(\.\d+)?(ms|s|m|h)"


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


IMAGE = Obj(
    {
        "name": Field(Str(), required=True),
        "newName": Field(Str()),
        "newTag": Field(Scalar()),
        "digest": Field(Str(pattern=r"sha256:[0-9a-f]{64}", what="a digest like sha256:<64 hex>")),
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
PATCH = Obj(
    {
        "patch": Field(Str(), required=True),
        "target": Field(
            Obj(
                {
                    key: Field(Str())
                    for key in ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")
                }
            )
        ),
    }
)
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
TENANT = Obj(
    {
        "name": Field(Str(pattern=DNS_NAME, what="a namespace name"), required=True),
        "owner": Field(Str(pattern=r"[^@\s]+@[^@\s]+", what="an email address"), required=True),
        "members": Field(
            ListOf(
                Obj(
                    {
                        "user": Field(Str(), required=True),
                        "role": Field(Str(choices=["admin", "edit", "view"]), default="edit"),
                    }
                )
            ),
            default=list,
        ),
        "quota": Field(MapOf(Scalar()), default=dict),
        "gpuQuota": Field(Int(minimum=0)),
        "networkPolicy": Field(Str(choices=["isolated", "open"]), default="isolated"),
    }
)
SETTINGS = Obj(
    {
        "concurrency": Field(Int(minimum=1), default=8),
        "timeout": Field(Str(pattern=DURATION, what="a duration like 10m or 90s"), default="15m"),
        "kustomizeBin": Field(Str()),
        "wait": Field(Bool(), default=True),
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
                    "tenants": Field(ListOf(TENANT), default=list),
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

    @property
    def has_overrides(self) -> bool:
        return bool(self.parameters or self.images or self.replicas or self.resources or self.patches)


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
    tenants: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    converted_from: str | None = None  # "KfDef v1" when read from a legacy file
    where_components: Where | None = None
    where_profile: Where | None = None
    where_platform: Where | None = None

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
                    where=child("components").child(index, line_of(items, index)),
                    depends_on=item["dependsOn"],
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
        tenants=spec["tenants"],
        settings=spec["settings"],
        annotations=raw["metadata"]["annotations"],
        converted_from=converted_from,
        where_components=child("components"),
        where_profile=child("profile"),
        where_platform=child("platform"),
    )


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
  # A component with overrides:
  # - name: pipelines
  #   images: [{{name: ghcr.io/kubeflow/kfp-api-server, newTag: 2.5.0}}]
  #   replicas: {{ml-pipeline: 2}}
  #   resources: {{ml-pipeline: {{requests: {{cpu: "1", memory: 2Gi}}}}}}
  #   parameters: {{pipeline-install-config: {{bucketName: my-bucket}}}}
  settings:
    concurrency: 8
    timeout: 15m
"""
