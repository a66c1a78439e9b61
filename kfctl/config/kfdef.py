"""Import of legacy kfctl v1 KfDef files (kfdef.apps.kubeflow.org/v1, e.g. kfctl_k8s_istio.v1.2.0.yaml).

A KfDef lists kustomize "applications" of the old kubeflow/manifests layout (Kubeflow 0.7 to 1.2); the
names changed from release to release. Conversion maps each application to the component of the
platform catalog that installs the same thing today, through one table, and refuses names it does not
know rather than guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kfctl.config.app import API_VERSION, KIND, AppConfig
from kfctl.schema import Where, line_of, plain, suggest, type_name

KFDEF_GROUP = "kfdef.apps.kubeflow.org"
KFDEF_VERSIONS = ("v1", "v1beta1")  # same spec.applications format in both
CONVERTED_FROM = "KfDef v1"
ANNOTATION_CONVERTED_FROM = "kfctl.dev/converted-from"
ANNOTATION_DROPPED = "kfctl.dev/dropped-applications"
ANNOTATION_UNUSED_SOURCE = "kfctl.dev/kfdef-manifests-uri"
ANNOTATION_PROFILE = "kfctl.dev/profile"
ANNOTATION_PLATFORM = "kfctl.dev/platform"
ANNOTATION_PARAMETERS = "kfctl.dev/kfdef-parameters"
# JSON {added component: [enabled components whose catalog dependsOn names it]}.
ANNOTATION_ADDED = "kfctl.dev/added-components"
DEFAULT_PLATFORM = "kubeflow-1.10"
DEFAULT_PROFILE = "generic"

_TRAINING = "training-operator"
_PIPELINES = "pipelines"

# KfDef application name -> catalog components. Parameters of an application go on the first one.
# Names are taken from the kfdef/ files of kubeflow/manifests v0.7 to v1.2 (generic, dex, AWS, GCP, IBM).
KFDEF_APPLICATIONS: dict[str, tuple[str, ...]] = {
    "cert-manager": ("cert-manager",),
    "cert-manager-crds": ("cert-manager",),
    "cert-manager-kube-system-resources": ("cert-manager",),
    # istio-stack / istio-crds / istio-install installed the mesh; the application called "istio"
    # (istio/istio/base) held the kubeflow-gateway and Istio ClusterRoles, i.e. kubeflow-istio-resources.
    "istio-stack": ("istio",),
    "istio-crds": ("istio",),
    "istio-install": ("istio",),
    "istio": ("kubeflow-istio-resources", "istio"),
    "kubeflow-istio-resources": ("kubeflow-istio-resources",),
    "cluster-local-gateway": ("knative-serving",),  # the catalog ships it with Knative Serving
    "dex": ("dex",),
    "oidc-authservice": ("oauth2-proxy",),  # oauth2-proxy replaced the OIDC AuthService in 1.9
    "authservice": ("oauth2-proxy",),
    "knative": ("knative-serving",),
    "knative-crds": ("knative-serving",),
    "knative-install": ("knative-serving",),
    "knative-serving": ("knative-serving",),
    "knative-serving-crds": ("knative-serving",),
    "knative-serving-install": ("knative-serving",),
    "knative-eventing": ("knative-eventing",),
    "namespaces": ("kubeflow-namespace",),
    "kubeflow-namespace": ("kubeflow-namespace",),
    "kubeflow-roles": ("kubeflow-roles",),
    "webhook": ("admission-webhook",),
    "admission-webhook": ("admission-webhook",),
    "centraldashboard": ("central-dashboard",),
    "central-dashboard": ("central-dashboard",),
    "jupyter-web-app": ("jupyter-web-app",),
    "notebook-controller": ("notebook-controller",),
    "profiles": ("profiles",),
    "volumes-web-app": ("volumes-web-app",),
    "tensorboard": ("tensorboard-controller",),
    "tensorboard-controller": ("tensorboard-controller",),
    "tensorboards-web-app": ("tensorboards-web-app",),
    "katib": ("katib",),
    "katib-crds": ("katib",),
    "katib-controller": ("katib",),
    "pipeline": (_PIPELINES,),
    "pipelines": (_PIPELINES,),
    "kubeflow-pipelines": (_PIPELINES,),
    "api-service": (_PIPELINES,),
    "persistent-agent": (_PIPELINES,),
    "pipelines-runner": (_PIPELINES,),
    "pipelines-ui": (_PIPELINES,),
    "pipelines-viewer": (_PIPELINES,),
    "scheduledworkflow": (_PIPELINES,),
    "pipeline-visualization-service": (_PIPELINES,),
    "tf-job-crds": (_TRAINING,),
    "tf-job-operator": (_TRAINING,),
    "pytorch-job-crds": (_TRAINING,),
    "pytorch-operator": (_TRAINING,),
    "pytorch-job-operator": (_TRAINING,),
    "mpi-operator": (_TRAINING,),
    "mpi-job-operator": (_TRAINING,),
    "mxnet-operator": (_TRAINING,),
    "mxnet-job-operator": (_TRAINING,),
    "xgboost-operator": (_TRAINING,),
    "xgboost-job-operator": (_TRAINING,),
    "training-operator": (_TRAINING,),
    "kfserving": ("kserve",),
    "kfserving-crds": ("kserve",),
    "kfserving-install": ("kserve",),
    "kfserving-gateway": ("kserve",),
    "kserve": ("kserve",),
    "spark-operator": ("spark-operator",),
    "user-namespace": ("user-namespace",),
    "default-install": ("user-namespace",),  # created the default user's Profile
    # v1.1/v1.2 bundle (stacks/<platform>): its kustomization's apps; argo, minio, mysql and metadata
    # are part of the pipelines component now.
    "kubeflow-apps": (
        "admission-webhook",
        "central-dashboard",
        "kubeflow-roles",
        "jupyter-web-app",
        "notebook-controller",
        "profiles",
        _TRAINING,
        "katib",
        _PIPELINES,
    ),
}

# Applications of older releases with no component of their own today, and why.
KFDEF_DROPPED: dict[str, str] = {
    "application": "the app.k8s.io Application controller, gone since Kubeflow 1.3",
    "application-crds": "the app.k8s.io Application CRD, gone since Kubeflow 1.3",
    "metacontroller": "installed by the pipelines component",
    "argo": "installed by the pipelines component",
    "minio": "installed by the pipelines component",
    "mysql": "installed by the pipelines and katib components",
    "metadata": "ML Metadata, installed by the pipelines component",
    "bootstrap": "admission-webhook certificate bootstrap, replaced by cert-manager",
    "spartakus": "usage reporting, removed from Kubeflow",
    "add-anonymous-user-filter": "single-user EnvoyFilter; Kubeflow 1.10 is multi-user only",
    "seldon": "Seldon Core is not part of Kubeflow 1.10",
    "seldon-core": "Seldon Core is not part of Kubeflow 1.10",
    "seldon-core-operator": "Seldon Core is not part of Kubeflow 1.10",
    "chainer-operator": "removed from Kubeflow",
    "cloud-endpoints": "GCP-specific; the cluster profile covers the platform",
    "iap-ingress": "GCP-specific; the cluster profile covers the platform",
    "basic-auth-ingress": "GCP-specific; the cluster profile covers the platform",
    "gpu-driver": "GCP-specific; the cluster profile covers the platform",
    "istio-ingress": "AWS-specific; the cluster profile covers the platform",
    "aws-alb-ingress-controller": "AWS-specific; the cluster profile covers the platform",
    "nvidia-device-plugin": "AWS-specific; the cluster profile covers the platform",
}

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_RELEASE = re.compile(r"(?<![\d.])v?(\d+)\.(\d+)(?!\d)")


@dataclass(frozen=True)
class KfDefConversion:
    """One KfDef mapped onto a platform: the app config, and each decision taken on the way, so that
    commands can say what changed and `kfctl init --from-kfdef` can write it down as comments."""

    source: str  # the KfDef file, as named in errors and comments
    name: str
    profile: str
    platform: str
    release: str  # the platform's manifests release, e.g. v1.10.2
    mapped: list[str]  # components of the KfDef's applications, in their first-seen order
    origins: dict[str, list[str]]  # component -> the KfDef applications mapped onto it
    added: dict[str, list[str]]  # component added as a dependency -> the enabled components needing it
    dropped: list[str]  # known applications without a component today (reasons in KFDEF_DROPPED)
    parameters: dict[str, dict[str, dict[str, Any]]]  # component -> KfDef application -> params.env values
    source_url: str | None  # the manifests archive used as spec.source
    unused_source: str | None  # the manifests archive of another release, not used

    @property
    def components(self) -> list[str]:
        return [*self.mapped, *self.added]

    @property
    def document(self) -> dict[str, Any]:
        """The app config, as a plain dict for `APP.check`."""
        annotations = {ANNOTATION_CONVERTED_FROM: CONVERTED_FROM}
        # KfDef parameters name v1 params.env entries that the current manifests no longer have: kept
        # in an annotation (nothing lost) rather than applied, so the converted config builds as is.
        if self.parameters:
            annotations[ANNOTATION_PARAMETERS] = json.dumps(self.parameters, sort_keys=True)
        if self.added:
            annotations[ANNOTATION_ADDED] = json.dumps(self.added)
        if self.dropped:
            annotations[ANNOTATION_DROPPED] = ",".join(self.dropped)
        if self.unused_source:
            annotations[ANNOTATION_UNUSED_SOURCE] = self.unused_source
        spec: dict[str, Any] = {"profile": self.profile, "platform": self.platform, "components": self.components}
        if self.source_url:
            spec["source"] = {"url": self.source_url}
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "annotations": annotations},
            "spec": spec,
        }

    def app_config_text(self) -> str:
        """The equivalent kfctl.yaml, commented: where it came from, what was added, dropped and kept."""
        head = [
            "# Converted by `kfctl init --from-kfdef` from the legacy KfDef v1 file",
            f"#   {self.source}",
            "# `kfctl build -f kfctl.yaml` renders the same objects as `kfctl build -f` of that file. The KfDef's",
            "# overlays, plugins and metadata.namespace have no equivalent and are not carried over.",
        ]
        if self.dropped:
            head += ["#", "# KfDef applications dropped, as no component installs them today:"]
            head += [f"#   {name}: {KFDEF_DROPPED[name]}" for name in self.dropped]
        if self.unused_source:
            head += [
                "#",
                "# The KfDef's manifests archive is not used: it holds another release than",
                f"# {self.platform} ({self.release}), whose paths the catalog expects:",
                f"#   {self.unused_source}",
            ]
        if self.parameters:
            head += [
                "#",
                "# KfDef parameters (the params.env values of the v1 packages) are kept as comments under their",
                "# component and not applied: the current manifests name their ConfigMaps differently. Move each",
                "# one you still need into that component's `parameters: {CONFIGMAP: {NAME: VALUE}}`.",
            ]
        body = [
            f"apiVersion: {API_VERSION}",
            f"kind: {KIND}",
            "metadata:",
            f"  name: {_scalar(self.name)}",
            "  annotations:",
            f"    {ANNOTATION_CONVERTED_FROM}: {CONVERTED_FROM}",
            "spec:",
            "  # A cluster profile (kfctl profiles list): what preflight checks, and per-component overlays.",
            f"  profile: {_scalar(self.profile)}",
            "  # A platform release (kfctl platforms list).",
            f"  platform: {_scalar(self.platform)}",
        ]
        if self.source_url:
            body += [
                "  # The KfDef's manifests archive (pin it with sha256, or kfctl.lock records it).",
                f"  source: {{url: {json.dumps(self.source_url)}}}",
            ]
        else:
            body += [
                "  # The manifests; unset: --manifests-dir, $KFCTL_MANIFESTS_DIR, or the release archive.",
                "  # source: ../manifests",
            ]
        width = max(len(name) for name in self.components) + 4
        body += ["  components:", "  # From the KfDef applications named in the comments:"]
        for name in self.mapped:
            body.append(f"  - {name:<{width}}# {', '.join(self.origins[name])}")
            for application, values in self.parameters.get(name, {}).items():
                body.append(f"    # KfDef parameters of {application}, not applied:")
                body += [f"    #   {key}: {json.dumps(value)}" for key, value in values.items()]
        if self.added:
            body.append("  # Added: the platform's catalog says the components above need them (dependsOn):")
            body += [f"  - {name:<{width}}# needed by {_few(needed)}" for name, needed in self.added.items()]
        return "\n".join([*head, *body]) + "\n"


def convert_kfdef(
    raw: dict[str, Any], source: str, *, platform: str | None = None, profile: str | None = None
) -> dict[str, Any]:
    """Convert a KfDef document into a plain app config dict (checked later with `APP.check`).

    See `read_kfdef`; this is its app config."""
    return read_kfdef(raw, source, platform=platform, profile=profile).document


def read_kfdef(
    raw: Mapping[str, Any], source: str, *, platform: str | None = None, profile: str | None = None
) -> KfDefConversion:
    """Map a KfDef document onto a platform's components.

    `source` names the file in errors. `raw` may be plain or ruamel round-trip data; with the
    latter, errors carry line numbers. `platform` and `profile`, when given, win over the KfDef's
    annotations `kfctl.dev/platform` and `kfctl.dev/profile`, which win over kubeflow-1.10 and generic.

    The components the mapped ones need (the closure over the catalog's dependsOn) are added: a v1
    bundle installed pieces the catalog now has as components of their own (oauth2-proxy, the kubeflow
    namespace). Known applications without a component today are dropped (reasons in KFDEF_DROPPED);
    an unknown one is refused rather than guessed. KfDef parameters (the entries of the application's
    params.env) are kept, as `{component: {<KfDef application name>: {name: value}}}`, and not applied:
    the current manifests name their ConfigMaps differently, so the user moves each into the component's
    `parameters` under the real ConfigMap name. Parameters without a value were filled by kfctl v1
    plugins and are skipped; overlays, plugins and metadata.namespace have no equivalent.

    The manifests archive is the repo named "manifests" when its uri is an http(s) archive, except
    when the archive names another release than the platform's (every official KfDef points at
    v1.0-v1.2 manifests, whose layout the catalog paths do not match): that one is not used.
    """
    from kfctl.platform.catalog import load_platforms  # the catalog reads files: only when converting
    from kfctl.platform.graph import dependency_closure

    top = Where(source, None, "")
    _check_kind(raw, top)
    metadata = raw.get("metadata") or {}
    where_meta = _child(top, raw, "metadata")
    if not isinstance(metadata, Mapping):
        raise where_meta.error(f"expected a mapping, got {type_name(metadata)}")
    given = metadata.get("annotations") or {}
    where_annotations = _child(where_meta, metadata, "annotations")
    if not isinstance(given, Mapping):
        raise where_annotations.error(f"expected a mapping, got {type_name(given)}")
    profile = profile or _annotation(given, ANNOTATION_PROFILE, where_annotations) or DEFAULT_PROFILE
    from_annotation = platform is None and ANNOTATION_PLATFORM in given
    platform = platform or _annotation(given, ANNOTATION_PLATFORM, where_annotations) or DEFAULT_PLATFORM

    platforms = load_platforms()
    if platform not in platforms:
        where_platform = where_annotations.child(ANNOTATION_PLATFORM, line_of(given, ANNOTATION_PLATFORM))
        raise (where_platform if from_annotation else top).error(
            f"unknown platform {platform!r}", hint=suggest(platform, list(platforms), noun="platform")
        )
    catalog = platforms[platform]

    spec = raw.get("spec")
    where_spec = _child(top, raw, "spec")
    if spec is None:
        raise where_spec.error("required field is missing", hint="a KfDef needs spec.applications")
    if not isinstance(spec, Mapping):
        raise where_spec.error(f"expected a mapping, got {type_name(spec)}")

    origins, parameters, dropped = _map_applications(spec, where_spec, set(catalog.components))
    mapped = list(origins)
    depends_on = {name: component.depends_on for name, component in catalog.components.items()}
    closure = dependency_closure(mapped, depends_on)
    enabled = [*mapped, *(name for name in closure if name not in origins)]
    added = {name: [other for other in enabled if name in depends_on[other]] for name in enabled if name not in origins}
    url = _manifests_uri(spec, where_spec)
    unused = url is not None and _names_other_release(url, catalog.release)
    return KfDefConversion(
        source=source,
        name=plain(metadata.get("name") or "kubeflow"),
        profile=profile,
        platform=platform,
        release=catalog.release,
        mapped=mapped,
        origins=origins,
        added=added,
        dropped=dropped,
        parameters=parameters,
        source_url=None if unused else url,
        unused_source=url if unused else None,
    )


def conversion_summary(config: AppConfig) -> list[str]:
    """What converting a legacy KfDef changed, one short line each, for a command to print on stderr.

    Empty for a config that was not read from a KfDef (a kfctl.yaml `init --from-kfdef` wrote says it
    in its comments instead)."""
    if config.converted_from is None:
        return []
    annotations = config.annotations
    lines = [
        f"{config.path}: read as a legacy {config.converted_from} file and converted for {config.platform}, "
        f"profile {config.profile} (`kfctl init DIR --from-kfdef {config.path}` writes it as a kfctl.yaml)"
    ]
    for name, needed in _json_annotation(annotations, ANNOTATION_ADDED).items():
        lines.append(f"  added {name}, needed by {_few(needed)}")
    for name in filter(None, annotations.get(ANNOTATION_DROPPED, "").split(",")):
        lines.append(f"  dropped KfDef application {name}: {KFDEF_DROPPED.get(name, 'no component installs it')}")
    kept = _json_annotation(annotations, ANNOTATION_PARAMETERS)
    if kept:
        lines.append(
            f"  KfDef parameters of {_few(list(kept))} not applied (the current manifests name their "
            f"ConfigMaps differently); kept in annotation {ANNOTATION_PARAMETERS}"
        )
    if ANNOTATION_UNUSED_SOURCE in annotations:
        lines.append(
            f"  manifests {annotations[ANNOTATION_UNUSED_SOURCE]} not used: another release than {config.platform}"
        )
    return lines


def _few(names: Sequence[str], shown: int = 3) -> str:
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _json_annotation(annotations: Mapping[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(annotations.get(key) or "{}")
    except ValueError:  # written by read_kfdef, so only a hand-edited value gets here
        return {}
    return value if isinstance(value, dict) else {}


_PLAIN = re.compile(r"[a-z][-a-z0-9._/]*")
_YAML_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null"}


def _scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when it reads back as the same string, else double-quoted."""
    if _PLAIN.fullmatch(value) and value not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _check_kind(raw: Mapping[str, Any], top: Where) -> None:
    kind = raw.get("kind")
    if kind != "KfDef":
        raise _child(top, raw, "kind").error(
            f"expected kind KfDef, got {kind!r}", hint="only kfctl v1 KfDef files are converted"
        )
    api = raw.get("apiVersion")
    known = [f"{KFDEF_GROUP}/{version}" for version in KFDEF_VERSIONS]
    if api not in known:
        raise _child(top, raw, "apiVersion").error(f"unknown KfDef apiVersion {api!r}", hint=f"use {known[0]}")


