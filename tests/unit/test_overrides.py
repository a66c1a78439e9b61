"""Overrides that match nothing are refused: target matching (kustomize's rules), label selectors,
image references, and the check against the real rendered Kubeflow manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfctl.config.app import ComponentConfig, ResourceOverride, load_app_config
from kfctl.config.oci import digest_problem, name_problem, split_reference, tag_problem
from kfctl.config.selectors import SelectorError, parse_selector
from kfctl.errors import ConfigError
from kfctl.render.documents import RenderedDocument, split_documents
from kfctl.render.overrides import check_overrides, closest, explain_render_failure, images_used, narrow
from kfctl.render.service import RenderOptions, build
from kfctl.schema import Where

RENDERED = """\
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
---
apiVersion: v1
data:
  LOG_LEVEL: info
  USERID_HEADER: kubeflow-userid
kind: ConfigMap
metadata:
  name: web-parameters-7m2h9kt5bd
  namespace: web
---
apiVersion: v1
data:
  image: docker.io/library/not-a-container:1
kind: ConfigMap
metadata:
  name: web-embedded
  namespace: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
    tier: frontend
    version: "3"
  name: web-ui
  namespace: web
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/example/web-ui:1.0
        name: ui
      - image: "ghcr.io/example/sidecar@sha256:0000000000000000000000000000000000000000000000000000000000000000"
        name: sidecar
      initContainers:
      - image: registry.local:5000/tools/init:2
        name: init
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels:
    app: web
    tier: backend
  name: web-db
  namespace: web
spec:
  template:
    spec:
      containers:
      - image: docker.io/library/postgres:16
        name: postgres
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    owner: team-a
  name: web-ui
