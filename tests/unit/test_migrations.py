"""Per-release migrations: well-formed (ids, steps between consecutive catalog releases, sources), in
order per step, and what each one reads, notes and deletes, against a small in-memory stand-in for
the three Api methods migrations use (the real API server is the e2e tests' business)."""

from __future__ import annotations

import copy
import itertools
from typing import Any, cast

import pytest
import yaml

from kfctl.kube.api import Api, ObjectRef
from kfctl.lifecycle.migrations import ALL, for_step, v1_10, v1_11, v26_03
from kfctl.lifecycle.migrations.base import Migration, When
from kfctl.platform.catalog import load_platforms

MODULES = (v1_10, v1_11, v26_03)


class FakeApi:
    """get / list_kind / delete over a dict of objects; records every read and delete."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {ObjectRef.of(o): copy.deepcopy(o) for o in objects}
        self.reads: list[ObjectRef] = []
        self.deleted: list[tuple[ObjectRef, str]] = []

    def get(self, ref: ObjectRef, **_: Any) -> dict[str, Any] | None:
        self.reads.append(ref)
        found = self.objects.get(ref)
        return copy.deepcopy(found) if found is not None else None

    def list_kind(
        self, api_version: str, kind: str, *, namespace: str | None = None, label_selector: str | None = None, **_: Any
    ) -> list[dict[str, Any]]:
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(",")) if label_selector else {}
        items = []
        for ref, obj in self.objects.items():
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if (ref.api_version, ref.kind) != (api_version, kind) or (namespace and ref.namespace != namespace):
                continue
            if all(labels.get(k) == v for k, v in wanted.items()):
                self.reads.append(ref)
                items.append(copy.deepcopy(obj))
        return items

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        self.deleted.append((ref, propagation))
        return self.objects.pop(ref, None) is not None

    @property
    def api(self) -> Api:
        return cast(Api, self)


def obj(api_version: str, kind: str, name: str, namespace: str = "", **fields: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if "labels" in fields:
        metadata["labels"] = fields.pop("labels")
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


def by_id(identifier: str) -> Migration:
    return next(m for m in ALL if m.id == identifier)


def run(migration: Migration, api: FakeApi) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    return migration.action(api.api, notes.append), notes


# -- shape ------------------------------------------------------------------------------------------


def test_ids_are_unique_and_every_field_is_filled() -> None:
    assert len({m.id for m in ALL}) == len(ALL)
    for m in ALL:
        assert m.id.strip() and m.description.strip() and m.source.strip(), m.id
        assert isinstance(m.when, When)
        assert callable(m.check) and callable(m.action)


def test_every_step_names_two_consecutive_catalog_releases() -> None:
    ordered = sorted(load_platforms().values(), key=lambda p: p.version)
    consecutive = {(a.name, b.name) for a, b in itertools.pairwise(ordered)}
    for m in ALL:
        assert m.step in consecutive, f"{m.id}: {m.step} is not a step between consecutive catalog releases"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_module_is_one_step_and_lists_its_sources(module: Any) -> None:
    assert module.MIGRATIONS, module.__name__
    assert {m.step for m in module.MIGRATIONS} == {module.STEP}
    assert "Sources:" in (module.__doc__ or "")


def test_for_step_returns_the_steps_migrations_in_order() -> None:
    assert tuple(m for mod in MODULES for m in mod.MIGRATIONS) == ALL
    for module in MODULES:
        assert for_step(*module.STEP) == list(module.MIGRATIONS)
    assert [m.id for m in for_step("kubeflow-1.10", "kubeflow-1.11")] == [
        "1.11-pipelines-db-backup",
        "1.11-katib-db-backup",
        "1.11-minio-to-seaweedfs",
    ]
    assert for_step("kubeflow-1.9", "kubeflow-1.11") == []  # a chain runs its steps one by one
    assert for_step("kubeflow-1.10", "kubeflow-1.9") == []


# -- 1.9 -> 1.10 ------------------------------------------------------------------------------------

RBAC = "rbac.authorization.k8s.io/v1"


def binding(role: str) -> dict[str, Any]:
    return obj(
        RBAC,
        "ClusterRoleBinding",
        "meta-controller-cluster-role-binding",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
    )


def test_meta_controller_binding_with_the_old_role_is_found_and_deleted() -> None:
    migration = by_id("1.10-meta-controller-binding")
    api = FakeApi(binding("cluster-admin"))
    expected = "ClusterRoleBinding meta-controller-cluster-role-binding (roleRef ClusterRole cluster-admin)"
    assert migration.check(api.api) == [expected]
    assert api.deleted == []  # check only reads
    did, notes = run(migration, api)
    assert did == [f"deleted {expected}"]
    assert [ref.name for ref, _ in api.deleted] == ["meta-controller-cluster-role-binding"]
    assert "kubeflow-metacontroller" in notes[0]
    assert migration.when is When.BEFORE


@pytest.mark.parametrize("live", [(), (binding("kubeflow-metacontroller"),)], ids=["absent", "already-1.10"])
def test_meta_controller_binding_is_left_alone_when_absent_or_already_new(live: tuple[dict[str, Any], ...]) -> None:
    migration = by_id("1.10-meta-controller-binding")
    api = FakeApi(*live)
    assert migration.check(api.api) == []
    assert run(migration, api) == ([], [])
    assert api.deleted == []


def test_mxjobs_are_reported_and_kept() -> None:
    migration = by_id("1.10-mxjobs-unserved")
    api = FakeApi(obj("kubeflow.org/v1", "MXJob", "mnist", "team-a"), obj("kubeflow.org/v1", "TFJob", "t", "team-a"))
    assert migration.check(api.api) == ["MXJob team-a/mnist"]
    did, notes = run(migration, api)
    assert did == ["kept MXJob team-a/mnist"]
    assert "no MXJob controller" in notes[0]
    assert api.deleted == []
    assert migration.check(FakeApi().api) == []


# -- 1.10 -> 1.11 -----------------------------------------------------------------------------------


def kfp_mysql(image: str = "gcr.io/ml-pipeline/mysql:8.0.26") -> list[dict[str, Any]]:
    template = {"spec": {"containers": [{"name": "mysql", "image": image}]}}
    return [
        obj("apps/v1", "Deployment", "mysql", "kubeflow", spec={"template": template}),
        obj("v1", "PersistentVolumeClaim", "mysql-pv-claim", "kubeflow", spec={}),
        obj("v1", "Secret", "mysql-secret", "kubeflow", data={"username": "cm9vdA==", "password": "c2VjcmV0"}),
    ]


def test_pipelines_database_backup_notes_the_dump_and_writes_nothing() -> None:
    migration = by_id("1.11-pipelines-db-backup")
    api = FakeApi(*kfp_mysql())
    assert migration.check(api.api) == [
        "Deployment kubeflow/mysql (image gcr.io/ml-pipeline/mysql:8.0.26)",
        "PersistentVolumeClaim kubeflow/mysql-pv-claim",
    ]
    did, notes = run(migration, api)
    assert did and "wrote nothing" in did[0]
    (note,) = notes
    assert "back up first" in note and "cannot be rolled back" in note
    assert "kubectl exec -n kubeflow deploy/mysql -- sh -c 'exec mysqldump -u root" in note
    assert "--databases mlpipeline cachedb metadb'" in note
    assert "Secret kubeflow/mysql-secret" in note
    assert api.deleted == []
    assert not [r for r in api.reads if r.kind == "Secret"]  # names the Secret, never reads it
    assert migration.when is When.BEFORE


def test_pipelines_database_backup_dumps_the_databases_the_install_configures() -> None:
    config = obj("v1", "ConfigMap", "pipeline-install-config", "kubeflow", data={"pipelineDb": "kfp", "mlmdDb": "md"})
    api = FakeApi(*kfp_mysql(), config)
    _, notes = run(by_id("1.11-pipelines-db-backup"), api)
    assert "--databases kfp cachedb md'" in notes[0]


def test_pipelines_database_backup_does_not_apply_without_pipelines() -> None:
    migration = by_id("1.11-pipelines-db-backup")
    assert migration.check(FakeApi().api) == []
    assert run(migration, FakeApi()) == ([], [])


def test_katib_database_backup_refers_to_the_password_never_reads_it() -> None:
    migration = by_id("1.11-katib-db-backup")
    template = {"spec": {"containers": [{"name": "katib-mysql", "image": "mysql:8.0.29"}]}}
    api = FakeApi(
        obj("apps/v1", "Deployment", "katib-mysql", "kubeflow", spec={"template": template}),
        obj("v1", "PersistentVolumeClaim", "katib-mysql", "kubeflow", spec={}),
        obj("v1", "Secret", "katib-mysql-secrets", "kubeflow", data={"MYSQL_ROOT_PASSWORD": "dGVzdA=="}),
    )
    assert migration.check(api.api) == [
        "Deployment kubeflow/katib-mysql (image mysql:8.0.29)",
        "PersistentVolumeClaim kubeflow/katib-mysql",
    ]
    _, notes = run(migration, api)
    assert '-p"$MYSQL_ROOT_PASSWORD"' in notes[0] and "--databases katib'" in notes[0]
    assert "dGVzdA==" not in notes[0]
    assert api.deleted == [] and not [r for r in api.reads if r.kind == "Secret"]


def minio_pvc() -> dict[str, Any]:
    return obj(
        "v1",
        "PersistentVolumeClaim",
        "minio-pvc",
        "kubeflow",
        spec={"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}},
    )


class NoDeleteApi(FakeApi):
    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        raise AssertionError(f"the MinIO migration deleted {ref}")


def test_minio_migration_keeps_the_volume_and_notes_the_copy() -> None:
    migration = by_id("1.11-minio-to-seaweedfs")
    seaweedfs = obj("apps/v1", "Deployment", "seaweedfs", "kubeflow", spec={})
    api = NoDeleteApi(minio_pvc(), seaweedfs)
    assert migration.when is When.AFTER
    assert migration.check(api.api) == ["PersistentVolumeClaim kubeflow/minio-pvc (MinIO's objects, 20Gi)"]
    did, notes = run(migration, api)
    assert did == ["kept PersistentVolumeClaim kubeflow/minio-pvc (MinIO's objects, 20Gi); wrote nothing"]
    (note,) = notes  # seaweedfs is there, minio is gone: nothing else to say
    assert "mc mirror --overwrite old/mlpipeline new/mlpipeline" in note
    assert "http://seaweedfs.kubeflow.svc.cluster.local:8333" in note
    assert "Secret kubeflow/mlpipeline-minio-artifact" in note
    assert "ObjectRef" not in note and not [r for r in api.reads if r.kind == "Secret"]
    assert ("PersistentVolumeClaim", "minio-pvc") in {(r.kind, r.name) for r in api.reads}
    assert "minio-pvc" in {r.name for r in api.objects}


def test_minio_copy_pod_is_restricted_and_mounts_the_kept_volume() -> None:
    body = v1_11.COPY_POD.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]
    pod = yaml.safe_load(body)
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "minio-pvc"}}]
    for container in spec["containers"]:
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    minio = spec["containers"][0]
    assert minio["volumeMounts"][0]["subPath"] == "minio"  # where 1.10's Deployment kept its data
    refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in minio["env"]]
    assert refs == ["mlpipeline-minio-artifact"] * 2


def test_minio_migration_warns_while_minio_still_runs_or_seaweedfs_is_missing() -> None:
    api = NoDeleteApi(minio_pvc(), obj("apps/v1", "Deployment", "minio", "kubeflow", spec={}))
    _, notes = run(by_id("1.11-minio-to-seaweedfs"), api)
    assert any("scale it to 0" in n for n in notes)
    assert any("seaweedfs is missing" in n for n in notes)


def test_minio_migration_does_not_apply_without_the_volume() -> None:
    migration = by_id("1.11-minio-to-seaweedfs")
    assert migration.check(NoDeleteApi().api) == []
    assert run(migration, NoDeleteApi()) == ([], [])


# -- 1.11 -> 26.03 ----------------------------------------------------------------------------------

ENABLED = {"pipelines.kubeflow.org/enabled": "true"}
OLD_REPO = '{"archiveLogs": true, "s3": {"endpoint": "minio-service.kubeflow:9000", "bucket": "mlpipeline"}}'
NEW_REPO = '{"s3": {"endpoint": "seaweedfs.kubeflow.svc.cluster.local:9000"}}'


def profile_namespaces(*, alias: bool) -> FakeApi:
    objects = [
        obj("v1", "Namespace", "team-a", labels=ENABLED),
        obj("v1", "Namespace", "team-b", labels=ENABLED),
        obj("v1", "Namespace", "scratch"),
        obj("v1", "ConfigMap", "artifact-repositories", "team-a", data={"default-namespaced": OLD_REPO}),
        obj("v1", "ConfigMap", "artifact-repositories", "team-b", data={"default-namespaced": NEW_REPO}),
        obj("v1", "ConfigMap", "artifact-repositories", "scratch", data={"default-namespaced": OLD_REPO}),
    ]
    if alias:
        objects.append(obj("v1", "Service", "minio-service", "kubeflow", spec={}))
    return FakeApi(*objects)


def test_stale_artifact_repositories_are_found_in_pipelines_namespaces_only() -> None:
    migration = by_id("26.03-artifact-repositories-endpoint")
    api = profile_namespaces(alias=True)
    stale = "ConfigMap team-a/artifact-repositories (S3 endpoint minio-service.kubeflow:9000)"
    assert migration.check(api.api) == [stale]
    assert api.deleted == []
    assert migration.when is When.AFTER  # the 26.03 profile controller must be the one writing them back


def test_stale_artifact_repositories_are_deleted_once_the_alias_is_gone() -> None:
    migration = by_id("26.03-artifact-repositories-endpoint")
    api = profile_namespaces(alias=False)
    did, notes = run(migration, api)
    assert did == ["deleted ConfigMap team-a/artifact-repositories"]
    assert [(r.namespace, r.name) for r, _ in api.deleted] == [("team-a", "artifact-repositories")]
    assert "profile controller" in notes[0]


def test_stale_artifact_repositories_stay_while_the_alias_still_exists() -> None:
    api = profile_namespaces(alias=True)
    did, notes = run(by_id("26.03-artifact-repositories-endpoint"), api)
    assert did == [] and api.deleted == []
    assert "still exists" in notes[0]