def _annotation(annotations: Mapping[str, Any], key: str, where: Where) -> str | None:
    value = annotations.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise where.child(key, line_of(annotations, key)).error(f"expected a non-empty string, got {value!r}")
    return str(value)


def _map_applications(
    spec: Mapping[str, Any], where_spec: Where, known: set[str]
) -> tuple[dict[str, list[str]], dict[str, dict[str, dict[str, Any]]], list[str]]:
    """Component -> its KfDef applications (first-seen order, no duplicates), the kept parameters
    and the dropped application names."""
    applications = spec.get("applications")
    where_apps = _child(where_spec, spec, "applications")
    if applications is None:
        raise where_apps.error("required field is missing", hint="list the KfDef applications")
    if isinstance(applications, str) or not isinstance(applications, Sequence):
        raise where_apps.error(f"expected a list, got {type_name(applications)}")
    origins: dict[str, list[str]] = {}
    parameters: dict[str, dict[str, dict[str, Any]]] = {}
    dropped: list[str] = []
    for index, application in enumerate(applications):
        where_app = where_apps.child(index, line_of(applications, index))
        if not isinstance(application, Mapping):
            raise where_app.error(f"expected a mapping, got {type_name(application)}")
        name = application.get("name")
        where_name = _child(where_app, application, "name")
        if name is None:
            raise where_name.error("required field is missing", hint="every KfDef application needs a name")
        if not isinstance(name, str):
            raise where_name.error(f"expected a string, got {type_name(name)}")
        name = str(name)
        if name in KFDEF_DROPPED:
            if name not in dropped:
                dropped.append(name)
            continue
        targets = KFDEF_APPLICATIONS.get(name)
        if targets is None:
            raise where_name.error(
                f"unknown KfDef application {name!r}",
                hint=f"{suggest(name, sorted(known), noun='component')}; "
                "remove the entry and list the component in the converted kfctl.yaml",
            )
        missing = [t for t in targets if t not in known]
        if missing:
            raise where_name.error(
                f"KfDef application {name!r} maps to component {missing[0]!r}, which this platform lacks",
                hint="convert for another platform (annotation kfctl.dev/platform) or remove the entry",
            )
        for target in targets:
            names = origins.setdefault(target, [])
            if name not in names:
                names.append(name)
        values = _parameters(application, where_app)
        if values:
            parameters.setdefault(targets[0], {}).setdefault(name, {}).update(values)
    return origins, parameters, dropped


