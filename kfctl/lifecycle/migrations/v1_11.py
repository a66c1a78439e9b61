"""kubeflow-1.10 → kubeflow-1.11 (kubeflow/manifests v1.10.2 → v1.11.0).

Sources:
- kubeflow-manifests-26.03/README.md:577, "Upgrading and Extending": "1.10.2 -> 1.11.0 migrates from minio
  to seaweedfs, so you should delete minio and maybe migrate your data via S3 commands to seaweedfs";
  kubeflow-manifests-v1.11.0/README.md:418 (SeaweedFS "replaces `minio-service`") and
  applications/pipeline/upstream/third-party/seaweedfs/README.md.
- The rendered diff (`kfctl build` of both platforms, default components): Deployment kubeflow/minio and
  PersistentVolumeClaim kubeflow/minio-pvc leave; Deployment, Service and PVC kubeflow/seaweedfs arrive;
  Service kubeflow/minio-service stays, re-pointed at SeaweedFS (port 9000 → targetPort 8333); both stores
  take their keys from Secret kubeflow/mlpipeline-minio-artifact (accesskey, secretkey); bucket mlpipeline.
- The rendered diff: Pipelines' MySQL (Deployment kubeflow/mysql on PVC kubeflow/mysql-pv-claim) goes from
  gcr.io/ml-pipeline/mysql:8.0.26 to mysql:8.4 and KFP from 2.5.0 to 2.15.0 (pipeline-install-config
  appVersion), whose API server migrates the schema when it starts (the startupProbe comment in
  applications/pipeline/upstream/base/pipeline/ml-pipeline-apiserver-deployment.yaml). Neither goes back:
  MySQL cannot start an older 8.0 on a data directory a newer server upgraded (MySQL 8.0 manual,
  "Downgrading MySQL": in-place downgrades only from 8.0.35 on, none from 8.4), and KFP does not downgrade
  its schema (kubeflow/pipelines#3636: "back up the db before you upgrade"). The issue's release notes:
  "back up first".
- The rendered diff: Katib's MySQL (Deployment kubeflow/katib-mysql on PVC kubeflow/katib-mysql) goes from
  mysql:8.0.29 to mysql:8.0 (the newest 8.0.x), the same one-way in-place upgrade.
"""

from __future__ import annotations

from kfctl.kube.api import Api, ObjectRef
from kfctl.lifecycle.migrations.base import Migration, Note, When
from kfctl.lifecycle.migrations.common import database_findings, deployment, mysqldump, named, pvc

STEP = ("kubeflow-1.10", "kubeflow-1.11")
NS = "kubeflow"

# -- Pipelines' database ------------------------------------------------------------------------------

KFP_MYSQL = deployment(NS, "mysql")
KFP_MYSQL_PVC = pvc(NS, "mysql-pv-claim")
KFP_CONFIG = ObjectRef("v1", "ConfigMap", NS, "pipeline-install-config")
# pipeline-install-config's keys for the three databases, with the release's values.
KFP_DATABASES = (("pipelineDb", "mlpipeline"), ("cacheDb", "cachedb"), ("mlmdDb", "metadb"))


def _kfp_check(api: Api) -> list[str]:
    return database_findings(api, KFP_MYSQL, KFP_MYSQL_PVC)


def _kfp_databases(api: Api) -> list[str]:
    """The database names this install uses (a config may rename them), else the release's."""
    data = (api.get(KFP_CONFIG) or {}).get("data") or {}
    return [str(data.get(key) or default) for key, default in KFP_DATABASES]


