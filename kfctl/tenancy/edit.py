"""The imperative tenant and access commands write into the app config itself (`spec.tenants` of
kfctl.yaml), so the declarative path and the imperative one share one desired state: the next
`kfctl apply` keeps what `kfctl access grant` added, and `kfctl diff` shows what it would change.

Edits are round-trips (ruamel): comments, order and quoting of the rest of the file stay. The
edited text is validated like any config before it replaces the file (atomically), so a command
never leaves a config that `kfctl apply` would refuse.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kfctl.config.app import AppConfig, load_app_config
from kfctl.config.tenants import Member
from kfctl.errors import ConfigError, InputError


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


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def _document(path: Path) -> Any:
    load_app_config(path)  # the file must be valid before it is edited: its errors are reported as they are
    document = _yaml().load(path.read_text())
    if not isinstance(document, CommentedMap) or document.get("kind") != "AppConfig":
        raise InputError(
            f"{path}: only a kfctl AppConfig can be edited",
            hint="convert a KfDef first: kfctl init DIR --from-kfdef FILE",
        )
    return document


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
    """Write the edited document next to the file, validate it, then move it over the file."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(buffer.getvalue())
        try:
            config = load_app_config(Path(temporary))
        except ConfigError as error:
            message = error.message.replace(temporary, str(path))
            raise InputError(f"the edit would make the config invalid: {message}", hint=error.hint) from None
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    config.path = path
    return config


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
