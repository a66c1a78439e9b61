"""KfDef v1 import: legacy kfctl v1 files become app configs that pass the app config schema."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from kfctl.config.app import APP, load_app_config
from kfctl.config.kfdef import KFDEF_APPLICATIONS, KFDEF_DROPPED, convert_kfdef
from kfctl.errors import ConfigError
from kfctl.platform.catalog import load_platforms
from kfctl.schema import Where, load_yaml_file, plain

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kfdef"
K8S_ISTIO = FIXTURES / "kfctl_k8s_istio.v1.2.0.yaml"
ISTIO_DEX = FIXTURES / "kfctl_istio_dex.v1.0.2.yaml"
UNKNOWN = FIXTURES / "kfctl_unknown_application.yaml"


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = plain(load_yaml_file(path))
    return document


def names(converted: dict[str, Any]) -> list[str]:
    return [c if isinstance(c, str) else c["name"] for c in converted["spec"]["components"]]


def by_name(converted: dict[str, Any]) -> dict[str, Any]:
    return {c if isinstance(c, str) else c["name"]: c for c in converted["spec"]["components"]}


@pytest.mark.parametrize("path", [K8S_ISTIO, ISTIO_DEX])
def test_conversion_passes_the_app_config_schema(path: Path) -> None:
    converted = convert_kfdef(read(path), str(path))
    APP.check(converted, Where("x", 1, ""))
    assert converted["metadata"]["annotations"]["kfctl.dev/converted-from"] == "KfDef v1"
    assert converted["spec"]["platform"] == "kubeflow-1.10"
    assert converted["spec"]["profile"] == "generic"


def test_v1_2_bundle_expands_and_known_leftovers_are_dropped() -> None:
    converted = convert_kfdef(read(K8S_ISTIO), str(K8S_ISTIO))
    assert converted["metadata"]["name"] == "kf-prod"
    assert names(converted) == [
        "kubeflow-namespace",
        "istio",
        "knative-serving",  # cluster-local-gateway lives in the knative-serving component
        "kubeflow-istio-resources",  # the KfDef "istio" app was the kubeflow-gateway and ClusterRoles
        "cert-manager",
        "spark-operator",
        "admission-webhook",  # kubeflow-apps: the stacks/kubernetes bundle
        "central-dashboard",
        "kubeflow-roles",
        "jupyter-web-app",
        "notebook-controller",
        "profiles",
        "training-operator",
        "katib",
        "pipelines",
        "kserve",
    ]
    annotations = converted["metadata"]["annotations"]
    assert annotations["kfctl.dev/dropped-applications"] == (
        "application,add-anonymous-user-filter,metacontroller,bootstrap,spartakus"
    )


def test_per_package_applications_collapse_into_one_component() -> None:
    converted = convert_kfdef(read(ISTIO_DEX), str(ISTIO_DEX))
    components = names(converted)
    assert len(components) == len(set(components))
    # pytorch-job-crds, pytorch-operator, tf-job-crds and tf-job-operator: one training-operator.
    assert components.count("training-operator") == 1
    assert components == [
        "istio",
        "knative-serving",
        "kubeflow-istio-resources",
        "cert-manager",
        "oauth2-proxy",
        "dex",
        "kubeflow-roles",
        "central-dashboard",
        "admission-webhook",
        "notebook-controller",
        "training-operator",
        "katib",
        "pipelines",
        "profiles",
    ]
    dropped = converted["metadata"]["annotations"]["kfctl.dev/dropped-applications"].split(",")
    assert dropped == ["application-crds", "application", "argo", "spartakus", "mysql"]


def test_parameters_are_kept_under_the_kfdef_application_name() -> None:
    result = convert_kfdef(read(ISTIO_DEX), str(ISTIO_DEX))
    # Kept, not applied: the current manifests name their ConfigMaps differently.
    assert all(isinstance(c, str) for c in result["spec"]["components"])
    kept = json.loads(result["metadata"]["annotations"]["kfctl.dev/kfdef-parameters"])
    assert kept["dex"]["dex"]["static_email"] == "admin@example.com"
    assert kept["dex"]["dex"]["oidc_redirect_uris"] == '["/login/oidc"]'
    assert kept["oauth2-proxy"] == {
        "oidc-authservice": {
            "namespace": "istio-system",
            "userid-header": "kubeflow-userid",
            "oidc_provider": "http://dex.auth.svc.cluster.local:5556/dex",
            "oidc_redirect_uri": "/login/oidc",
            "client_id": "kubeflow-oidc-authservice",
        }
    }
    # Several applications on one component keep one key each.
    assert kept["istio"] == {
        "istio-crds": {"namespace": "istio-system"},
        "istio-install": {"namespace": "istio-system"},
    }
    assert kept["kubeflow-istio-resources"] == {"istio": {"clusterRbacConfig": "ON"}}
    assert kept["knative-serving"] == {
        "cluster-local-gateway": {"namespace": "istio-system"},
        "knative-install": {"namespace": "knative-serving"},
    }
    # `admin` had no value (a kfctl v1 plugin filled it in): skipped rather than set to "".
    assert kept["profiles"] == {"profiles": {"userid-header": "kubeflow-userid"}}
    assert "training-operator" not in kept, "components without parameters have no entry"


def test_source_url_comes_from_the_manifests_repo() -> None:
    raw = read(ISTIO_DEX)
    url = "https://github.com/kubeflow/manifests/archive/refs/tags/v1.10.2.tar.gz"
    raw["spec"]["repos"] = [{"name": "other", "uri": "https://example.com/x.tar.gz"}, {"name": "manifests", "uri": url}]
    converted = convert_kfdef(raw, "kfdef.yaml")
    assert converted["spec"]["source"] == {"url": url}
    assert APP.check(converted, Where("x", 1, ""))["spec"]["source"]["url"] == url

    mirror = "https://mirror.example.internal/kubeflow/manifests.tar.gz"  # names no release: trusted
    raw["spec"]["repos"] = [{"name": "manifests", "uri": mirror}]
    assert convert_kfdef(raw, "kfdef.yaml")["spec"]["source"] == {"url": mirror}

    raw["spec"]["repos"] = [{"name": "manifests", "uri": "https://github.com/kubeflow/manifests.git"}]
    assert "source" not in convert_kfdef(raw, "kfdef.yaml")["spec"]


def test_old_release_archive_is_not_used_as_source() -> None:
    # The v1.2.0 archive has the pre-1.3 layout; as spec.source the 1.10 catalog paths would not exist.
    converted = convert_kfdef(read(K8S_ISTIO), str(K8S_ISTIO))
    assert "source" not in converted["spec"]
    assert converted["metadata"]["annotations"]["kfctl.dev/kfdef-manifests-uri"] == (
        "https://github.com/kubeflow/manifests/archive/v1.2.0.tar.gz"
    )


def test_annotations_choose_profile_and_platform() -> None:
    raw = read(K8S_ISTIO)
    raw["metadata"]["annotations"].update({"kfctl.dev/profile": "kind", "kfctl.dev/platform": "kubeflow-1.9"})
    converted = convert_kfdef(raw, "kfdef.yaml", profile="gke")
    assert converted["spec"]["profile"] == "kind"
    assert converted["spec"]["platform"] == "kubeflow-1.9"
    assert convert_kfdef(read(K8S_ISTIO), "kfdef.yaml", profile="gke")["spec"]["profile"] == "gke"

    raw["metadata"]["annotations"]["kfctl.dev/platform"] = "kubeflow-1.2"
    with pytest.raises(ConfigError, match=r"annotations\.kfctl\.dev/platform: unknown platform"):
        convert_kfdef(raw, "kfdef.yaml")


def test_name_defaults_to_kubeflow() -> None:
    assert convert_kfdef(read(ISTIO_DEX), str(ISTIO_DEX))["metadata"]["name"] == "kubeflow"


def test_unknown_application_names_its_index() -> None:
    with pytest.raises(ConfigError) as caught:
        convert_kfdef(read(UNKNOWN), str(UNKNOWN))
    assert caught.value.message == f"{UNKNOWN}: spec.applications[3].name: unknown KfDef application 'mlflow'"
    assert caught.value.hint and "remove the entry" in caught.value.hint


def test_unknown_application_has_line_and_closest_component_with_round_trip_input() -> None:
    raw = load_yaml_file(UNKNOWN)
    with pytest.raises(ConfigError, match=re.escape(f"{UNKNOWN}:28: spec.applications[3].name")):
        convert_kfdef(raw, str(UNKNOWN))
    raw["spec"]["applications"][3]["name"] = "jupyter-web-apps"
    with pytest.raises(ConfigError) as caught:
        convert_kfdef(raw, str(UNKNOWN))
    assert caught.value.hint and caught.value.hint.startswith("did you mean 'jupyter-web-app'?")


def test_duplicate_applications_are_listed_once() -> None:
    raw = read(K8S_ISTIO)
    raw["spec"]["applications"] += copy.deepcopy(raw["spec"]["applications"])
    converted = convert_kfdef(raw, "kfdef.yaml")
    assert names(converted) == names(convert_kfdef(read(K8S_ISTIO), "kfdef.yaml"))
    assert converted["metadata"]["annotations"]["kfctl.dev/dropped-applications"].count("spartakus") == 1


def test_other_kinds_are_refused() -> None:
    raw = read(K8S_ISTIO)
    raw["kind"] = "KfConfig"
    with pytest.raises(ConfigError, match=r"^kfdef\.yaml: kind: expected kind KfDef, got 'KfConfig'$"):
        convert_kfdef(raw, "kfdef.yaml")


def _without_spec(raw: dict[str, Any]) -> None:
    del raw["spec"]


def _applications_mapping(raw: dict[str, Any]) -> None:
    raw["spec"]["applications"] = {"name": "katib"}


def _nameless_application(raw: dict[str, Any]) -> None:
    del raw["spec"]["applications"][2]["name"]


def _parameters_mapping(raw: dict[str, Any]) -> None:
    raw["spec"]["applications"][2]["kustomizeConfig"]["parameters"] = {"namespace": "istio-system"}


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (_without_spec, "kfdef.yaml: spec: required field is missing"),
        (_applications_mapping, "kfdef.yaml: spec.applications: expected a list, got a mapping"),
        (_nameless_application, "kfdef.yaml: spec.applications[2].name: required field is missing"),
        (_parameters_mapping, "kfdef.yaml: spec.applications[2].kustomizeConfig.parameters: expected a list"),
    ],
)
def test_malformed_kfdef_names_the_field(break_it: Any, expected: str) -> None:
    raw = read(ISTIO_DEX)
    break_it(raw)
    with pytest.raises(ConfigError) as caught:
        convert_kfdef(raw, "kfdef.yaml")
    assert caught.value.message.startswith(expected)


def test_mapping_table_names_catalog_components() -> None:
    components = load_platforms()["kubeflow-1.10"].components
    for application, targets in KFDEF_APPLICATIONS.items():
        assert targets, application
        assert all(target in components for target in targets), application
    assert not set(KFDEF_APPLICATIONS) & set(KFDEF_DROPPED)


def test_load_app_config_reads_a_kfdef(tmp_path: Path) -> None:
    path = tmp_path / "kfctl_k8s_istio.yaml"
    shutil.copy(ISTIO_DEX, path)
    config = load_app_config(path)
    assert config.converted_from == "KfDef v1"
    assert config.name == "kubeflow"
    assert config.components is not None
    assert [c.name for c in config.components] == names(convert_kfdef(read(ISTIO_DEX), str(path)))
    kept = json.loads(config.annotations["kfctl.dev/kfdef-parameters"])
    assert kept["dex"]["dex"]["issuer"] == "http://dex.auth.svc.cluster.local:5556/dex"
    assert "mysql" in config.annotations["kfctl.dev/dropped-applications"]
