"""KfDef v1 import: legacy kfctl v1 files become app configs that pass the app config schema."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfctl.config.app import APP, load_app_config
from kfctl.config.kfdef import KFDEF_APPLICATIONS, KFDEF_DROPPED, conversion_summary, convert_kfdef
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
        "oauth2-proxy",  # added: central-dashboard depends on it in Kubeflow 1.10
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
        "kubeflow-namespace",  # added: a v1.0 KfDef created the namespace outside its applications
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


def test_annotations_choose_profile_and_platform_and_arguments_win() -> None:
    raw = read(K8S_ISTIO)
    raw["metadata"]["annotations"].update({"kfctl.dev/profile": "kind", "kfctl.dev/platform": "kubeflow-1.9"})
    converted = convert_kfdef(raw, "kfdef.yaml")
    assert converted["spec"]["profile"] == "kind"
    assert converted["spec"]["platform"] == "kubeflow-1.9"
    # What the user passes (`kfctl init --from-kfdef F --profile P`) wins over the annotation.
    chosen = convert_kfdef(raw, "kfdef.yaml", profile="gke", platform="kubeflow-1.10")["spec"]
    assert (chosen["profile"], chosen["platform"]) == ("gke", "kubeflow-1.10")

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


@pytest.mark.parametrize(
    ("path", "added"),
    [
        (K8S_ISTIO, {"oauth2-proxy": ["central-dashboard"]}),
        (
            ISTIO_DEX,
            {
                "kubeflow-namespace": [
                    "kubeflow-istio-resources",
                    "central-dashboard",
                    "admission-webhook",
                    "notebook-controller",
                    "training-operator",
                    "katib",
                    "pipelines",
                    "profiles",
                ]
            },
        ),
    ],
)
def test_conversion_adds_what_the_platform_needs_and_says_for_whom(path: Path, added: dict[str, list[str]]) -> None:
    converted = convert_kfdef(read(path), str(path))
    enabled = set(names(converted))
    catalog = load_platforms()["kubeflow-1.10"].components
    missing = {(name, dep) for name in enabled for dep in catalog[name].depends_on if dep not in enabled}
    assert not missing, "every dependency of an enabled component is enabled"
    assert json.loads(converted["metadata"]["annotations"]["kfctl.dev/added-components"]) == added


def test_summary_names_what_was_added_and_each_dropped_application_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "kfctl_k8s_istio.yaml"
    shutil.copy(K8S_ISTIO, path)
    lines = conversion_summary(load_app_config(path))
    assert lines[0].startswith(
        f"{path}: read as a legacy KfDef v1 file and converted for kubeflow-1.10, profile generic"
    )
    assert "  added oauth2-proxy, needed by central-dashboard" in lines
    for application in ("application", "add-anonymous-user-filter", "metacontroller", "bootstrap", "spartakus"):
        assert f"  dropped KfDef application {application}: {KFDEF_DROPPED[application]}" in lines
    assert any("v1.2.0.tar.gz not used" in line for line in lines)


def test_summary_shortens_long_lists_and_names_kept_parameters(tmp_path: Path) -> None:
    path = tmp_path / "kfctl_istio_dex.yaml"
    shutil.copy(ISTIO_DEX, path)
    lines = conversion_summary(load_app_config(path))
    assert (
        "  added kubeflow-namespace, needed by kubeflow-istio-resources, central-dashboard, admission-webhook "
        "and 5 more" in lines
    )
    assert any(
        line.startswith("  KfDef parameters of central-dashboard, cert-manager, dex and 5 more") for line in lines
    )


def test_summary_is_empty_for_a_kfctl_yaml(tmp_path: Path) -> None:
    path = tmp_path / "kfctl.yaml"
    path.write_text(
        "apiVersion: kfctl.dev/v1alpha1\nkind: AppConfig\nmetadata: {name: kf}\n"
        "spec: {profile: generic, platform: kubeflow-1.10, components: [cert-manager]}\n"
    )
    assert conversion_summary(load_app_config(path)) == []


def kfctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfctl", *args], capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )


@pytest.fixture
def manifests(upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KFCTL_MANIFESTS_DIR", str(upstream))


@pytest.mark.usefixtures("manifests")
@pytest.mark.parametrize("fixture", [K8S_ISTIO, ISTIO_DEX], ids=["v1.2-k8s-istio", "v1.0-istio-dex"])
def test_init_from_kfdef_writes_a_kfctl_yaml_that_builds_the_same_objects(tmp_path: Path, fixture: Path) -> None:
    kfdef = tmp_path / fixture.name
    shutil.copy(fixture, kfdef)
    direct = kfctl("build", "-f", str(kfdef))
    assert direct.returncode == 0, direct.stderr
    assert "read as a legacy KfDef v1 file and converted" in direct.stderr
    assert "  added " in direct.stderr and "  dropped KfDef application spartakus: " in direct.stderr

    result = kfctl("init", str(tmp_path / "app"), "--from-kfdef", str(kfdef))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "app" / "kfctl.yaml"
    config = load_app_config(written)
    assert config.converted_from is None and config.profile == "generic"
    assert [c.name for c in config.components or []] == names(convert_kfdef(read(kfdef), str(kfdef)))

    rebuilt = kfctl("build", "-f", str(written))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == direct.stdout, "the written kfctl.yaml renders byte for byte what the KfDef renders"
    assert "legacy KfDef" not in rebuilt.stderr, "a written kfctl.yaml is no KfDef: nothing to report"


def test_init_from_kfdef_comments_say_where_it_came_from_and_what_changed(tmp_path: Path) -> None:
    result = kfctl("init", str(tmp_path / "app"), "--from-kfdef", str(ISTIO_DEX))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "app" / "kfctl.yaml").read_text()
    comments = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.lstrip().startswith("#"))
    assert f"# {ISTIO_DEX}" in comments, "names the source file"
    for application in ("application-crds", "application", "argo", "spartakus", "mysql"):
        assert f"# {application}: {KFDEF_DROPPED[application]}" in comments
    assert "v1.0-branch.tar.gz" in comments, "the unused manifests archive is named"
    added = next(line for line in text.splitlines() if line.startswith("  - kubeflow-namespace"))
    assert "# needed by kubeflow-istio-resources, central-dashboard, admission-webhook and 5 more" in added
    # Parameters are comments the user can move: each value as it was, under its KfDef application.
    dex = text[text.index("  - dex ") : text.index("  - kubeflow-roles")]
    assert "# KfDef parameters of dex, not applied:" in dex
    assert '#   static_email: "admin@example.com"' in dex
    assert "#   oidc_redirect_uris: " + json.dumps('["/login/oidc"]') in dex
    document = yaml.safe_load(text)
    assert "parameters" not in json.dumps(document["spec"]), "kept as comments, not applied"
    assert document["metadata"] == {"name": "kubeflow", "annotations": {"kfctl.dev/converted-from": "KfDef v1"}}


def test_init_from_kfdef_profile_comes_from_the_annotation_and_the_flag_wins(tmp_path: Path) -> None:
    raw = read(K8S_ISTIO)
    raw["metadata"]["annotations"]["kfctl.dev/profile"] = "kind"
    kfdef = tmp_path / "kfdef.yaml"
    kfdef.write_text(yaml.safe_dump(raw))
    assert kfctl("init", str(tmp_path / "a"), "--from-kfdef", str(kfdef)).returncode == 0
    assert load_app_config(tmp_path / "a" / "kfctl.yaml").profile == "kind"
    assert kfctl("init", str(tmp_path / "b"), "--from-kfdef", str(kfdef), "--profile", "simulated").returncode == 0
    assert load_app_config(tmp_path / "b" / "kfctl.yaml").profile == "simulated"


def test_init_from_kfdef_refuses_what_it_cannot_convert_and_writes_nothing(tmp_path: Path) -> None:
    unknown = kfctl("init", str(tmp_path / "a"), "--from-kfdef", str(UNKNOWN))
    assert unknown.returncode == 2
    assert "unknown KfDef application 'mlflow'" in unknown.stderr
    both = kfctl("init", str(tmp_path / "b"), "--from-kfdef", str(ISTIO_DEX), "--components", "istio")
    assert both.returncode == 2 and "--components cannot be combined with --from-kfdef" in both.stderr
    neither = kfctl("init", str(tmp_path / "c"))
    assert neither.returncode == 2 and "--profile is required" in neither.stderr
    assert not any(tmp_path.glob("*/kfctl.yaml"))
