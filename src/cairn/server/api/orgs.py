"""Organizations, their members, and users created by organization admins."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cairn.server.api import convert, schemas
from cairn.server.domain.roles import OrgRole
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import accounts, orgs, provisioning

router = APIRouter()


@router.get("/orgs", response_model=list[schemas.OrganizationOut])
def list_orgs(caller: Caller, db: Db) -> list[schemas.OrganizationOut]:
    """The organizations the caller belongs to."""
    return [convert.org(o) for o in orgs.list_for(db, caller)]


@router.post("/orgs", status_code=201, response_model=schemas.OrganizationOut)
def create_org(body: schemas.OrganizationIn, caller: Caller, db: Db) -> schemas.OrganizationOut:
    """Create an organization with its core registries (server administrators)."""
    admin = accounts.get_user(db, caller.username)
    org = provisioning.new_organization(db, caller, body.name, admin)
    return convert.org(orgs.OrgAccess(org, OrgRole.ADMIN))


@router.get("/orgs/{org}", response_model=schemas.OrganizationOut)
def get_org(org: str, caller: Caller, db: Db) -> schemas.OrganizationOut:
    """One organization the caller belongs to."""
    return convert.org(orgs.access(db, caller, org))


@router.get("/orgs/{org}/members", response_model=list[schemas.OrgMemberOut])
def list_members(org: str, caller: Caller, db: Db) -> list[schemas.OrgMemberOut]:
    """Every member of the organization with their role."""
    found = orgs.access(db, caller, org)
    return [convert.org_member(u, r.value) for u, r in orgs.members(db, found.org)]


@router.post("/orgs/{org}/members", status_code=201, response_model=schemas.OrgMemberOut)
def add_member(org: str, body: schemas.OrgMemberIn, caller: Caller, db: Db) -> schemas.OrgMemberOut:
    """Add an existing user to the organization (org admins)."""
    found = orgs.admin_access(db, caller, org)
    role = orgs.parse_role(body.role)
    user = accounts.get_user(db, body.user)
    orgs.add_member(db, caller, found.org, user, role)
    return convert.org_member(user, role.value)


@router.patch("/orgs/{org}/members/{username}", response_model=schemas.OrgMemberOut)
def set_member_role(
    org: str, username: str, body: schemas.RoleIn, caller: Caller, db: Db
) -> schemas.OrgMemberOut:
    """Change a member's organization role (org admins)."""
    found = orgs.admin_access(db, caller, org)
    role = orgs.parse_role(body.role)
    user = orgs.set_role(db, caller, found.org, username, role)
    return convert.org_member(user, role.value)


@router.delete("/orgs/{org}/members/{username}", status_code=204)
def remove_member(org: str, username: str, caller: Caller, db: Db) -> Response:
    """Remove a member from the organization (org admins)."""
    found = orgs.admin_access(db, caller, org)
    orgs.remove_member(db, caller, found.org, username)
    return Response(status_code=204)


@router.post("/orgs/{org}/users", status_code=201, response_model=schemas.OrgMemberOut)
def create_user(org: str, body: schemas.NewUserIn, caller: Caller, db: Db) -> schemas.OrgMemberOut:
    """Create a user or service account and add it to the organization (org admins)."""
    found = orgs.admin_access(db, caller, org)
    default = OrgRole.MEMBER
    role = orgs.parse_role(body.role) if body.role else default
    user = accounts.create_user(
        db,
        caller,
        body.username,
        email=body.email,
        password=body.password,
        is_service=body.service,
        org_id=found.org.id,
    )
    orgs.add_member(db, caller, found.org, user, role)
    return convert.org_member(user, role.value)


@router.patch("/users/{username}", response_model=schemas.UserOut)
def patch_user(username: str, body: schemas.UserPatchIn, caller: Caller, db: Db) -> schemas.UserOut:
    """Deactivate or reactivate a user (superusers, or admins of all the user's organizations)."""
    return convert.user(accounts.set_active(db, caller, username, body.active))
