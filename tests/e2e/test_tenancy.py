"""Team namespaces against the real API server: the real RBAC authorizer (access reviews and requests
made with each user's own certificate), real quota and LimitRange admission, the NetworkPolicy's
openings, the Kubeflow Profile CRD, pruning, and the imperative commands meeting the declarative path.

One app ("tenancy") goes through the module: first on a platform without Kubeflow profiles (the
plain form), last with the profiles component added (the Profile and KFAM form)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import LiveCluster
from tests.e2e.test_apply import events_of, kfctl, mutating_requests, report_of

SUFFIX = os.urandom(2).hex()
TEAM_A, TEAM_B, TEAM_C = f"team-a-{SUFFIX}", f"team-b-{SUFFIX}", f"team-c-{SUFFIX}"
OWNER, EDITOR, VIEWER, NOBODY = (f"{who}-{SUFFIX}@company.com" for who in ("olivia", "eddie", "vera", "nobody"))
OTHER_OWNER = f"otto-{SUFFIX}@company.com"
PLAIN = ["kubeflow-namespace", "kubeflow-roles"]
WITH_PROFILES = ["istio", "kubeflow-namespace", "kubeflow-roles", "profiles"]


def tenants() -> list[dict[str, Any]]:
    return [
        {
            "name": TEAM_A,
            "owner": OWNER,
            "members": [{"user": EDITOR, "role": "edit"}, {"user": VIEWER, "role": "view"}],
            "quota": {"gpu": 1, "cpu": "4", "memory": "8Gi", "pvcs": 5},
            "limits": {"defaultRequest": {"cpu": "200m", "memory": "256Mi"}, "default": {"cpu": "1", "memory": "1Gi"}},
        },
        {"name": TEAM_B, "owner": OTHER_OWNER},
    ]


def write(directory: Path, components: list[str], team_list: list[dict[str, Any]]) -> Path:
    config = {
        "apiVersion": "kfctl.dev/v1alpha1",
        "kind": "AppConfig",
        "metadata": {"name": "tenancy"},
        "spec": {"profile": "simulated", "platform": "kubeflow-1.10", "components": components, "tenants": team_list},
    }
    path = directory / "kfctl.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def user_kubeconfig(cluster: LiveCluster, directory: Path, user: str) -> Path:
    """A kubeconfig with a client certificate for `user`, signed by the cluster's CA."""
    assert cluster.state_dir is not None, "user certificates need the simulated cluster's CA"
    pki = cluster.state_dir / "pki"
    key, csr, cert = (directory / f"{user}.{ext}" for ext in ("key", "csr", "crt"))
    run = ["openssl"]
    subprocess.run(
        [*run, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*run, "req", "-new", "-key", str(key), "-subj", f"/CN={user}", "-out", str(csr)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(pki / "ca.crt"),
            "-CAkey",
            str(pki / "ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    admin = json.loads(cluster.kubeconfig_path.read_text())
    admin["users"] = [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}]
    admin["contexts"][0]["context"]["user"] = user
    path = directory / f"{user}.kubeconfig"
    path.write_text(json.dumps(admin))
    return path


def can_i(cluster: LiveCluster, kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
    """The user's own SelfSubjectAccessReview, answered by the real authorizer."""
    result = cluster.run_kubectl("auth", "can-i", verb, resource, "-n", namespace, kubeconfig=kubeconfig)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


def deployment(name: str, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        }
    )


def rolebinding(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "self-granted", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "anyone@company.com"}],
        }
    )


