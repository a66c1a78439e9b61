"""Pure parts of the apply engine: stages, relaxations, ApplySet identity, release records."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

from kfctl.deploy.plan import _drop_controller_owned_fields, _ignore_webhook_failures, _private, stage_of
from kfctl.deploy.record import InventoryEntry, ReleaseRecord, ReleaseStatus, applyset_id, fields_fingerprint
from kfctl.kube.api import ObjectRef
from kfctl.platform.kinds import Stage


def obj(api: str, kind: str, **extra: object) -> dict[str, object]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, **extra}


def test_stages_definitions_objects_webhooks_custom_resources() -> None:
    assert stage_of(obj("v1", "Namespace")) == Stage.DEFINITIONS
    assert stage_of(obj("apiextensions.k8s.io/v1", "CustomResourceDefinition")) == Stage.DEFINITIONS
    assert stage_of(obj("rbac.authorization.k8s.io/v1", "ClusterRole")) == Stage.DEFINITIONS
    assert stage_of(obj("rbac.authorization.k8s.io/v1", "Role")) == Stage.OBJECTS
    assert stage_of(obj("apps/v1", "Deployment")) == Stage.OBJECTS
    assert stage_of(obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")) == Stage.WEBHOOKS
    assert stage_of(obj("cert-manager.io/v1", "ClusterIssuer")) == Stage.CUSTOM_RESOURCES
    assert stage_of(obj("networking.istio.io/v1", "Gateway")) == Stage.CUSTOM_RESOURCES


def test_aggregated_cluster_role_rules_are_left_to_the_aggregation_controller() -> None:
    aggregated = obj(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        rules=[],
        aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]},
    )
    _drop_controller_owned_fields(aggregated)
    assert "rules" not in aggregated
    plain = obj("rbac.authorization.k8s.io/v1", "ClusterRole", rules=[{"verbs": ["get"]}])
    _drop_controller_owned_fields(plain)
    assert plain["rules"] == [{"verbs": ["get"]}]


def test_simulated_webhooks_fail_open() -> None:
    webhook = obj(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        webhooks=[{"name": "a", "failurePolicy": "Fail"}, {"name": "b"}],
    )
    assert _ignore_webhook_failures(webhook) is True
    assert [w["failurePolicy"] for w in webhook["webhooks"]] == ["Ignore", "Ignore"]  # type: ignore[attr-defined]
    assert _ignore_webhook_failures(webhook) is False, "nothing left to change"


def test_what_the_plan_changes_leaves_the_rendered_object_alone() -> None:
    """The plan labels and relaxes a private copy: the render (and its cache entry) stay as kustomize made them."""
    rendered = obj(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        webhooks=[{"name": "a", "failurePolicy": "Fail"}],
    )
    rendered["metadata"] = {"name": "x", "labels": {"app": "a"}}
    aggregated = obj("rbac.authorization.k8s.io/v1", "ClusterRole", rules=[], aggregationRule={})
    aggregated["aggregationRule"] = {"clusterRoleSelectors": []}
    before = copy.deepcopy([rendered, aggregated])
    webhook, role = _private(rendered), _private(aggregated)
    webhook["metadata"]["labels"]["applyset.kubernetes.io/part-of"] = "applyset-x"
    assert _ignore_webhook_failures(webhook)
    _drop_controller_owned_fields(role)
    assert [rendered, aggregated] == before
    assert webhook["metadata"]["labels"] == {"app": "a", "applyset.kubernetes.io/part-of": "applyset-x"}
    assert "rules" not in role


def test_applyset_id_follows_kep_3659() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"kfctl-kubeflow.kfctl-system.ConfigMap.").digest())
    assert applyset_id("kubeflow") == f"applyset-{expected.decode().rstrip('=')}-v1"
    assert applyset_id("kubeflow") != applyset_id("other")
    assert len(applyset_id("kubeflow")) <= 63, "it is a label value"


def test_release_record_round_trips_and_10000_objects_fit_in_one_configmap() -> None:
    entries = [
        InventoryEntry(
            ObjectRef("apps/v1", "Deployment", f"team-{i % 50}", f"workload-{i}"),
            f"c{i % 12}",
            hashlib.sha256(str(i).encode()).hexdigest()[:32],
            hashlib.sha256(str(-i).encode()).hexdigest()[:32],
        )
        for i in range(10_000)
    ]
    record = ReleaseRecord(
        "kubeflow",
        7,
        ReleaseStatus.DEPLOYED,
        "kubeflow-1.10",
        "simulated",
        "abc",
        components={"c1": {"status": "applied", "wave": 0}},
        inventory=entries,
        adopted=[{"object": "Deployment.apps team-1/workload-1", "from": "kfctl app other"}],
        started=1.0,
        finished=2.0,
    )
    configmap = record.to_configmap()
    assert len(json.dumps(configmap)) < 1_000_000, "under the 1 MiB object limit"
    again = ReleaseRecord.from_configmap(configmap)
    assert again.inventory == entries and again.revision == 7 and again.components == record.components
    assert again.status is ReleaseStatus.DEPLOYED and again.adopted == record.adopted


def test_fields_fingerprint_reads_only_kfctls_apply_entry() -> None:
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:status": {}}},
                {"manager": "kfctl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            ]
        }
    }
    other = {
        "metadata": {
            "managedFields": [
                {"manager": "kfctl", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            ]
        }
    }
    assert fields_fingerprint(live) and fields_fingerprint(live) != fields_fingerprint(other)
    assert fields_fingerprint({"metadata": {}}) == ""
