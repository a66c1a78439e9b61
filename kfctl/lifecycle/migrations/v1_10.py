"""kubeflow-1.9 → kubeflow-1.10 (kubeflow/manifests v1.9.1 → v1.10.2).

Sources:
- kubeflow-manifests-v1.10.2/README.md:650, "Upgrading and Extending": "1.9.1 -> 1.10 `kubectl delete
  clusterrolebinding meta-controller-cluster-role-binding`" (repeated in v1.11.0 README.md:695 and
  26.03 README.md:575).
- The rendered diff (`kfctl build` of both platforms, default components): ClusterRoleBinding
  meta-controller-cluster-role-binding changes roleRef ClusterRole cluster-admin → kubeflow-metacontroller
  (applications/pipeline/upstream/third-party/metacontroller/base/cluster-role-binding.yaml), the only
  immutable-field change of the step; the training operator's CRD mxjobs.kubeflow.org is gone from 1.10.
"""

from __future__ import annotations

from kfctl.kube.api import Api, ObjectRef
from kfctl.lifecycle.migrations.base import Migration, Note
from kfctl.lifecycle.migrations.common import RBAC, named

STEP = ("kubeflow-1.9", "kubeflow-1.10")

META_CONTROLLER_BINDING = ObjectRef(RBAC, "ClusterRoleBinding", "", "meta-controller-cluster-role-binding")
META_CONTROLLER_ROLE = "kubeflow-metacontroller"  # 1.10's roleRef; 1.9's was cluster-admin


def _binding_check(api: Api) -> list[str]:
    live = api.get(META_CONTROLLER_BINDING)
    if live is None:
        return []
    role = live.get("roleRef") or {}
    if role.get("kind") == "ClusterRole" and role.get("name") == META_CONTROLLER_ROLE:
        return []  # already 1.10's: nothing to re-create
    return [f"{named(META_CONTROLLER_BINDING)} (roleRef {role.get('kind', '?')} {role.get('name', '?')})"]


def _binding_action(api: Api, note: Note) -> list[str]:
    found = _binding_check(api)
    if not found:
        return []
    # roleRef is immutable: the binding goes now and 1.10's apply creates it again, bound to the
    # narrower ClusterRole. Metacontroller is without cluster rights only between the two.
    if not api.delete(META_CONTROLLER_BINDING):
        return []
    note(f"deleted {found[0]}: the kubeflow-1.10 apply re-creates it with roleRef ClusterRole {META_CONTROLLER_ROLE}")
    return [f"deleted {found[0]}"]


MXJOB = ("kubeflow.org/v1", "MXJob")


def _mxjob_check(api: Api) -> list[str]:
    return [named(ObjectRef.of(item)) for item in api.list_kind(*MXJOB, metadata_only=True)]


def _mxjob_action(api: Api, note: Note) -> list[str]:
    jobs = _mxjob_check(api)
    if jobs:
        # Pruning keeps CRDs (their objects are the users' work), so these stay, unreconciled.
        note(
            f"{len(jobs)} MXJob(s) kept but no longer run: the training operator of kubeflow-1.10 has no MXJob "
            "controller (mxjobs.kubeflow.org left the release; kfctl keeps the CRD and its objects). "
            "Export them (kubectl get mxjobs -A -o yaml) before deleting the CRD by hand."
        )
    return [f"kept {job}" for job in jobs]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        id="1.10-meta-controller-binding",
        step=STEP,
        description=(
            "Delete ClusterRoleBinding meta-controller-cluster-role-binding while its roleRef is 1.9's "
            "(cluster-admin): roleRef is immutable, and the 1.10 apply re-creates it bound to kubeflow-metacontroller"
        ),
        source="kubeflow/manifests v1.10.2 README.md:650 (Upgrading and Extending); rendered diff 1.9 → 1.10",
        check=_binding_check,
        action=_binding_action,
    ),
    Migration(
        id="1.10-mxjobs-unserved",
        step=STEP,
        description=(
            "Report MXJobs: kubeflow-1.10's training operator drops MXJob, so existing ones are kept "
            "(their CRD is kept) but nothing runs them any more"
        ),
        source="rendered diff 1.9 → 1.10: CustomResourceDefinition mxjobs.kubeflow.org removed from training-operator",
        check=_mxjob_check,
        action=_mxjob_action,
    ),
)
