"""Readiness rules (kstatus): live objects as the API server returns them, one rule and outcome per test."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import yaml

from kfctl.platform.readiness import (
    RELAX_CERTIFICATE_ISSUANCE,
    RELAX_LOAD_BALANCERS,
    RULES,
    Readiness,
    State,
    readiness,
    summarize,
)

CERTS = frozenset({RELAX_CERTIFICATE_ISSUANCE})
# base64 of a (short) PEM certificate, as cainjector writes it
CA_BUNDLE = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def load(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(textwrap.dedent(text))
    assert isinstance(loaded, dict)
    return loaded


def check(obj: dict[str, Any] | str, state: State, *fragments: str, relax: frozenset[str] = frozenset()) -> Readiness:
    result = readiness(load(obj) if isinstance(obj, str) else obj, relax=relax)
    assert result.state is state, result
    assert result.ready is (state is State.CURRENT)
    for fragment in fragments:
        assert fragment in result.message, result.message
    assert "\n" not in result.message
    return result


# -- generic checks -------------------------------------------------------------------------------------


def test_missing_object_is_not_found() -> None:
    result = readiness(None)
    assert result.state is State.NOT_FOUND
    assert result.message == "not found"
    assert not result.ready


def test_deletion_timestamp_means_being_deleted_and_names_the_finalizers() -> None:
    check(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ml-pipeline
          namespace: kubeflow
          generation: 4
          deletionTimestamp: "2025-03-01T10:00:00Z"
          finalizers: [foregroundDeletion]
        spec: {replicas: 1}
        status: {observedGeneration: 4, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1}
        """,
        State.IN_PROGRESS,
        "being deleted",
        "foregroundDeletion",
    )


def test_observed_generation_lag_waits_for_the_controller() -> None:
    check(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: ml-pipeline, namespace: kubeflow, generation: 3}
        spec: {replicas: 1}
        status:
          observedGeneration: 2
          replicas: 1
          updatedReplicas: 1
          readyReplicas: 1
          availableReplicas: 1
        """,
        State.IN_PROGRESS,
        "waiting for the controller to observe generation 3",
        "observed 2",
    )


def test_observed_generation_written_as_a_string_still_counts() -> None:
    # Istio's status comes from protobuf, whose JSON mapping writes int64 as a string.
    check(
        """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: kubeflow-gateway, namespace: kubeflow, generation: 2}
        status: {observedGeneration: "1"}
        """,
        State.IN_PROGRESS,
        "generation 2",
    )


def test_stalled_condition_fails() -> None:
    check(
        """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: kubeflow, namespace: flux-system, generation: 1}
        status:
          observedGeneration: 1
          conditions:
          - {type: Ready, status: "False", reason: BuildFailed, message: "kustomize build failed"}
          - {type: Stalled, status: "True", reason: BuildFailed, message: "kustomize build failed"}
        """,
        State.FAILED,
        "stalled: BuildFailed: kustomize build failed",
    )


def test_reconciling_condition_is_in_progress() -> None:
    check(
        """
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {name: kubeflow, namespace: flux-system, generation: 1}
        status:
          observedGeneration: 1
          conditions:
          - {type: Reconciling, status: "True", reason: Progressing, message: "Reconciliation in progress"}
          - {type: Ready, status: Unknown, reason: Progressing, message: "Reconciliation in progress"}
        """,
        State.IN_PROGRESS,
        "reconciling: Progressing",
    )


def test_generic_ready_false_is_in_progress_with_its_reason() -> None:
    check(
        """
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata: {name: sklearn-iris, namespace: kubeflow-user-example-com, generation: 1}
        status:
          observedGeneration: 1
          conditions:
          - type: Ready
            status: "False"
            reason: RevisionMissing
            message: Configuration "sklearn-iris-predictor" is waiting for a Revision to become ready.
        """,
        State.IN_PROGRESS,
        "not Ready: RevisionMissing: Configuration",
    )


def test_generic_ready_true_is_current() -> None:
    check(
        """
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata: {name: hello, namespace: default, generation: 2}
        status:
          observedGeneration: 2
          conditions:
          - {type: ConfigurationsReady, status: "True"}
          - {type: Ready, status: "True"}
          - {type: RoutesReady, status: "True"}
        """,
        State.CURRENT,
        "Ready",
    )


def test_unknown_custom_resource_without_status_is_current() -> None:
    check(
        """
        apiVersion: kubeflow.org/v1
        kind: PodDefault
        metadata: {name: access-ml-pipeline, namespace: kubeflow-user-example-com, generation: 1}
        spec:
          desc: Allow access to Kubeflow Pipelines
          selector: {matchLabels: {access-ml-pipeline: "true"}}
        """,
        State.CURRENT,
        "no Ready condition",
    )


def test_configmap_has_nothing_to_wait_for() -> None:
    check(
        "{apiVersion: v1, kind: ConfigMap, metadata: {name: pipeline-install-config, namespace: kubeflow}}",
        State.CURRENT,
        "current",
    )


# -- Deployment ------------------------------------------------------------------------------------------

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: ml-pipeline, namespace: kubeflow, generation: 2}
spec:
  replicas: 3
  progressDeadlineSeconds: 600
  strategy: {type: RollingUpdate}
status:
  observedGeneration: 2
  replicas: 3
  updatedReplicas: 3
  readyReplicas: 3
  availableReplicas: 3
  conditions:
  - type: Available
    status: "True"
    reason: MinimumReplicasAvailable
    message: Deployment has minimum availability.
  - type: Progressing
    status: "True"
    reason: NewReplicaSetAvailable
    message: ReplicaSet "ml-pipeline-6d8f9b7c4d" has successfully progressed.
"""