"""


def documents() -> list[RenderedDocument]:
    return split_documents(RENDERED, "test")


def names(target: dict[str, str]) -> list[str]:
    return [f"{d.kind}/{d.name}" for d in narrow(target, documents()).matched]


# --- label selectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "api"}, False),
        ("app!=web", {"app": "api"}, True),
        ("app!=web", {}, True),  # a missing label is "not equal", as in Kubernetes
        ("tier in (frontend, backend)", {"tier": "backend"}, True),
        ("tier in (frontend)", {}, False),
        ("tier notin (frontend)", {"tier": "backend"}, True),
        ("tier notin (frontend)", {}, True),
        ("app", {"app": ""}, True),
        ("!legacy", {"app": "web"}, True),
        ("!legacy", {"legacy": "yes"}, False),
        ("app.kubernetes.io/name=web,!legacy,tier in (a,b)", {"app.kubernetes.io/name": "web", "tier": "b"}, True),
        ("app.kubernetes.io/name=web,!legacy,tier in (a,b)", {"app.kubernetes.io/name": "web", "tier": "c"}, False),
        ("version>2", {"version": "3"}, True),
        ("version<2", {"version": "3"}, False),
        ("version>2", {"version": "three"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_label_selector_semantics(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["app in web", "app in ()", "app=web,", "=web", "app=we b", "tier in (a,b c)"])
def test_malformed_selectors_are_refused(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(bad)


# --- patch targets ------------------------------------------------------------------------------


def test_target_name_kind_and_namespace_are_anchored_regexes() -> None:
    assert names({"name": "web"}) == ["Namespace/web"]  # not web-ui, web-db: anchored
    assert names({"kind": "Deployment|StatefulSet"}) == ["Deployment/web-ui", "StatefulSet/web-db"]
    assert names({"kind": "Deploy.*", "name": "web-.*"}) == ["Deployment/web-ui"]
    assert names({"name": "web-u"}) == []
    assert names({"kind": "Deployment", "namespace": "w.b"}) == ["Deployment/web-ui"]


def test_target_group_and_version() -> None:
    assert names({"group": "apps", "version": "v1", "name": "web-ui"}) == ["Deployment/web-ui"]
    assert names({"group": "rbac.*"}) == ["ClusterRole/web-reader"]
    assert names({"version": "v2"}) == []


def test_target_namespace_uses_kustomize_effective_namespace() -> None:
    """A namespaced object without a namespace is in default; a cluster-scoped one is in none."""
    assert names({"namespace": "default"}) == ["Service/web-ui"]
    assert names({"kind": "ClusterRole", "namespace": "default"}) == []


def test_target_selectors_parse_only_the_candidates() -> None:
    docs = documents()
    matched = narrow({"kind": "Deployment", "labelSelector": "tier=frontend"}, docs).matched
    assert [d.name for d in matched] == ["web-ui"]
    assert all(d._parsed is None for d in docs if d.kind != "Deployment"), "identity comes from the text"
    assert [d.name for d in narrow({"annotationSelector": "owner=team-a"}, docs).matched] == ["web-ui"]
    assert [d.kind for d in narrow({"labelSelector": "app=web,tier notin (frontend)"}, docs).matched] == ["StatefulSet"]


def test_a_target_that_matches_nothing_says_which_criterion_and_the_closest_values() -> None:
    outcome = narrow({"kind": "Deployment", "name": "web-iu"}, documents())
    assert outcome.described == "Deployment named 'web-iu'"
    assert outcome.alternatives == ("web-ui",)
    outcome = narrow({"kind": "Deploymnt"}, documents())
    assert outcome.described == "object of kind 'Deploymnt'"
    assert closest("Deploymnt", outcome.alternatives)[0] == "Deployment"
    outcome = narrow({"kind": "Deployment", "labelSelector": "tier=fronted"}, documents())
    assert outcome.described == "Deployment with labels 'tier=fronted'"
    assert closest("tier=fronted", outcome.alternatives)[0] == "tier=frontend"


def test_closest_orders_by_similarity() -> None:
    assert closest("cert-manger", ["cert-manager-webhook", "istiod", "cert-manager", "cert-manager"]) == [
        "cert-manager",
        "cert-manager-webhook",
        "istiod",
    ]


# --- the check on rendered documents ------------------------------------------------------------


def component(**overrides: object) -> ComponentConfig:
    config = ComponentConfig("web", **overrides)  # type: ignore[arg-type]
    config.where = Where("kfctl.yaml", 10, "spec.components[0]")
    return config


def refused(config: ComponentConfig, docs: list[RenderedDocument] | None = None, original: object = None) -> str:
    rendered = docs if docs is not None else documents()
    with pytest.raises(ConfigError) as caught:
        check_overrides(config, rendered, lambda: original if original is not None else rendered)  # type: ignore[arg-type,return-value]
    return caught.value.one_line()


def accepted(config: ComponentConfig, original: list[RenderedDocument] | None = None) -> None:
    check_overrides(config, documents(), lambda: original if original is not None else documents())


def test_images_are_read_from_containers_not_from_config_maps() -> None:
    used = images_used(documents())
    assert "docker.io/library/not-a-container:1" not in used
    assert "ghcr.io/example/sidecar@sha256:" + "0" * 64 in used
    assert "registry.local:5000/tools/init:2" in used
    assert split_reference("registry.local:5000/tools/init:2") == ("registry.local:5000/tools/init", "2", "")
    assert split_reference("registry.local:5000/tools/init") == ("registry.local:5000/tools/init", "", "")


def test_image_override_must_leave_its_result_in_a_container() -> None:
    # The rendered output already carries each override's result.
    accepted(component(images=[{"name": "ghcr.io/example/web-ui", "newTag": "1.0"}]))
    accepted(component(images=[{"name": "anything", "newName": "registry.local:5000/tools/init"}]))
    accepted(component(images=[{"name": "ghcr.io/example/sidecar", "digest": "sha256:" + "0" * 64}]))
    message = refused(component(images=[{"name": "ghcr.io/example/web-iu", "newTag": "2.0"}]))
    assert "no container of web uses image 'ghcr.io/example/web-iu'" in message
    assert "closest first: ghcr.io/example/web-ui," in message
    refused(component(images=[{"name": "docker.io/library/not-a-container", "newTag": "2"}]))


def test_an_override_another_one_changed_afterwards_still_counts() -> None:
    """The rendered output lacks the image's new tag (a later patch set another image), but the
    override matched what kustomize started from: it did its job."""
    original = split_documents(RENDERED.replace("web-ui:1.0", "web-ui:0.9"), "original")
    accepted(component(images=[{"name": "ghcr.io/example/web-ui", "newTag": "5.0"}]), original)


def test_replicas_and_resources_name_a_workload_of_the_right_kind() -> None:
    accepted(component(replicas={"web-ui": 2, "web-db": 1}))
    message = refused(component(replicas={"web": 2}))
    assert "web renders no Deployment, StatefulSet, ReplicaSet or ReplicationController named 'web'" in message
    assert "(workloads of web, closest first: web-db, web-ui)" in message
    accepted(component(resources={"web-db": ResourceOverride({"cpu": "1"}, {}, "postgres")}))
    message = refused(component(resources={"web-ui": ResourceOverride({"cpu": "1"}, {}, "uii")}))
    assert (
        "Deployment web-ui of web has no container 'uii' (containers of web-ui, closest first: ui, sidecar)" in message
    )


def test_a_container_the_resources_patch_created_is_not_a_match() -> None:
    """A strategic-merge patch adds the container it does not find, without an image."""
    patched = RENDERED.replace("        name: postgres\n", "        name: postgres\n      - name: postgress\n")
    docs = split_documents(patched, "patched")
    message = refused(
        component(resources={"web-db": ResourceOverride({"cpu": "1"}, {}, "postgress")}),
        docs,
        original=documents(),
    )
    assert "has no container 'postgress'" in message


def test_parameters_name_a_generated_config_map() -> None:
    accepted(component(parameters={"web-parameters": {"LOG_LEVEL": "debug"}}))
    message = refused(component(parameters={"web-params": {"LOG_LEVEL": "debug"}}))
    assert "web generates no ConfigMap named 'web-params' (ConfigMaps of web, closest first: web-parameters," in message


def test_a_new_parameter_key_close_to_an_existing_one_is_a_typo() -> None:
    # The rendered ConfigMap holds the user's keys merged in; the original tells which were there.
    rendered = split_documents(RENDERED.replace("  LOG_LEVEL: info\n", "  LOG_LEVEL: info\n  LOG_LEVL: debug\n"), "r")
    message = refused(component(parameters={"web-parameters": {"LOG_LEVL": "debug"}}), rendered, documents())
    assert "ConfigMap web-parameters of web has no key 'LOG_LEVL' (did you mean 'LOG_LEVEL'?" in message
    rendered = split_documents(RENDERED.replace("  LOG_LEVEL: info\n", "  LOG_LEVEL: info\n  FEATURE_X: on\n"), "r")
    check_overrides(component(parameters={"web-parameters": {"FEATURE_X": "on"}}), rendered, documents)


def test_patch_targets_must_select_something() -> None:
    accepted(component(patches=[{"patch": "[]", "target": {"kind": "StatefulSet", "labelSelector": "tier=backend"}}]))
    message = refused(component(patches=[{"patch": "[]", "target": {"kind": "StatefulSet", "name": "web-bd"}}]))
    assert "web renders no StatefulSet named 'web-bd' (names of its StatefulSets, closest first: web-db)" in message


def test_the_first_problem_in_the_file_is_reported() -> None:
    config = component(replicas={"nope": 1}, images=[{"name": "nope/image"}])
    config.sites = {
        ("replicas", "nope"): Where("kfctl.yaml", 12, "spec.components[0].replicas.nope"),
        ("images", 0): Where("kfctl.yaml", 14, "spec.components[0].images[0]"),
    }
    assert refused(config).startswith("kfctl.yaml:12: spec.components[0].replicas.nope: matches nothing")


def test_kustomize_failures_are_explained_by_the_override_that_names_nothing() -> None:
    missing = {
        "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-ui}\nspec: {replicas: 2}\n",
    }
    error = explain_render_failure(component(patches=[missing]), documents)
    assert error is not None
    assert "the patch names Deployment web-ui (apps/v1, no namespace, so default)" in error.one_line()
    assert "add metadata.namespace: web to the patch" in error.one_line()
    present = {"patch": missing["patch"].replace("{name: web-ui}", "{name: web-ui, namespace: web}")}
    assert explain_render_failure(component(patches=[present]), documents) is None
    assert explain_render_failure(component(replicas={"nope": 1}), lambda: None) is None, "the component fails alone"


# --- image references in the config ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["busybox", "ghcr.io/kubeflow/kfp-api-server", "localhost:5000/a/b", "[::1]:5000/x", "a__b/c.d-e---f"],
)
def test_valid_image_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ghcr.io/Kubeflow/kfp", "lowercase"),
        ("UPPER", "lowercase"),
        ("busybox:1.36", "it has a tag"),
        ("busybox@sha256:abc", "it has a digest"),
        ("registry.local//x", "path components"),
        ("-leading", "path components"),
    ],
)
def test_invalid_image_names(name: str, problem: str) -> None:
    assert problem in (name_problem(name) or "")


def test_tags_and_digests() -> None:
    assert tag_problem("v1.16.2") is None and tag_problem("_x") is None
    assert tag_problem("bad tag!") and tag_problem(".hidden") and tag_problem("a" * 129)
    assert digest_problem("sha256:" + "a" * 64) is None and digest_problem("sha512:" + "0" * 128) is None
    assert digest_problem("sha256:" + "A" * 64) and digest_problem("md5:" + "0" * 32)


def app_config(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "kfctl.yaml"
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: t}\nspec:\n  profile: generic\n"
        f"  platform: kubeflow-1.10\n  components:\n  - name: cert-manager\n    images: [{image}]\n"
    )
    return path


def test_an_unquoted_integer_tag_is_a_tag_but_a_float_is_refused(tmp_path: Path) -> None:
    config = load_app_config(app_config(tmp_path, "{name: quay.io/jetstack/x, newTag: 5}"))
    assert config.components is not None and config.components[0].images == [
        {"name": "quay.io/jetstack/x", "newTag": "5"}
    ]
    for written in ("2.10", "0123", "1_000"):
        with pytest.raises(ConfigError) as caught:
            load_app_config(app_config(tmp_path, f"{{name: quay.io/jetstack/x, newTag: {written}}}"))
        assert "is a YAML number" in caught.value.one_line()
        assert f'quote the tag: newTag: "{written}"' in caught.value.one_line()


# --- against the real manifests -----------------------------------------------------------------


@pytest.fixture
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


VOLUMES_APP = """\
apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {name: t}
spec:
  profile: PROFILE
  platform: kubeflow-1.10
  components:
  - istio
  - kubeflow-namespace
  - kubeflow-roles
  - name: volumes-web-app
