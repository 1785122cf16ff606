"""Registry members: users and teams with a role on a registry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cairn.server.api import convert, schemas
from cairn.server.api.routing import guarded_by
from cairn.server.domain.roles import Action
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import registry_members
from cairn.server.services.registry_members import MemberSpec

router = APIRouter()
MEMBERS = "/orgs/{org}/registries/{registry}/members"
ONE = MEMBERS + "/{kind}/{name}"


@router.get(
    MEMBERS,
    response_model=list[schemas.RegistryMemberOut],
    openapi_extra=guarded_by(Action.VIEW),
)
def list_members(
    org: str, registry: str, caller: Caller, db: Db
) -> list[schemas.RegistryMemberOut]:
    """Every member of the registry and their role."""
    return [convert.member(m) for m in registry_members.list_members(db, caller, org, registry)]


@router.post(
    MEMBERS,
    status_code=201,
    response_model=list[schemas.RegistryMemberOut],
    openapi_extra=guarded_by(Action.ADMINISTER),
)
def add_members(
    org: str, registry: str, body: schemas.MembersIn, caller: Caller, db: Db
) -> list[schemas.RegistryMemberOut]:
    """Add users (by username or email) and teams (by name)."""
    specs = [MemberSpec(m.member, m.kind, m.role) for m in body.members]
    return [convert.member(m) for m in registry_members.add(db, caller, org, registry, specs)]


@router.patch(
    ONE, response_model=schemas.RegistryMemberOut, openapi_extra=guarded_by(Action.ADMINISTER)
)
def set_member_role(
    org: str, registry: str, kind: str, name: str, body: schemas.RoleIn, caller: Caller, db: Db
) -> schemas.RegistryMemberOut:
    """Change a member's role."""
    return convert.member(
        registry_members.set_role(db, caller, org, registry, kind, name, body.role)
    )


@router.delete(ONE, status_code=204, openapi_extra=guarded_by(Action.ADMINISTER))
def remove_member(
    org: str, registry: str, kind: str, name: str, caller: Caller, db: Db
) -> Response:
    """Remove a member."""
    registry_members.remove(db, caller, org, registry, kind, name)
    return Response(status_code=204)