def deployment(**status: Any) -> dict[str, Any]:
    obj = load(DEPLOYMENT)
    obj["status"].update(status)
    return obj


def test_deployment_available() -> None:
    check(deployment(), State.CURRENT, "3/3 replicas available")


def test_deployment_rolling_out_counts_available_replicas() -> None:
    obj = deployment(availableReplicas=2, readyReplicas=2)
    obj["status"]["conditions"][1].update(reason="ReplicaSetUpdated", message='ReplicaSet "x" is progressing.')
    check(obj, State.IN_PROGRESS, "2/3 replicas available")


def test_deployment_with_too_few_pods_created() -> None:
    check(deployment(replicas=1, updatedReplicas=1), State.IN_PROGRESS, "1/3 replicas created")


def test_deployment_with_old_pods_still_terminating() -> None:
    check(deployment(replicas=4), State.IN_PROGRESS, "replicas pending termination: 1")


def test_deployment_not_updated_yet() -> None:
    check(deployment(updatedReplicas=1), State.IN_PROGRESS, "1/3 replicas updated")


def test_deployment_progress_deadline_exceeded_fails() -> None:
    obj = deployment(availableReplicas=0, readyReplicas=0)
    obj["status"]["conditions"][1].update(
        status="False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "ml-pipeline-6d8f9b7c4d" has timed out progressing.',
    )
    check(obj, State.FAILED, "progress deadline exceeded", "has timed out progressing")


def test_deployment_counts_complete_but_not_available() -> None:
    obj = deployment()
    obj["status"]["conditions"][0].update(
        status="False", reason="MinimumReplicasUnavailable", message="Deployment does not have minimum availability."
    )
    check(obj, State.IN_PROGRESS, "not Available: MinimumReplicasUnavailable")


def test_deployment_new_replicaset_not_yet_reported_available() -> None:
    obj = deployment()
    obj["status"]["conditions"][1].update(reason="ReplicaSetUpdated")
    check(obj, State.IN_PROGRESS, "new ReplicaSet")


