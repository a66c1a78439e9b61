"""What an apply will change, decided before anything is written: unchanged, to apply, stale,
untouched, foreign, orphaned; and who owns an object, read from its labels."""

from __future__ import annotations

from typing import Any

import pytest

from kfctl.deploy.change import compute_change
from kfctl.deploy.plan import PlannedObject
from kfctl.deploy.record import InventoryEntry, ReleaseRecord, ReleaseStatus, fields_fingerprint
from kfctl.errors import ExitCode
from kfctl.kube.api import ObjectRef
from kfctl.kube.ownership import APPLYSET_PART_OF, NOBODY, Owner, OwnerKind, owner_of
from kfctl.platform.kinds import Stage

OURS = "applyset-ours-v1"


def ref(kind: str, name: str, namespace: str = "kubeflow") -> ObjectRef:
    return ObjectRef("apps/v1" if kind == "Deployment" else "v1", kind, namespace, name)


def planned(r: ObjectRef, component: str = "a", digest: str = "d1") -> PlannedObject:
    return PlannedObject(r, {}, component, Stage.OBJECTS, digest)


def live(fields: dict[str, Any], *, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "labels": {APPLYSET_PART_OF: OURS},
        "managedFields": [{"manager": "kfctl", "operation": "Apply", "fieldsV1": fields}],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata}


def record(*entries: InventoryEntry, status: ReleaseStatus = ReleaseStatus.DEPLOYED) -> ReleaseRecord:
    return ReleaseRecord("app", 3, status, inventory=list(entries))


def test_first_apply_applies_everything_and_is_no_no_op() -> None:
    objects = [planned(ref("Deployment", "x")), planned(ref("Service", "x"))]
    change = compute_change(objects, None, {}, {})
    assert [o.ref for o in change.apply] == [o.ref for o in objects]
    assert not change.unchanged and not change.stale and not change.no_op


def test_an_object_is_unchanged_only_when_manifest_and_kfctls_fields_are_as_recorded() -> None:
    same, edited, drifted, deleting = (ref("Deployment", n) for n in ("same", "edited", "drifted", "deleting"))
    fields = {"f:spec": {}}
    fingerprint = fields_fingerprint(live(fields))
    previous = record(*(InventoryEntry(r, "a", "d1", fingerprint) for r in (same, edited, drifted, deleting)))
    cluster = {
        same: live(fields),
        edited: live(fields),
        drifted: live({"f:spec": {"f:replicas": {}}}),  # someone took a field: re-apply
        deleting: live(fields, deleting=True),
    }
    objects = [planned(same), planned(edited, digest="d2"), planned(drifted), planned(deleting)]
    change = compute_change(objects, previous, cluster, {})
    assert set(change.unchanged) == {same}
    assert [o.ref for o in change.apply] == [edited, drifted, deleting]
    assert not change.no_op


def test_nothing_to_do_is_a_no_op_only_after_a_deployed_release() -> None:
    r = ref("Service", "x")
    fingerprint = fields_fingerprint(live({"f:spec": {}}))
    entry = InventoryEntry(r, "a", "d1", fingerprint)
    cluster = {r: live({"f:spec": {}})}
    assert compute_change([planned(r)], record(entry), cluster, {}).no_op
    pending = compute_change([planned(r)], record(entry, status=ReleaseStatus.PENDING), cluster, {})
    assert not pending.no_op, "an interrupted run is resumed: its union inventory may hold objects to prune"


def test_stale_and_untouched_on_a_partial_apply() -> None:
    kept, gone, other = ref("Service", "kept"), ref("Service", "gone"), ref("Service", "other")
    previous = record(InventoryEntry(kept, "a"), InventoryEntry(gone, "a"), InventoryEntry(other, "b"))
    full = compute_change([planned(kept)], previous, {}, {})
    assert {e.ref for e in full.stale} == {gone, other} and not full.untouched
    partial = compute_change([planned(kept)], previous, {}, {}, partial_components={"a"})
    assert [e.ref for e in partial.stale] == [gone]
    assert [e.ref for e in partial.untouched] == [other], "a component not named is neither applied nor pruned"


