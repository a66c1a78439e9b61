"""Tenant objects from the config and the rendered platform, and the imperative commands' edits of
kfctl.yaml (round-trips that keep the user's comments and refuse what would not load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kfctl.config.app import load_app_config
from kfctl.config.tenants import member
from kfctl.errors import InputError
from kfctl.render.service import RenderOptions, build
from kfctl.tenancy.edit import TenantSpec, create_tenant, delete_tenant, set_access
from kfctl.tenancy.objects import binding_name, quota_hard

CONFIG = """# the team's platform
apiVersion: kfctl.dev/v1alpha1
kind: AppConfig
metadata: {{name: teams}}
spec:
  profile: simulated
  platform: kubeflow-1.10
  components: {components}
  tenants:
  # research first
  - name: research
    owner: rita@company.com
    members:
    - {{user: sam@company.com, role: view}}  # read-only
    quota: {{gpu: 2, cpu: "8", storageClasses: {{fast: 100Gi}}}}
"""


def write(tmp_path: Path, components: str = "[kubeflow-roles]") -> Path:
    path = tmp_path / "kfctl.yaml"
    path.write_text(CONFIG.format(components=components))
    return path


def tenant_objects(path: Path, upstream: Path) -> dict[tuple[str, str], dict[str, Any]]:
    result = build(RenderOptions(path, manifests_dir=upstream))
    tenants = next(c for c in result.rendered if c.name == "tenants")
    return {(o["kind"], o["metadata"]["name"]): o for o in tenants.objects}


@pytest.mark.parametrize(
    ("name", "kind", "role", "expected"),
    [
        ("alice@company.com", "User", "edit", "user-alice-company-com-clusterrole-edit"),
        ("Bob.Smith+ml@Company.COM", "User", "view", "user-bob-smith-ml-company-com-clusterrole-view"),
        ("ml-team", "Group", "admin", "group-ml-team-clusterrole-admin"),
    ],
)
def test_binding_names_are_kfams(name: str, kind: str, role: str, expected: str) -> None:
    assert binding_name(member(name, role, group=kind == "Group")) == expected


def test_quota_counts_gpus_always_and_the_rest_as_asked(tmp_path: Path) -> None:
    tenant = load_app_config(write(tmp_path)).tenants[0]
    assert quota_hard(tenant) == {
        "requests.nvidia.com/gpu": "2",
        "requests.cpu": "8",
        "fast.storageclass.storage.k8s.io/requests.storage": "100Gi",
    }
    path = tmp_path / "kfctl.yaml"
    path.write_text(path.read_text().replace('    quota: {gpu: 2, cpu: "8", storageClasses: {fast: 100Gi}}\n', ""))
    assert quota_hard(load_app_config(path).tenants[0]) == {"requests.nvidia.com/gpu": "0"}  # no GPUs unless granted


def test_without_profiles_the_owner_is_admin_and_roles_are_kubeflows(tmp_path: Path, upstream: Path) -> None:
    objects = tenant_objects(write(tmp_path), upstream)
    assert ("Profile", "research") not in objects
    owner = objects[("RoleBinding", "user-rita-company-com-clusterrole-admin")]
    assert owner["roleRef"]["name"] == "kubeflow-admin"
    assert objects[("ResourceQuota", "kfctl-tenant-quota")]["spec"]["hard"]["requests.nvidia.com/gpu"] == "2"
    assert all(o["kind"] not in ("ClusterRoleBinding", "ClusterRole") for o in objects.values())


def test_without_kubeflow_roles_the_built_in_roles(tmp_path: Path, upstream: Path) -> None:
    objects = tenant_objects(write(tmp_path, "[kubeflow-namespace]"), upstream)
    bound = {o["roleRef"]["name"] for o in objects.values() if o["kind"] == "RoleBinding"}
    assert bound == {"admin", "view"}
    policy = objects[("NetworkPolicy", "kfctl-tenant-isolation")]["spec"]
    opened = [p for rule in policy["ingress"] for p in rule["from"] if "namespaceSelector" in p]
    assert opened[0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kubeflow"]


def test_with_profiles_a_profile_and_kfam_objects_from_the_rendered_settings(tmp_path: Path, upstream: Path) -> None:
    objects = tenant_objects(write(tmp_path, "[istio, kubeflow-namespace, kubeflow-roles, profiles]"), upstream)
    profile = objects[("Profile", "research")]
    assert profile["apiVersion"] == "kubeflow.org/v1"  # the CRD's storage version
    assert profile["spec"]["resourceQuotaSpec"]["hard"]["requests.cpu"] == "8"
    assert ("ResourceQuota", "kfctl-tenant-quota") not in objects
    assert ("RoleBinding", "user-rita-company-com-clusterrole-admin") not in objects  # the controller's
    policy = objects[("AuthorizationPolicy", "user-sam-company-com-clusterrole-view")]
    assert policy["apiVersion"] == "security.istio.io/v1beta1"
    assert policy["spec"]["rules"][0]["when"][0] == {
        "key": "request.headers[kubeflow-userid]",
        "values": ["sam@company.com"],
    }
    labels = objects[("Namespace", "research")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"  # applications/profiles/pss's level
    assert labels["pipelines.kubeflow.org/enabled"] == "true"


def test_a_tenant_alone_brings_only_what_it_needs(tmp_path: Path, upstream: Path) -> None:
    path = write(tmp_path, "[cert-manager, kubeflow-namespace, kubeflow-roles]")
    result = build(RenderOptions(path, manifests_dir=upstream, components=["tenants"]))
    assert sorted(c.name for c in result.rendered) == ["kubeflow-roles", "tenants"]
    assert result.app.waves == [["kubeflow-roles"], ["tenants"]]


def test_edits_keep_comments_and_are_idempotent(tmp_path: Path) -> None:
    path = write(tmp_path)
    spec = TenantSpec("vision", "vic@company.com", [member("ml-vision", "edit", group=True)], {"gpu": 4})
    assert create_tenant(path, spec).changed
    assert not create_tenant(path, spec).changed
    text = path.read_text()
    assert "# the team's platform" in text and "# read-only" in text and "# research first" in text
    assert 'cpu: "8"' in text  # quoting kept
    config = load_app_config(path)
    assert [t.name for t in config.tenants] == ["research", "vision"]
    assert config.tenants[1].members == [member("ml-vision", "edit", group=True)]
    with pytest.raises(InputError, match="already exists"):
        create_tenant(path, TenantSpec("vision", "other@company.com", [], {}))

    assert set_access(path, "research", member("tom@company.com", "edit")).changed
    assert set_access(path, "research", member("sam@company.com", "admin")).changed  # the role is replaced
    assert not set_access(path, "research", member("sam@company.com", "admin")).changed
    research = load_app_config(path).tenants[0]
    assert [(m.name, m.role) for m in research.members] == [("sam@company.com", "admin"), ("tom@company.com", "edit")]
    assert set_access(path, "research", None, member("tom@company.com", "edit")).changed
    assert not set_access(path, "research", None, member("tom@company.com", "edit")).changed
    with pytest.raises(InputError, match="owns tenant research"):
        set_access(path, "research", member("rita@company.com", "view"))
    with pytest.raises(InputError, match="is not a tenant"):
        set_access(path, "nobody", member("tom@company.com", "view"))

    assert delete_tenant(path, "vision").changed and not delete_tenant(path, "vision").changed
    assert [t.name for t in load_app_config(path).tenants] == ["research"]


def test_an_edit_that_would_not_load_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write(tmp_path)
    before = path.read_text()
    with pytest.raises(InputError, match="invalid"):
        create_tenant(path, TenantSpec("Bad_Name", "vic@company.com", [], {}))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kfctl.yaml"]  # no temporary file left