def _kfp_action(api: Api, note: Note) -> list[str]:
    found = _kfp_check(api)
    if not found:
        return []
    out = "kfp-mysql-before-1.11.sql"
    # The release leaves the root password empty (MYSQL_ALLOW_EMPTY_PASSWORD); Pipelines' own user
    # is in Secret kubeflow/mysql-secret, referred to by name only.
    dump = mysqldump(KFP_MYSQL, _kfp_databases(api), "-u root", out)
    note(
        "back up first: the Pipelines database migration of kubeflow-1.11 cannot be rolled back "
        "(MySQL 8.0.26 → 8.4 upgrades the data directory on PersistentVolumeClaim kubeflow/mysql-pv-claim; "
        "KFP 2.15 migrates its schema on start). With no pipeline run in progress, dump it: "
        f"{dump}  (if you set a root password: add -p and use `kubectl exec -i`; Pipelines' user is in "
        f"Secret kubeflow/mysql-secret). To go back, restore it into the old release's MySQL on a new volume: "
        f"kubectl exec -i -n {NS} deploy/mysql -- mysql -u root < {out}"
    )
    return [f"noted the backup of {', '.join(found)}; wrote nothing"]


# -- Katib's database ---------------------------------------------------------------------------------

KATIB_MYSQL = deployment(NS, "katib-mysql")
KATIB_MYSQL_PVC = pvc(NS, "katib-mysql")


def _katib_check(api: Api) -> list[str]:
    return database_findings(api, KATIB_MYSQL, KATIB_MYSQL_PVC)


def _katib_action(api: Api, note: Note) -> list[str]:
    found = _katib_check(api)
    if not found:
        return []
    out = "katib-mysql-before-1.11.sql"
    # $MYSQL_ROOT_PASSWORD is expanded inside the container (from Secret katib-mysql-secrets): the
    # value is never on the operator's command line nor in kfctl's output.
    dump = mysqldump(KATIB_MYSQL, ["katib"], '-u root -p"$MYSQL_ROOT_PASSWORD"', out)
    note(
        "back up first: Katib's MySQL goes from 8.0.29 to the newest 8.0 on PersistentVolumeClaim "
        f"kubeflow/katib-mysql, an in-place upgrade that cannot be rolled back. Dump it: {dump}"
    )
    return [f"noted the backup of {', '.join(found)}; wrote nothing"]


# -- MinIO → SeaweedFS --------------------------------------------------------------------------------

MINIO = deployment(NS, "minio")
MINIO_PVC = pvc(NS, "minio-pvc")
SEAWEEDFS = deployment(NS, "seaweedfs")
MINIO_IMAGE = "gcr.io/ml-pipeline/minio:RELEASE.2019-08-14T20-37-41Z-license-compliance"  # 1.10's
KEYS = "mlpipeline-minio-artifact"  # Secret: accesskey, secretkey (both stores)
BUCKET = "mlpipeline"

# 1.10's MinIO once more, on its kept volume, beside an `mc mirror` into SeaweedFS's S3 port: a Pod
# that meets the kubeflow namespace's Pod Security "restricted" level of 1.11, without the Istio
# sidecar so that it can finish. Keys come from the Secret by reference only.
COPY_POD = f"""kubectl apply -n {NS} -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata: {{name: minio-to-seaweedfs, annotations: {{sidecar.istio.io/inject: "false"}}}}
spec:
  restartPolicy: Never
  securityContext: {{runAsNonRoot: true, runAsUser: 1000, runAsGroup: 0, fsGroup: 1000,
                    seccompProfile: {{type: RuntimeDefault}}}}
  volumes:
  - {{name: data, persistentVolumeClaim: {{claimName: {MINIO_PVC.name}}}}}
  containers:
  - name: minio
    image: {MINIO_IMAGE}
    args: [server, /data]
    env:
    - {{name: MINIO_ACCESS_KEY, valueFrom: {{secretKeyRef: {{name: {KEYS}, key: accesskey}}}}}}
    - {{name: MINIO_SECRET_KEY, valueFrom: {{secretKeyRef: {{name: {KEYS}, key: secretkey}}}}}}
    volumeMounts: [{{name: data, mountPath: /data, subPath: minio}}]
    securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}
  - name: mirror
    image: minio/mc
    envFrom: [{{secretRef: {{name: {KEYS}}}}}]
    env: [{{name: HOME, value: /tmp}}]
    command: [sh, -ec]
    args:
    - >-
      until mc alias set old http://127.0.0.1:9000 "$accesskey" "$secretkey"; do sleep 2; done;
      mc alias set new http://seaweedfs.{NS}.svc.cluster.local:8333 "$accesskey" "$secretkey";
      mc mirror --overwrite old/{BUCKET} new/{BUCKET}
    securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}
EOF
kubectl logs -n {NS} -f minio-to-seaweedfs -c mirror
kubectl delete pod -n {NS} minio-to-seaweedfs"""