def test_deployment_replicas_default_to_one() -> None:
    obj = deployment(replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    del obj["spec"]["replicas"]
    check(obj, State.CURRENT, "1/1 replicas available")


# -- StatefulSet, DaemonSet, ReplicaSet -------------------------------------------------------------------

STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: metacontroller, namespace: kubeflow, generation: 1}
spec:
  replicas: 3
  updateStrategy: {type: RollingUpdate}
status:
  observedGeneration: 1
  replicas: 3
  readyReplicas: 3
  currentReplicas: 3
  updatedReplicas: 3
  availableReplicas: 3
  currentRevision: metacontroller-5c9f7d6b8
  updateRevision: metacontroller-5c9f7d6b8
"""


def statefulset(spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    obj = load(STATEFULSET)
    obj["spec"].update(spec or {})
    obj["status"].update(status)
    return obj


def test_statefulset_ready() -> None:
    check(statefulset(), State.CURRENT, "3/3 replicas ready")


def test_statefulset_waits_for_ready_replicas() -> None:
    check(statefulset(readyReplicas=1), State.IN_PROGRESS, "1/3 replicas ready")


def test_statefulset_rolling_to_a_new_revision() -> None:
    obj = statefulset(currentReplicas=3, updatedReplicas=1, updateRevision="metacontroller-7b4d9c5f6")
    check(obj, State.IN_PROGRESS, "rolling out revision metacontroller-7b4d9c5f6")


def test_statefulset_partitioned_rollout() -> None:
    partitioned = {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}
    check(statefulset(partitioned, updatedReplicas=0), State.IN_PROGRESS, "0/1 replicas updated (partition 2)")
    done = statefulset(partitioned, updatedReplicas=1, updateRevision="metacontroller-7b4d9c5f6")
    check(done, State.CURRENT, "partitioned rollout complete")


def test_statefulset_on_delete_only_waits_for_readiness() -> None:
    on_delete = {"updateStrategy": {"type": "OnDelete"}}
    stale = statefulset(on_delete, updatedReplicas=0, updateRevision="metacontroller-7b4d9c5f6")
    check(stale, State.CURRENT, "3/3 replicas ready", "OnDelete")
    check(statefulset(on_delete, readyReplicas=2), State.IN_PROGRESS, "2/3 replicas ready")


DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nvidia-device-plugin-daemonset, namespace: kube-system, generation: 1}
spec:
  selector: {matchLabels: {name: nvidia-device-plugin-ds}}
status:
  observedGeneration: 1
  desiredNumberScheduled: 3
  currentNumberScheduled: 3
  updatedNumberScheduled: 3
  numberAvailable: 3
  numberReady: 3
  numberMisscheduled: 0
"""


def test_daemonset_ready() -> None:
    check(DAEMONSET, State.CURRENT, "3/3 pods ready")


def test_daemonset_rolling_update() -> None:
    obj = load(DAEMONSET)
    obj["status"].update(updatedNumberScheduled=2, numberAvailable=2)
    check(obj, State.IN_PROGRESS, "2/3 pods updated")


def test_daemonset_not_yet_observed() -> None:
    obj = load(DAEMONSET)
    obj["status"] = {}
    check(obj, State.IN_PROGRESS, "waiting for the controller")


def test_replicaset_ready_and_failing() -> None:
    text = """
        apiVersion: apps/v1
        kind: ReplicaSet
        metadata: {name: ml-pipeline-6d8f9b7c4d, namespace: kubeflow, generation: 1}
        spec: {replicas: 2}
        status:
          observedGeneration: 1
          replicas: 2
          fullyLabeledReplicas: 2
          readyReplicas: 2
          availableReplicas: 2
        """
    check(text, State.CURRENT, "2/2 replicas available")
    failing = load(text)
    failing["status"] = {
        "observedGeneration": 1,
        "replicas": 0,
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "ml-pipeline-6d8f9b7c4d-" is forbidden: exceeded quota: kf-resource-quota',
            }
        ],
    }
    check(failing, State.IN_PROGRESS, "replica failure: FailedCreate", "exceeded quota")


