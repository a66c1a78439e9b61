"""Component ordering: waves, cycles, missing dependencies; object order inside a component."""

from __future__ import annotations

import pytest

from kfctl.errors import ConfigError, ExitCode
from kfctl.platform.graph import dependency_closure, waves
from kfctl.platform.kinds import sort_objects


def test_waves_put_every_dependency_in_an_earlier_wave() -> None:
    graph = {
        "katib": ["cert-manager", "istio", "kubeflow-namespace"],
        "istio": [],
        "cert-manager": [],
        "kubeflow-namespace": [],
        "dex": ["istio", "oauth2-proxy"],
        "oauth2-proxy": ["istio"],
    }
    result = waves(graph)
    assert result == [["cert-manager", "istio", "kubeflow-namespace"], ["katib", "oauth2-proxy"], ["dex"]]
    position = {name: index for index, wave in enumerate(result) for name in wave}
    for name, deps in graph.items():
        assert all(position[d] < position[name] for d in deps)


def test_cycle_is_named_in_order() -> None:
    with pytest.raises(ConfigError) as error:
        waves({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    assert "dependency cycle: a -> b -> c -> a" in error.value.message
    assert error.value.exit_code == ExitCode.BAD_INPUT


def test_missing_dependency_is_named() -> None:
    with pytest.raises(ConfigError) as error:
        waves({"dex": ["istio"]})
    assert "dex depends on istio, which is not enabled" in error.value.message
    assert "enable istio" in (error.value.hint or "")


def test_closure_brings_dependencies_along() -> None:
    graph = {"kserve": ["knative-serving", "istio"], "knative-serving": ["istio"], "istio": [], "katib": []}
    assert dependency_closure(["kserve"], graph) == ["kserve", "knative-serving", "istio"]


def test_objects_ordered_definitions_first_webhooks_and_custom_resources_last() -> None:
    def obj(api: str, kind: str, name: str = "x") -> dict[str, object]:
        return {"apiVersion": api, "kind": kind, "metadata": {"name": name}}

    shuffled = [
        obj("cert-manager.io/v1", "Certificate"),
        obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        obj("apps/v1", "Deployment"),
        obj("v1", "Service"),
        obj("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        obj("rbac.authorization.k8s.io/v1", "ClusterRole"),
        obj("v1", "Namespace"),
        obj("v1", "ServiceAccount"),
    ]
    kinds = [o["kind"] for o in sort_objects(shuffled)]
    assert kinds == [
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",  # cluster-wide RBAC is a definition: applied before the component's other objects
        "ServiceAccount",
        "Service",
        "Deployment",
        "ValidatingWebhookConfiguration",
        "Certificate",
    ]


def test_transitive_dependents_reach_every_component_downstream() -> None:
    from kfctl.platform.graph import transitive_dependents

    graph = {"istio": [], "kubeflow-roles": [], "profiles": ["istio", "kubeflow-roles"], "tenants": ["profiles"]}
    assert transitive_dependents(graph) == {
        "istio": {"profiles", "tenants"},
        "kubeflow-roles": {"profiles", "tenants"},
        "profiles": {"tenants"},
        "tenants": set(),
    }