@pytest.fixture(scope="module")
def app(cluster: LiveCluster, upstream: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("tenancy")
    os.environ["KFCTL_MANIFESTS_DIR"] = str(upstream)
    config = write(directory, PLAIN, tenants())
    mark = cluster.audit.mark()
    first = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert first.returncode == 0, first.stderr[-3000:]
    users = {who: user_kubeconfig(cluster, directory, who) for who in (OWNER, EDITOR, VIEWER, NOBODY)}
    yield {"directory": directory, "config": config, "report": report_of(first), "mark": mark, "users": users}
    kfctl(cluster, "delete", "--app", "tenancy", "--purge", "--yes", "-o", "json")


def test_every_role_is_what_the_real_authorizer_allows(cluster: LiveCluster, app: dict[str, Any]) -> None:
    users = app["users"]
    owner, editor, viewer = users[OWNER], users[EDITOR], users[VIEWER]
    expected = {
        # (user, verb, resource, namespace): allowed
        (owner, "create", "rolebindings", TEAM_A): True,
        (owner, "create", "deployments", TEAM_A): True,
        (owner, "create", "rolebindings", TEAM_B): False,
        (editor, "create", "deployments", TEAM_A): True,
        (editor, "create", "rolebindings", TEAM_A): False,
        (editor, "get", "pods", TEAM_B): False,
        (editor, "get", "pods", "kube-system"): False,
        (editor, "get", "secrets", "kube-system"): False,
        (viewer, "get", "pods", TEAM_A): True,
        (viewer, "create", "deployments", TEAM_A): False,
    }
    answers = {key: can_i(cluster, key[0], *key[1:]) for key in expected}
    assert answers == expected
    # The same answers to real requests made with the users' own certificates.
    created = cluster.run_kubectl("create", "-f", "-", kubeconfig=editor, input=deployment("by-editor", TEAM_A))
    assert created.returncode == 0, created.stderr
    refused = cluster.run_kubectl("create", "-f", "-", kubeconfig=editor, input=rolebinding(TEAM_A))
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    elsewhere = cluster.run_kubectl("get", "pods", "-n", TEAM_B, kubeconfig=editor)
    assert elsewhere.returncode != 0 and "forbidden" in elsewhere.stderr.lower()
    system = cluster.run_kubectl("get", "pods", "-n", "kube-system", kubeconfig=editor)
    assert system.returncode != 0 and "forbidden" in system.stderr.lower()
    viewer_write = cluster.run_kubectl("create", "-f", "-", kubeconfig=viewer, input=deployment("by-viewer", TEAM_A))
    assert viewer_write.returncode != 0 and "forbidden" in viewer_write.stderr.lower()


def test_nothing_is_granted_cluster_wide(cluster: LiveCluster, app: dict[str, Any]) -> None:
    build = subprocess.run(
        ["kfctl", "build", "-f", str(app["config"]), "tenants"], capture_output=True, text=True, check=True
    )
    objects = [o for o in yaml.safe_load_all(build.stdout) if o]
    tenant_objects = [
        o
        for o in objects
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "kubeflow-profile"
        or o["metadata"].get("namespace") in (TEAM_A, TEAM_B)
    ]
    kinds = {o["kind"] for o in tenant_objects}
    assert "ClusterRoleBinding" not in kinds and "ClusterRole" not in kinds
    bound = {o["roleRef"]["name"] for o in tenant_objects if o["kind"] == "RoleBinding"}
    assert bound <= {"kubeflow-admin", "kubeflow-edit", "kubeflow-view"}, bound  # kubeflow-roles is installed
    nobody = app["users"][NOBODY]
    for verb, resource in (("get", "namespaces"), ("list", "clusterroles"), ("get", "pods")):
        assert not can_i(cluster, nobody, verb, resource, TEAM_A)


def test_the_gpu_quota_refuses_a_pod_and_limit_range_defaults_fill_a_pod_without_requests(
    cluster: LiveCluster, app: dict[str, Any]
) -> None:
    def pod(name: str, resources: dict[str, Any]) -> str:
        container = {"name": "c", "image": "busybox", "resources": resources}
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": TEAM_A},
                "spec": {"containers": [container]},
            }
        )

    two_gpus = {"limits": {"nvidia.com/gpu": "2"}, "requests": {"nvidia.com/gpu": "2"}}
    refused = cluster.run_kubectl("create", "-f", "-", input=pod("two-gpus", two_gpus))
    assert refused.returncode != 0
    assert "exceeded quota" in refused.stderr and "requests.nvidia.com/gpu" in refused.stderr, refused.stderr
    one_gpu = {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}
    assert cluster.run_kubectl("create", "-f", "-", input=pod("one-gpu", one_gpu)).returncode == 0
    assert cluster.run_kubectl("create", "-f", "-", input=pod("no-requests", {})).returncode == 0
    filled = cluster.get_json("pod", "no-requests", "-n", TEAM_A)["spec"]["containers"][0]["resources"]
    assert filled["requests"] == {"cpu": "200m", "memory": "256Mi"}
    assert filled["limits"] == {"cpu": "1", "memory": "1Gi"}
    cluster.kubectl("delete", "pod", "one-gpu", "no-requests", "-n", TEAM_A, "--wait=false")


