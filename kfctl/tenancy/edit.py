"""The imperative tenant and access commands write into the app config itself (`spec.tenants` of
kfctl.yaml), so the declarative path and the imperative one share one desired state: the next
`kfctl apply` keeps what `kfctl access grant` added, and `kfctl diff` shows what it would change.
Edits are round-trips that keep the rest of the file (kfctl.config.edit).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kfctl.config.app import AppConfig, load_app_config
from kfctl.config.edit import load_for_edit, write_edited
from kfctl.config.tenants import Member
from kfctl.errors import InputError


@dataclass
class TenantSpec:
    """What `kfctl tenant create` asks for; None: not set (the config's defaults apply)."""

    name: str
    owner: str
    members: list[Member]
    quota: dict[str, Any]
    isolation: bool | None = None


@dataclass
class Edit:
    config: AppConfig  # the config as it is after the edit
    changed: bool


def _document(path: Path) -> Any:
    return load_for_edit(path)


def _tenants(document: CommentedMap) -> CommentedSeq:
    spec = document["spec"]
    tenants = spec.get("tenants")
    if not isinstance(tenants, CommentedSeq):
        tenants = CommentedSeq()
        spec["tenants"] = tenants
    return tenants


def _find(tenants: CommentedSeq, name: str) -> CommentedMap | None:
    return next((t for t in tenants if isinstance(t, CommentedMap) and t.get("name") == name), None)


def _member_entry(subject: Member) -> CommentedMap:
    entry = CommentedMap()
    entry["group" if subject.kind == "Group" else "user"] = subject.name
    entry["role"] = subject.role
    entry.fa.set_flow_style()
    return entry


def _write(path: Path, document: Any) -> AppConfig:
    return write_edited(path, document)


def create_tenant(path: Path, spec: TenantSpec) -> Edit:
    """Add the tenant; the same tenant again is no change; a different one of that name is refused."""
    document = _document(path)
    tenants = _tenants(document)
    entry = CommentedMap()
    entry["name"] = spec.name
    entry["owner"] = spec.owner
    if spec.members:
        entry["members"] = CommentedSeq([_member_entry(m) for m in spec.members])
    if spec.quota:
        quota = CommentedMap(spec.quota)
        quota.fa.set_flow_style()
        entry["quota"] = quota
    if spec.isolation is not None:
        entry["isolation"] = spec.isolation
    existing = _find(tenants, spec.name)
    if existing is not None:
        if _plain(existing) == _plain(entry):
            return Edit(load_app_config(path), False)
        raise InputError(
            f"tenant {spec.name} already exists in {path} with other settings",
            hint="change it with `kfctl access grant/revoke` or by editing spec.tenants, or delete it first",
        )
    tenants.append(entry)
    return Edit(_write(path, document), True)


def delete_tenant(path: Path, name: str) -> Edit:
    document = _document(path)
    tenants = _tenants(document)
    existing = _find(tenants, name)
    if existing is None:
        return Edit(load_app_config(path), False)
    tenants.remove(existing)
    if not tenants:
        del document["spec"]["tenants"]
    return Edit(_write(path, document), True)


def set_access(path: Path, namespace: str, subject: Member | None, remove: Member | None = None) -> Edit:
    """Grant `subject` its role in the tenant (replacing the role it had), or revoke `remove`."""
    document = _document(path)
    tenant = _find(_tenants(document), namespace)
    if tenant is None:
        raise InputError(
            f"{namespace} is not a tenant of {path}",
            hint="create it first: kfctl tenant create NAME --owner USER (kfctl tenant list shows the tenants)",
        )
    target = subject or remove
    assert target is not None
    if target.kind != "Group" and target.name == tenant.get("owner"):
        raise InputError(
            f"{target.name} owns tenant {namespace}: the owner's access is not a grant",
            hint="change the owner in spec.tenants to hand the team over",
        )
    members = tenant.get("members")
    if not isinstance(members, CommentedSeq):
        members = CommentedSeq()
    key = "group" if target.kind == "Group" else "user"
    index = next((i for i, m in enumerate(members) if isinstance(m, dict) and m.get(key) == target.name), None)
    if subject is not None:
        if index is not None and members[index].get("role", "edit") == subject.role:
            return Edit(load_app_config(path), False)
        if index is not None:
            members[index]["role"] = subject.role
        else:
            members.append(_member_entry(subject))
    else:
        if index is None:
            return Edit(load_app_config(path), False)
        del members[index]
    if members:
        tenant["members"] = members
    elif "members" in tenant:
        del tenant["members"]
    return Edit(_write(path, document), True)


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node
