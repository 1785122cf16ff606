"""Turning service results into response models (one place per shape)."""

from __future__ import annotations

from cairn.server.api import schemas
from cairn.server.db.models import ApiKey, Team, User
from cairn.server.services.orgs import OrgAccess
from cairn.server.services.registries import RegistryView
from cairn.server.services.registry_members import MemberView


def user(u: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=u.id,
        username=u.username,
        email=u.email,
        is_service=u.is_service,
        is_superuser=u.is_superuser,
        active=u.active,
        created_at=u.created_at,
    )


def org(o: OrgAccess) -> schemas.OrganizationOut:
    return schemas.OrganizationOut(
        id=o.org.id, name=o.org.name, role=o.role.value, created_at=o.org.created_at
    )


def org_member(u: User, role: str) -> schemas.OrgMemberOut:
    return schemas.OrgMemberOut(
        username=u.username, email=u.email, role=role, is_service=u.is_service, active=u.active
    )


def team(t: Team, org_name: str, count: int) -> schemas.TeamOut:
    return schemas.TeamOut(
        id=t.id,
        name=t.name,
        organization=org_name,
        description=t.description,
        created_at=t.created_at,
        members_count=count,
    )


def key(k: ApiKey, owner: str) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=k.id,
        name=k.name,
        prefix=k.prefix,
        username=owner,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
    )


def registry(v: RegistryView) -> schemas.RegistryOut:
    r = v.registry
    return schemas.RegistryOut(
        id=r.id,
        name=r.name,
        full_name=f"{v.org_name}/{r.name}",
        organization=v.org_name,
        description=r.description,
        visibility=r.visibility,
        allow_all_artifact_types=r.allow_all_types,
        artifact_types=v.types,
        protected_aliases=v.protected_aliases,
        owner_team=v.owner_team,
        is_core=r.is_core,
        created_at=r.created_at,
        updated_at=r.updated_at,
        role=v.role.value,
    )


def member(m: MemberView) -> schemas.RegistryMemberOut:
    return schemas.RegistryMemberOut(kind=m.kind, name=m.name, email=m.email, role=m.role.value)