def test_status_shows_the_tenants_and_their_quota_use(cluster: LiveCluster, app: dict[str, Any]) -> None:
    result = kfctl(cluster, "status", "-f", str(app["config"]), "-o", "json")
    assert result.returncode == 0, result.stdout[-2000:]
    tenants = {t["name"]: t for t in report_of(result)["tenants"]}
    assert set(tenants) >= {TEAM_A, TEAM_B} and all(t["phase"] == "Active" for t in tenants.values())
    components = {c["name"]: c for c in report_of(result)["components"]}
    assert components["tenants"]["health"] == "Healthy"

    def team_a_quota() -> dict[str, Any]:
        status = report_of(kfctl(cluster, "status", "-f", str(app["config"]), "-o", "json"))
        return next(t for t in status["tenants"] if t["name"] == TEAM_A)["quota"] or {}

    # status.hard is written by the quota controller, after the apply
    cluster.wait_until("team-a's quota to be counted", lambda: bool(team_a_quota().get("hard")), timeout=60)
    quota = team_a_quota()
    assert quota["hard"]["requests.nvidia.com/gpu"] == "1" and "requests.nvidia.com/gpu" in quota["used"]


def test_isolation_opens_exactly_the_platforms_namespaces_and_dns(cluster: LiveCluster, app: dict[str, Any]) -> None:
    build = subprocess.run(["kfctl", "build", "-f", str(app["config"])], capture_output=True, text=True, check=True)
    platform_namespaces = sorted(
        o["metadata"]["name"]
        for o in yaml.safe_load_all(build.stdout)
        if o and o["kind"] == "Namespace" and o["metadata"]["name"] not in (TEAM_A, TEAM_B)
    )
    assert platform_namespaces == ["kubeflow"]  # what kubeflow-namespace renders, read from the render
    policy = cluster.get_json("networkpolicy", "kfctl-tenant-isolation", "-n", TEAM_A)["spec"]
    assert policy["podSelector"] == {} and policy["policyTypes"] == ["Ingress", "Egress"]

    def namespaces(rules: list[dict[str, Any]]) -> list[list[str]]:
        return [
            peer["namespaceSelector"]["matchExpressions"][0]["values"]
            for rule in rules
            for peer in rule.get("from", rule.get("to", []))
            if "namespaceSelector" in peer
        ]

    assert {"podSelector": {}} in policy["ingress"][0]["from"]
    assert namespaces(policy["ingress"]) == [platform_namespaces]
    assert namespaces(policy["egress"]) == [["kube-system"], platform_namespaces]
    dns = next(rule for rule in policy["egress"] if rule.get("ports"))
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def test_a_grant_is_real_survives_the_declarative_apply_and_a_revoke_takes_it_away(
    cluster: LiveCluster, app: dict[str, Any]
) -> None:
    nobody, config = app["users"][NOBODY], str(app["config"])
    assert not can_i(cluster, nobody, "get", "pods", TEAM_A)
    before = cluster.run_kubectl("get", "pods", "-n", TEAM_A, kubeconfig=nobody)
    assert before.returncode != 0 and "forbidden" in before.stderr.lower()

    granted = kfctl(cluster, "access", "grant", TEAM_A, NOBODY, "--role", "view", "-f", config, "-o", "json")
    assert granted.returncode == 0, granted.stderr[-2000:]
    assert report_of(granted)["configChanged"] is True
    assert can_i(cluster, nobody, "get", "pods", TEAM_A) and not can_i(cluster, nobody, "create", "deployments", TEAM_A)
    assert cluster.run_kubectl("get", "pods", "-n", TEAM_A, kubeconfig=nobody).returncode == 0

    # The declarative apply of the same file keeps the grant (it is in the config) and writes nothing.
    mark = cluster.audit.mark()
    again = kfctl(cluster, "apply", "-f", config, "-o", "json")
    assert again.returncode == 0 and report_of(again)["status"] == "unchanged", again.stderr[-2000:]
    assert mutating_requests(cluster, mark) == []
    assert can_i(cluster, nobody, "get", "pods", TEAM_A)
    assert kfctl(cluster, "diff", "-f", config, "-o", "json").returncode == 0

    # Written only (--no-apply, the GitOps way): diff shows the change the next apply makes.
    written = kfctl(
        cluster, "access", "grant", TEAM_A, NOBODY, "--role", "edit", "--no-apply", "-f", config, "-o", "json"
    )
    assert written.returncode == 0 and "apply" not in report_of(written)
    pending = kfctl(cluster, "diff", "-f", config, "-o", "json")
    assert pending.returncode == 1, pending.stdout[-2000:]
    assert f"user-nobody-{SUFFIX}-company-com-clusterrole-edit" in pending.stdout

    revoked = kfctl(cluster, "access", "revoke", TEAM_A, NOBODY, "-f", config, "-o", "json")
    assert revoked.returncode == 0, revoked.stderr[-2000:]
    assert not can_i(cluster, nobody, "get", "pods", TEAM_A)
    after = cluster.run_kubectl("get", "pods", "-n", TEAM_A, kubeconfig=nobody)
    assert after.returncode != 0 and "forbidden" in after.stderr.lower()
    listed = report_of(kfctl(cluster, "access", "list", TEAM_A, "-f", config, "-o", "json"))["items"]
    assert [(r["name"], r["role"]) for r in listed] == [(OWNER, "owner"), (EDITOR, "edit"), (VIEWER, "view")]