# -- Job, CronJob, Pod --------------------------------------------------------------------------------------

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: katib-db-migration, namespace: kubeflow, generation: 1}
spec: {completions: 1, parallelism: 1, backoffLimit: 4}
status:
  startTime: "2025-03-01T10:00:00Z"
"""


def test_job_running() -> None:
    obj = load(JOB)
    obj["status"].update(active=1, failed=1)
    check(obj, State.IN_PROGRESS, "1 active, 0/1 succeeded, 1 failed")


def test_job_complete() -> None:
    obj = load(JOB)
    obj["status"].update(succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
    check(obj, State.CURRENT, "complete, 1/1 succeeded")


def test_job_failed() -> None:
    obj = load(JOB)
    obj["status"].update(
        failed=5,
        conditions=[
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    )
    check(obj, State.FAILED, "failed: BackoffLimitExceeded: Job has reached the specified backoff limit")


def test_cronjob_is_always_current() -> None:
    check(
        """
        apiVersion: batch/v1
        kind: CronJob
        metadata: {name: profile-cleanup, namespace: kubeflow, generation: 1}
        spec: {schedule: "0 * * * *"}
        status: {}
        """,
        State.CURRENT,
        "nothing to wait for",
    )


POD = """
apiVersion: v1
kind: Pod
metadata: {name: ml-pipeline-6d8f9b7c4d-x2x7q, namespace: kubeflow}
spec:
  containers: [{name: ml-pipeline-api-server, image: ghcr.io/kubeflow/kfp-api-server:2.4.0}]
status:
  phase: Running
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Initialized, status: "True"}
  - {type: ContainersReady, status: "True"}
  - {type: Ready, status: "True"}
  containerStatuses:
  - name: ml-pipeline-api-server
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2025-03-01T10:00:00Z"}}
"""


def test_pod_ready() -> None:
    check(POD, State.CURRENT, "Ready")


def test_pod_pulling_image_in_back_off_says_so() -> None:
    obj = load(POD)
    obj["status"].update(
        phase="Pending",
        conditions=[
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
        containerStatuses=[
            {
                "name": "ml-pipeline-api-server",
                "ready": False,
                "state": {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "ghcr.io/kubeflow/kfp-api-server:2.4.0"',
                    }
                },
            }
        ],
    )
    check(obj, State.IN_PROGRESS, "container ml-pipeline-api-server waiting: ImagePullBackOff", "Back-off pulling")


def test_pod_crash_looping_keeps_waiting() -> None:
    obj = load(POD)
    obj["status"]["conditions"][3].update(status="False", reason="ContainersNotReady")
    obj["status"]["containerStatuses"][0].update(
        ready=False, restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s"}}
    )
    check(obj, State.IN_PROGRESS, "CrashLoopBackOff")


def test_pod_unschedulable() -> None:
    obj = load(POD)
    obj["status"] = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        ],
    }
    check(obj, State.IN_PROGRESS, "not scheduled: Unschedulable: 0/3 nodes are available")


def test_pod_succeeded_and_failed() -> None:
    obj = load(POD)
    obj["status"] = {"phase": "Succeeded"}
    check(obj, State.CURRENT, "completed")
    obj["status"] = {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
    check(obj, State.FAILED, "failed: Evicted: The node was low on resource")
    obj["status"] = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "main", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}},
        ],
    }
    check(obj, State.FAILED, "container main exited with 2 (Error)")


# -- PVC, Service, Namespace -----------------------------------------------------------------------------

PVC = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: mysql-pv-claim, namespace: kubeflow}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 20Gi}}
  storageClassName: standard
status: {phase: Pending}
"""