def _parameters(application: Mapping[str, Any], where_app: Where) -> dict[str, Any]:
    config = application.get("kustomizeConfig")
    if config is None:
        return {}
    where_config = _child(where_app, application, "kustomizeConfig")
    if not isinstance(config, Mapping):
        raise where_config.error(f"expected a mapping, got {type_name(config)}")
    items = config.get("parameters")
    if items is None:
        return {}
    where_items = _child(where_config, config, "parameters")
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise where_items.error(f"expected a list of {{name, value}}, got {type_name(items)}")
    values: dict[str, Any] = {}
    for index, item in enumerate(items):
        where_item = where_items.child(index, line_of(items, index))
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise where_item.error("expected {name: ..., value: ...} with a string name")
        value = item.get("value")
        if value is None:  # left empty for a kfctl v1 plugin to fill in at build time
            continue
        if isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str)):
            raise _child(where_item, item, "value").error(f"expected a string, got {type_name(value)}")
        values[str(item["name"])] = plain(value)
    return values


def _manifests_uri(spec: Mapping[str, Any], where_spec: Where) -> str | None:
    """The http(s) archive uri of the repo named "manifests", if there is one."""
    repos = spec.get("repos")
    if repos is None:
        return None
    where_repos = _child(where_spec, spec, "repos")
    if isinstance(repos, str) or not isinstance(repos, Sequence):
        raise where_repos.error(f"expected a list, got {type_name(repos)}")
    for index, repo in enumerate(repos):
        if not isinstance(repo, Mapping):
            raise where_repos.child(index, line_of(repos, index)).error(f"expected a mapping, got {type_name(repo)}")
        uri = repo.get("uri")
        if repo.get("name") != "manifests" or not isinstance(uri, str):
            continue
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https") and parts.path.endswith(_ARCHIVE_SUFFIXES):
            return str(uri)
    return None


def _names_other_release(url: str, release: str) -> bool:
    """True when the archive's file name names a major.minor release other than `release`."""
    named = _RELEASE.search(urlsplit(url).path.rsplit("/", 1)[-1])
    wanted = _RELEASE.search(release)
    return named is not None and wanted is not None and named.groups() != wanted.groups()


def _child(where: Where, container: Any, key: str) -> Where:
    return where.child(key, line_of(container, key))