def test_a_namespace_made_by_hand_is_refused_unless_adopted(cluster: LiveCluster, app: dict[str, Any]) -> None:
    config = str(app["config"])
    cluster.kubectl("create", "namespace", TEAM_C)
    before = app["config"].read_text()
    mark = cluster.audit.mark()
    refused = kfctl(cluster, "tenant", "create", TEAM_C, "--owner", OWNER, "-f", config, "-o", "json")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert f"Namespace {TEAM_C}" in refused.stderr and "--adopt" in refused.stderr
    assert mutating_requests(cluster, mark) == []
    assert app["config"].read_text() == before  # the config is put back: it never asks for what was refused
    adopted = kfctl(cluster, "tenant", "create", TEAM_C, "--owner", OWNER, "--adopt", "-f", config, "-o", "json")
    assert adopted.returncode == 0, adopted.stderr[-2000:]
    labels = cluster.get_json("namespace", TEAM_C)["metadata"]["labels"]
    assert labels["kfctl.dev/component"] == "tenants" and labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_tenant_delete_needs_force_for_users_work_and_removing_a_tenant_keeps_its_pvcs(
    cluster: LiveCluster, app: dict[str, Any]
) -> None:
    config = str(app["config"])
    team_d = f"team-d-{SUFFIX}"
    created = kfctl(
        cluster, "tenant", "create", team_d, "--owner", OWNER, "--gpu-quota", "2", "-f", config, "-o", "json"
    )
    assert created.returncode == 0, created.stderr[-2000:]
    assert (
        cluster.get_json("resourcequota", "kfctl-tenant-quota", "-n", team_d)["spec"]["hard"]["requests.nvidia.com/gpu"]
        == "2"
    )
    again = kfctl(cluster, "tenant", "create", team_d, "--owner", OWNER, "--gpu-quota", "2", "-f", config, "-o", "json")
    assert again.returncode == 0 and report_of(again)["configChanged"] is False  # idempotent
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": team_d},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(claim))

    refused = kfctl(cluster, "tenant", "delete", team_d, "--yes", "-f", config, "-o", "json")
    assert refused.returncode == 2 and "PersistentVolumeClaim/data" in refused.stderr, refused.stderr[-2000:]
    assert team_d in app["config"].read_text()

    # Removed from the config by hand (the declarative way): its objects are pruned, its namespace and PVC kept.
    document = yaml.safe_load(app["config"].read_text())
    document["spec"]["tenants"] = [t for t in document["spec"]["tenants"] if t["name"] != team_d]
    app["config"].write_text(yaml.safe_dump(document, sort_keys=False))
    pruned = kfctl(cluster, "apply", "-f", config, "-o", "json")
    assert pruned.returncode == 0, pruned.stderr[-2000:]
    prune_events = [e for e in events_of(pruned) if e.get("event") == "prune"]
    assert any(f"Namespace {team_d}" in kept for e in prune_events for kept in e["kept"]), prune_events
    assert (
        cluster.run_kubectl(
            "get", "rolebindings,resourcequota,limitrange,networkpolicy", "-n", team_d, "-o", "name"
        ).stdout.strip()
        == ""
    )
    assert cluster.get_json("pvc", "data", "-n", team_d)["metadata"]["name"] == "data"

    # Back in the config, then deleted with --force: the namespace goes, its data with it.
    assert kfctl(cluster, "tenant", "create", team_d, "--owner", OWNER, "-f", config).returncode == 0
    forced = kfctl(cluster, "tenant", "delete", team_d, "--yes", "--force", "-f", config, "-o", "json")
    assert forced.returncode == 0, forced.stderr[-2000:]
    namespace = cluster.run_kubectl("get", "namespace", team_d, "-o", "json")
    assert namespace.returncode != 0 or json.loads(namespace.stdout)["metadata"].get("deletionTimestamp")
    assert team_d not in app["config"].read_text()