def _minio_check(api: Api) -> list[str]:
    live = api.get(MINIO_PVC)
    if live is None:
        return []
    size = (((live.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "?")
    return [f"{named(MINIO_PVC)} (MinIO's objects, {size})"]


def _minio_action(api: Api, note: Note) -> list[str]:
    found = _minio_check(api)
    if not found:
        return []
    # Nothing here writes: the volume is the only copy of the objects until the operator has copied them.
    note(
        f"kept {found[0]}: kubeflow-1.11 stores Pipelines' artifacts in SeaweedFS (Deployment kubeflow/seaweedfs, "
        f"S3 on Service kubeflow/seaweedfs port 8333; Service kubeflow/minio-service now points there too), "
        f"with the same keys (Secret kubeflow/{KEYS}). Runs recorded before the step refer to objects still "
        f"only on the MinIO volume. Copy bucket {BUCKET} across:\n{COPY_POD}\n"
        f"Delete PersistentVolumeClaim kubeflow/{MINIO_PVC.name} yourself once the copy is checked."
    )
    if api.get(MINIO) is not None:
        note("Deployment kubeflow/minio still runs (not pruned): scale it to 0 before the copy, the volume is RWO")
    if api.get(SEAWEEDFS) is None:
        note("Deployment kubeflow/seaweedfs is missing: install the kubeflow-1.11 pipelines component before the copy")
    return [f"kept {found[0]}; wrote nothing"]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        id="1.11-pipelines-db-backup",
        step=STEP,
        description=(
            "Back up Pipelines' MySQL first: this step's database migration cannot be rolled back "
            "(MySQL 8.0.26 → 8.4 on kubeflow/mysql-pv-claim, KFP 2.5 → 2.15 schema); notes the mysqldump command"
        ),
        source=(
            "release notes (back up first: cannot be rolled back); rendered diff 1.10 → 1.11 (Deployment "
            "kubeflow/mysql image, pipeline-install-config appVersion); MySQL 8.0 manual, Downgrading MySQL"
        ),
        check=_kfp_check,
        action=_kfp_action,
    ),
    Migration(
        id="1.11-katib-db-backup",
        step=STEP,
        description=(
            "Back up Katib's MySQL first: mysql:8.0.29 → mysql:8.0 (newest 8.0.x) upgrades kubeflow/katib-mysql "
            "in place, one way; notes the mysqldump command"
        ),
        source="rendered diff 1.10 → 1.11 (Deployment kubeflow/katib-mysql image); MySQL 8.0 manual, Downgrading MySQL",
        check=_katib_check,
        action=_katib_action,
    ),
    Migration(
        id="1.11-minio-to-seaweedfs",
        step=STEP,
        description=(
            "Keep MinIO's volume (kubeflow/minio-pvc) after SeaweedFS replaces MinIO, and note the commands that "
            "copy bucket mlpipeline into SeaweedFS; deletes nothing"
        ),
        source=(
            "kubeflow/manifests 26.03 README.md:577 (Upgrading and Extending); v1.11.0 README.md:418; "
            "rendered diff 1.10 → 1.11 (minio, minio-pvc, seaweedfs, minio-service)"
        ),
        check=_minio_check,
        action=_minio_action,
        when=When.AFTER,
    ),
)