def test_an_object_read_through_a_new_api_version_is_the_same_object_not_a_stale_one() -> None:
    """Istio's AuthorizationPolicy moved from v1beta1 to v1 in Kubeflow 1.11: pruning the v1beta1
    entry would delete the object the upgrade has just applied as v1."""
    old = ObjectRef("security.istio.io/v1beta1", "AuthorizationPolicy", "istio-system", "gateway")
    new = ObjectRef("security.istio.io/v1", "AuthorizationPolicy", "istio-system", "gateway")
    change = compute_change([planned(new)], record(InventoryEntry(old, "a", "d0", "f")), {}, {})
    assert change.stale == [] and [o.ref for o in change.apply] == [new]


def test_objects_of_other_owners_are_refused_in_one_line_per_owner() -> None:
    refs = [ref("Deployment", f"d{i}") for i in range(5)]
    other, helm = Owner(OwnerKind.KFCTL_APP, "kf"), Owner(OwnerKind.HELM, "monitoring/prom")
    owners = {refs[0]: other, refs[1]: other, refs[2]: other, refs[3]: other, refs[4]: helm}
    change = compute_change([planned(r) for r in refs], None, {}, owners)
    assert change.by_owner() == {other: refs[:4], helm: refs[4:]}
    error = change.refusal("badapp")
    assert error.exit_code is ExitCode.BAD_INPUT
    assert "kfctl app kf owns 4 of the planned objects (Deployment.apps kubeflow/d0, " in error.message
    assert error.message.count("kubeflow/d") == 4, "three examples for kf, one for the Helm release"
    assert "Helm release monitoring/prom owns 1" in error.message and "--adopt" in (error.hint or "")
    assert error.detail["owners"][0] == {
        "kind": "kfctl-app",
        "name": "kf",
        "objects": 4,
        "examples": [str(r) for r in refs[:3]],
    }
    assert [a["from"] for a in change.adopted()] == ["kfctl app kf"] * 4 + ["Helm release monitoring/prom"]


def test_an_orphaned_applyset_is_taken_over_without_adopt() -> None:
    r = ref("Namespace", "kubeflow", "")
    change = compute_change([planned(r)], None, {}, {r: Owner(OwnerKind.ORPHANED_APPLYSET, "applyset-gone-v1")})
    assert not change.foreign and r in change.orphaned and [o.ref for o in change.apply] == [r]


def metadata(labels: dict[str, str], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"labels": labels, "annotations": annotations or {}}


@pytest.mark.parametrize(
    ("meta", "owner"),
    [
        (metadata({APPLYSET_PART_OF: OURS}), Owner(OwnerKind.THIS_APP)),
        (metadata({APPLYSET_PART_OF: "applyset-kf-v1"}), Owner(OwnerKind.KFCTL_APP, "kf")),
        (metadata({APPLYSET_PART_OF: "applyset-gone-v1"}), Owner(OwnerKind.ORPHANED_APPLYSET, "applyset-gone-v1")),
        (
            metadata(
                {"app.kubernetes.io/managed-by": "Helm"},
                {"meta.helm.sh/release-name": "prom", "meta.helm.sh/release-namespace": "monitoring"},
            ),
            Owner(OwnerKind.HELM, "monitoring/prom"),
        ),
        # Rendered Helm charts (Istio's manifests) carry Helm's label but are no Helm release.
        (metadata({"app.kubernetes.io/managed-by": "Helm"}), NOBODY),
        (
            metadata(
                {APPLYSET_PART_OF: OURS, "app.kubernetes.io/managed-by": "Helm"}, {"meta.helm.sh/release-name": "x"}
            ),
            Owner(OwnerKind.THIS_APP),
        ),
        (metadata({}), NOBODY),
    ],
)
def test_owner_of_reads_applyset_and_helm_metadata(meta: dict[str, Any], owner: Owner) -> None:
    parents = {"applyset-kf-v1": Owner(OwnerKind.KFCTL_APP, "kf")}
    assert owner_of(meta, OURS, parents) == owner
    assert owner.foreign is (owner.kind in (OwnerKind.KFCTL_APP, OwnerKind.HELM))