def test_bad_tenants_are_refused_before_any_request(cluster: LiveCluster, app: dict[str, Any], tmp_path: Path) -> None:
    cases = [
        ({"name": "bad", "owner": "alice"}, "spec.tenants[0].owner"),
        ({"name": "bad", "owner": OWNER, "members": [{"group": "system:authenticated"}]}, "system group"),
        ({"name": "kube-system", "owner": OWNER}, "the platform's own"),
        ({"name": "bad", "owner": OWNER, "quota": {"cpu": "lots"}}, "spec.tenants[0].quota.cpu"),
    ]
    for tenant, expected in cases:
        config = write(tmp_path, PLAIN, [tenant])
        mark = cluster.audit.mark()
        result = kfctl(cluster, "apply", "-f", str(config))
        assert result.returncode == 2, (tenant, result.stderr)
        assert expected in result.stderr, (tenant, result.stderr)
        assert mutating_requests(cluster, mark) == []


def test_with_kubeflow_profiles_a_profile_and_kfam_bindings(cluster: LiveCluster, app: dict[str, Any]) -> None:
    """The same tenants once the platform has the profiles component: the Profile goes to the real
    CRD, members get KFAM's RoleBinding and AuthorizationPolicy, the plain ResourceQuota is pruned
    (the Profile's resourceQuotaSpec is the quota; the profile controller, absent here, writes it)."""
    config = write(app["directory"], WITH_PROFILES, tenants())
    result = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    profile = cluster.get_json("profile", TEAM_A)
    assert profile["spec"]["owner"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OWNER}
    assert profile["spec"]["resourceQuotaSpec"]["hard"] == {
        "requests.nvidia.com/gpu": "1",
        "requests.cpu": "4",
        "requests.memory": "8Gi",
        "persistentvolumeclaims": "5",
    }
    namespace = cluster.get_json("namespace", TEAM_A)["metadata"]
    assert namespace["annotations"]["owner"] == OWNER  # what the profile controller accepts as the profile's own
    labels = namespace["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline" and labels["istio-injection"] == "enabled"
    assert (
        labels["app.kubernetes.io/part-of"] == "kubeflow-profile"
        and labels["katib.kubeflow.org/metrics-collector-injection"] == "enabled"
    )
    name = f"user-eddie-{SUFFIX}-company-com-clusterrole-edit"
    binding = cluster.get_json("rolebinding", name, "-n", TEAM_A)
    assert binding["metadata"]["annotations"] == {"role": "edit", "user": EDITOR}
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "kubeflow-edit",
    }
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": EDITOR}]
    policy = cluster.get_json("authorizationpolicies.security.istio.io", name, "-n", TEAM_A)
    assert policy["metadata"]["annotations"] == {"role": "edit", "user": EDITOR}
    rule = policy["spec"]["rules"][0]
    assert rule["when"] == [{"key": "request.headers[kubeflow-userid]", "values": [EDITOR]}]
    assert rule["from"][0]["source"]["principals"] == [
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        "cluster.local/ns/kubeflow/sa/ml-pipeline-ui",
    ]
    # The owner's own bindings are the profile controller's: kfctl writes none for the owner.
    assert (
        cluster.run_kubectl(
            "get", "rolebinding", f"user-olivia-{SUFFIX}-company-com-clusterrole-admin", "-n", TEAM_A
        ).returncode
        != 0
    )
    assert cluster.run_kubectl("get", "resourcequota", "kfctl-tenant-quota", "-n", TEAM_A).returncode != 0
    assert can_i(cluster, app["users"][EDITOR], "create", "deployments", TEAM_A)


def test_a_hundred_tenants_in_one_apply_and_a_no_op_apply_writes_nothing(
    cluster: LiveCluster, app: dict[str, Any]
) -> None:
    many = [
        {"name": f"many-{index:03d}-{SUFFIX}", "owner": OWNER, "members": [{"user": EDITOR, "role": "view"}]}
        for index in range(100)
    ]
    config = write(app["directory"], WITH_PROFILES, [*tenants(), *many])
    applied = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert applied.returncode == 0, applied.stderr[-3000:]
    report = report_of(applied)
    tenants_row = next(c for c in report["components"] if c["name"] == "tenants")
    assert tenants_row["applied"] >= 100 * 5  # namespace, Profile, RoleBinding, AuthorizationPolicy, LimitRange, …
    print(f"100 tenants: {report['seconds']}s, {report['requests']} requests, {report['writes']} writes")
    mark = cluster.audit.mark()
    again = kfctl(cluster, "apply", "-f", str(config), "-o", "json")
    assert again.returncode == 0 and report_of(again)["status"] == "unchanged", again.stderr[-2000:]
    assert mutating_requests(cluster, mark) == []
    assert len(cluster.get_json("profiles")["items"]) >= 102