def test_pvc_pending_then_bound() -> None:
    check(PVC, State.IN_PROGRESS, "claim is Pending")
    bound = load(PVC)
    bound["spec"]["volumeName"] = "pvc-0b8c5e2e-5a1f-4c8e-9c0e-3f2d7a9b1c4d"
    bound["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "20Gi"}}
    check(bound, State.CURRENT, "bound to pvc-0b8c5e2e")


def test_pvc_lost_is_waited_for_the_controller_binds_it_again_when_the_volume_is_seen() -> None:
    lost = load(PVC)
    lost["spec"]["volumeName"] = "pvc-1"
    lost["status"] = {"phase": "Lost"}
    check(lost, State.IN_PROGRESS, "claim lost its volume pvc-1; waiting for it to be bound again")


GATEWAY_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  type: LoadBalancer
  clusterIP: 10.96.12.34
  ports: [{name: http2, port: 80, targetPort: 8080}]
  selector: {app: istio-ingressgateway, istio: ingressgateway}
status:
  loadBalancer: {}
"""


def test_load_balancer_waits_for_an_address() -> None:
    check(GATEWAY_SERVICE, State.IN_PROGRESS, "load balancer address")


def test_load_balancer_relaxed_is_current_and_says_so() -> None:
    relax = frozenset({RELAX_LOAD_BALANCERS})
    check(GATEWAY_SERVICE, State.CURRENT, "load balancer address", "load-balancers relaxed", relax=relax)


def test_load_balancer_with_an_address() -> None:
    obj = load(GATEWAY_SERVICE)
    obj["status"]["loadBalancer"] = {"ingress": [{"ip": "203.0.113.10", "ipMode": "VIP"}]}
    check(obj, State.CURRENT, "load balancer at 203.0.113.10")


def test_cluster_ip_service_is_current() -> None:
    check(
        """
        apiVersion: v1
        kind: Service
        metadata: {name: ml-pipeline, namespace: kubeflow}
        spec: {type: ClusterIP, clusterIP: 10.96.0.42, ports: [{port: 8888}]}
        status: {loadBalancer: {}}
        """,
        State.CURRENT,
        "ClusterIP service",
    )


NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata:
  name: kubeflow-user-example-com
  labels: {kubernetes.io/metadata.name: kubeflow-user-example-com}
spec: {finalizers: [kubernetes]}
status: {phase: Active}
"""


def test_namespace_active() -> None:
    check(NAMESPACE, State.CURRENT, "Active")


def test_namespace_terminating_names_what_remains() -> None:
    obj = load(NAMESPACE)
    obj["metadata"]["deletionTimestamp"] = "2025-03-01T10:00:00Z"
    obj["status"] = {
        "phase": "Terminating",
        "conditions": [
            {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "reason": "ResourcesDiscovered"},
            {
                "type": "NamespaceContentRemaining",
                "status": "True",
                "reason": "SomeResourcesRemain",
                "message": "Some resources are remaining: notebooks.kubeflow.org has 1 resource instances",
            },
        ],
    }
    check(obj, State.IN_PROGRESS, "being deleted", "notebooks.kubeflow.org has 1 resource instances")
    # The Namespace rule itself, for a Terminating phase reported without the timestamp.
    del obj["metadata"]["deletionTimestamp"]
    result = RULES[("", "Namespace")](obj, frozenset())
    assert result.state is State.IN_PROGRESS
    assert "namespace is terminating" in result.message


# -- CustomResourceDefinition ---------------------------------------------------------------------------

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: notebooks.kubeflow.org
  generation: 1
  annotations:
    cert-manager.io/inject-ca-from: kubeflow/serving-cert
spec:
  group: kubeflow.org
  names: {kind: Notebook, plural: notebooks, singular: notebook, listKind: NotebookList}
  scope: Namespaced
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        caBundle: Cg==
        service: {namespace: kubeflow, name: notebook-controller-webhook-service, path: /convert, port: 443}
status:
  acceptedNames: {kind: Notebook, plural: notebooks, singular: notebook, listKind: NotebookList}
  storedVersions: [v1]
  conditions:
  - type: NamesAccepted
    status: "True"
    reason: NoConflicts
    message: no conflicts found
  - type: Established
    status: "True"
    reason: InitialNamesAccepted
    message: the initial names have been accepted
"""


def crd(ca_bundle: str | None = None) -> dict[str, Any]:
    obj = load(CRD)
    if ca_bundle is not None:
        obj["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] = ca_bundle
    return obj


def test_crd_established() -> None:
    obj = crd(CA_BUNDLE)
    check(obj, State.CURRENT, "Established")
    del obj["metadata"]["annotations"]
    obj["spec"]["conversion"] = {"strategy": "None"}
    check(obj, State.CURRENT, "Established")


def test_crd_installing() -> None:
    obj = crd(CA_BUNDLE)
    obj["status"]["conditions"][1].update(status="False", reason="Installing", message="the initial names have been")
    check(obj, State.IN_PROGRESS, "not Established: Installing")


def test_crd_names_not_accepted_fails() -> None:
    obj = crd(CA_BUNDLE)
    obj["status"]["conditions"] = [
        {
            "type": "NamesAccepted",
            "status": "False",
            "reason": "PluralConflict",
            "message": '"notebooks" is already in use',
        },
        {"type": "Established", "status": "False", "reason": "NotAccepted", "message": "not all names are accepted"},
    ]
    check(obj, State.FAILED, "names not accepted: PluralConflict", "already in use")


def test_crd_conversion_webhook_waits_for_the_injected_ca() -> None:
    # "Cg==" is kubebuilder's placeholder (a newline): not a CA yet, and neither is an empty bundle.
    check(crd(), State.IN_PROGRESS, "waiting for cert-manager to inject the CA bundle from Certificate kubeflow/")
    check(crd(""), State.IN_PROGRESS, "inject the CA bundle")


def test_crd_conversion_webhook_relaxed() -> None:
    check(crd(), State.CURRENT, "inject the CA bundle", "certificate-issuance relaxed", relax=CERTS)


# -- webhook configurations, APIService --------------------------------------------------------------------

WEBHOOKS = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: katib.kubeflow.org
  annotations:
    cert-manager.io/inject-ca-from: kubeflow/katib-webhook-cert
webhooks:
- name: validator.experiment.katib.kubeflow.org
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: katib-controller, namespace: kubeflow, path: /validate-experiment}
  rules: [{apiGroups: [kubeflow.org], apiVersions: [v1beta1], operations: [CREATE, UPDATE], resources: [experiments]}]
- name: validator.pod.katib.kubeflow.org
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    caBundle: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    service: {name: katib-controller, namespace: kubeflow, path: /validate-pod}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}]
"""


def test_webhook_configuration_waits_for_every_ca_bundle() -> None:
    check(WEBHOOKS, State.IN_PROGRESS, "inject the CA bundle from Certificate kubeflow/katib-webhook-cert into 1/2")


def test_webhook_configuration_relaxed() -> None:
    check(WEBHOOKS, State.CURRENT, "certificate-issuance relaxed", relax=CERTS)


def test_webhook_configuration_injected() -> None:
    obj = load(WEBHOOKS)
    obj["kind"] = "MutatingWebhookConfiguration"
    obj["webhooks"][0]["clientConfig"]["caBundle"] = CA_BUNDLE
    check(obj, State.CURRENT, "webhooks configured: 2")


def test_webhook_configuration_without_injection_has_nothing_to_wait_for() -> None:
    obj = load(WEBHOOKS)
    del obj["metadata"]["annotations"]
    check(obj, State.CURRENT, "webhooks configured: 2")


def test_webhook_configuration_from_a_ca_secret() -> None:
    obj = load(WEBHOOKS)
    obj["metadata"]["annotations"] = {"cert-manager.io/inject-ca-from-secret": "cert-manager/cert-manager-webhook-ca"}
    check(obj, State.IN_PROGRESS, "from Secret cert-manager/cert-manager-webhook-ca")


API_SERVICE = """
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: {name: metrics-server, namespace: kube-system}
status:
  conditions:
  - type: Available
    status: "False"
    reason: FailedDiscoveryCheck
    message: 'failing or missing response from https://10.96.5.6:443/apis/metrics.k8s.io/v1beta1'
"""


def test_api_service_unavailable_then_available() -> None:
    check(API_SERVICE, State.IN_PROGRESS, "not Available: FailedDiscoveryCheck")
    obj = load(API_SERVICE)
    obj["status"]["conditions"][0].update(status="True", reason="Passed", message="all checks passed")
    check(obj, State.CURRENT, "Available")


# -- cert-manager --------------------------------------------------------------------------------------------

CERTIFICATE = """
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: serving-cert, namespace: kubeflow, generation: 1}
spec:
  commonName: notebook-controller-webhook-service.kubeflow.svc
  dnsNames: [notebook-controller-webhook-service.kubeflow.svc]
  issuerRef: {kind: Issuer, name: selfsigned-issuer}
  secretName: webhook-server-cert
status:
  conditions:
  - type: Issuing
    status: "True"
    reason: DoesNotExist
    message: Issuing certificate as Secret does not exist
  - type: Ready
    status: "False"
    reason: DoesNotExist
    message: Issuing certificate as Secret does not exist
"""


def test_certificate_waits_for_issuance() -> None:
    check(CERTIFICATE, State.IN_PROGRESS, "not Ready: DoesNotExist: Issuing certificate")


def test_certificate_relaxed() -> None:
    check(CERTIFICATE, State.CURRENT, "not Ready", "certificate-issuance relaxed", relax=CERTS)


def test_certificate_issued() -> None:
    obj = load(CERTIFICATE)
    obj["status"]["conditions"] = [{"type": "Ready", "status": "True", "reason": "Ready"}]
    check(obj, State.CURRENT, "Ready")


def test_cluster_issuer_without_status_waits() -> None:
    text = "{apiVersion: cert-manager.io/v1, kind: ClusterIssuer, metadata: {name: kubeflow-self-signing-issuer}}"
    check(text, State.IN_PROGRESS, "waiting for the Ready condition")
    check(text, State.CURRENT, "relaxed", relax=CERTS)


# -- the API around the rules -------------------------------------------------------------------------------


def test_summarize_names_kind_namespace_and_name() -> None:
    assert summarize(load(PVC)) == "PersistentVolumeClaim kubeflow/mysql-pv-claim: claim is Pending"
    assert summarize(load(API_SERVICE)).startswith("APIService v1beta1.metrics.k8s.io: not Available")


def test_messages_are_one_short_line() -> None:
    obj = load(CERTIFICATE)
    obj["status"]["conditions"][1]["message"] = "Issuing failed:\n" + "x" * 500
    result = check(obj, State.IN_PROGRESS, "Issuing failed: xxx")
    assert len(result.message) <= 200
    assert result.message.endswith("...")


def test_rules_extend_without_touching_the_table() -> None:
    def gateway(obj: Any, relax: frozenset[str]) -> Readiness:
        return Readiness(State.IN_PROGRESS, "waiting for the gateway")

    rules = {**RULES, ("networking.istio.io", "Gateway"): gateway}
    obj = load("{apiVersion: networking.istio.io/v1, kind: Gateway, metadata: {name: kubeflow-gateway}}")
    assert readiness(obj, rules=rules) == Readiness(State.IN_PROGRESS, "waiting for the gateway")
    assert readiness(obj).state is State.CURRENT
    with pytest.raises(TypeError):
        RULES[("networking.istio.io", "Gateway")] = gateway  # type: ignore[index]
