"""Who claims the planned objects kfctl does not hold yet: another kfctl app, another ApplySet, a
Helm release (kfctl.kube.ownership) and, for team namespaces only, a person. A platform object that
exists unlabelled is taken over as kubectl would; a tenant's namespace that exists unlabelled was made
by hand for someone, so it is refused unless --adopt."""

from __future__ import annotations

from collections.abc import Iterable

from kfctl.deploy.plan import PlannedObject
from kfctl.kube.api import Api, ObjectRef
from kfctl.kube.ownership import NOBODY, Owner, OwnerKind, owner_of, owners_of
from kfctl.tenancy.objects import COMPONENT as TENANTS


def claims(
    api: Api, planned: Iterable[PlannedObject], held: set[ObjectRef], applyset_id: str
) -> dict[ObjectRef, Owner]:
    """The owner of each planned object not in `held` (this app's live members) that someone else claims."""
    objects = [o for o in planned if o.ref not in held]
    unknown = [o.ref for o in objects]
    owners = owners_of(api, unknown, applyset_id) if unknown else {}
    for obj in objects:
        if obj.component == TENANTS and obj.ref.kind == "Namespace" and obj.ref not in owners:
            live = api.get(obj.ref)
            if live is not None and owner_of(live.get("metadata") or {}, applyset_id, {}) == NOBODY:
                owners[obj.ref] = Owner(OwnerKind.UNMANAGED)
    return owners