"""


@pytest.mark.usefixtures("manifests")
def test_every_override_kind_changes_the_real_objects(tmp_path: Path) -> None:
    """Overrides that match are applied, including parameters merged into a ConfigMap that its own
    kustomization puts in a namespace, and a patch whose target a later patch no longer matches."""
    config = tmp_path / "kfctl.yaml"
    config.write_text(
        VOLUMES_APP.replace("PROFILE", "generic")
        + """\
    parameters: {volumes-web-app-parameters: {VWA_PREFIX: /vols, VWA_NEW_SETTING: "on"}}
    images: [{name: ghcr.io/kubeflow/kubeflow/volumes-web-app, newName: registry.local:5000/vwa, newTag: 7}]
    replicas: {volumes-web-app-deployment: 2}
    resources: {volumes-web-app-deployment: {container: volumes-web-app, requests: {cpu: "1"}}}
    patches:
    - target: {kind: Deployment, labelSelector: "app=volumes-web-app"}
      patch: '[{"op": "replace", "path": "/metadata/labels/app", "value": "vols"}]'
    - patch: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: volumes-web-app-deployment, namespace: kubeflow, annotations: {patched: "yes"}}
"""
    )
    objects = {(o["kind"], o["metadata"]["name"]): o for o in build(RenderOptions(config)).objects}
    deployment = objects[("Deployment", "volumes-web-app-deployment")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local:5000/vwa:7"
    assert container["resources"]["requests"]["cpu"] == "1"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"]["app"] == "vols"
    assert deployment["metadata"]["annotations"]["patched"] == "yes"
    assert {"name": "APP_PREFIX", "value": "/vols"} in container["env"], "the parameter reached the workload"
    parameters = next(o for (kind, name), o in objects.items() if name.startswith("volumes-web-app-parameters-"))
    assert parameters["data"]["VWA_NEW_SETTING"] == "on"


@pytest.mark.usefixtures("manifests")
def test_profile_parameters_are_checked_and_located_in_the_profile(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: ClusterProfile\nmetadata: {name: mine}\nspec:\n"
        "  description: a site's profile\n  components:\n    volumes-web-app:\n      parameters:\n"
        "        volumes-web-app-params: {VWA_PREFIX: /p}\n"
    )
    config = tmp_path / "kfctl.yaml"
    config.write_text(VOLUMES_APP.replace("PROFILE", "./mine.yaml"))
    with pytest.raises(ConfigError) as caught:
        build(RenderOptions(config))
    assert caught.value.one_line().startswith(
        f"{profile}:9: spec.components.volumes-web-app.parameters.volumes-web-app-params: matches nothing: "
        "volumes-web-app generates no ConfigMap named 'volumes-web-app-params' "
        "(ConfigMaps of volumes-web-app, closest first: volumes-web-app-parameters,"
    )
    # The user's own entry for the same ConfigMap is where an error points: they wrote it last.
    config.write_text(
        VOLUMES_APP.replace("PROFILE", "./mine.yaml") + "    parameters: {volumes-web-app-params: {VWA_PREFIX: /u}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        build(RenderOptions(config))
    assert f"{config}:12: spec.components[3].parameters.volumes-web-app-params" in caught.value.one_line()
