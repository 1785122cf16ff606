"""Organizations and their members (org roles admin, member, viewer)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from cairn.server.db.models import (
    Entity,
    Organization,
    OrgMember,
    Registry,
    RegistryMember,
    Team,
    TeamMember,
    User,
)
from cairn.server.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole
from cairn.server.services import accounts, audit, entities

MAX_PAGE = 1000


@dataclass(frozen=True)
class OrgAccess:
    """An organization as one caller sees it."""

    org: Organization
    role: OrgRole


def parse_role(raw: str) -> OrgRole:
    """An org role from its name, or a ValidationError listing the valid ones."""
    try:
        return OrgRole(raw)
    except ValueError:
        valid = ", ".join(r.value for r in OrgRole)
        raise ValidationError(f"unknown organization role {raw!r}; valid roles: {valid}") from None


def find_org(s: Session, name: str) -> Organization | None:
    """An organization by name, case-insensitive."""
    return s.scalar(
        select(Organization)
        .join(Entity, Entity.id == Organization.entity_id)
        .where(Entity.name_key == name.lower(), Entity.kind == "organization")
    )


def access(s: Session, actor: Principal, name: str) -> OrgAccess:
    """The organization and the actor's role in it; non-members get 404."""
    row = s.execute(
        select(Organization, OrgMember.role)
        .join(Entity, Entity.id == Organization.entity_id)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .where(
            Entity.name_key == name.lower(),
            Entity.kind == "organization",
            OrgMember.user_id == actor.user_id,
        )
    ).first()
    if row is None:
        raise NotFoundError(f"organization {name!r} not found")
    return OrgAccess(row[0], OrgRole(row[1]))


def admin_access(s: Session, actor: Principal, name: str) -> OrgAccess:
    """Like access(), but the actor must be an organization admin (else 403)."""
    found = access(s, actor, name)
    if found.role != OrgRole.ADMIN:
        raise PermissionDeniedError(f"only admins of organization {name!r} can do this")
    return found


def list_for(s: Session, actor: Principal) -> list[OrgAccess]:
    """The organizations the actor belongs to."""
    rows = s.execute(
        select(Organization, OrgMember.role)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .where(OrgMember.user_id == actor.user_id)
        .order_by(Organization.name)
    ).all()
    return [OrgAccess(org, OrgRole(role)) for org, role in rows]


def create(s: Session, actor: Principal | None, name: str, admin: User | None) -> Organization:
    """A new organization (superusers only); `admin` becomes its first admin."""
    if actor is not None and not actor.is_superuser:
        raise PermissionDeniedError("only server administrators can create organizations")
    entity = entities.claim(s, name, "organization")
    org = Organization(entity_id=entity.id, name=name)
    s.add(org)
    s.flush()
    if admin is not None:
        s.add(OrgMember(org_id=org.id, user_id=admin.id, role=OrgRole.ADMIN.value))
    audit.record(
        s,
        actor,
        "org.create",
        target_type="organization",
        target_id=org.id,
        target_name=name,
        org_id=org.id,
    )
    return org


def members(s: Session, org: Organization) -> list[tuple[User, OrgRole]]:
    """Every member of `org` with their role, by username."""
    rows = s.execute(
        select(User, OrgMember.role)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id)
        .order_by(User.username)
    ).all()
    return [(user, OrgRole(role)) for user, role in rows]


def member_page(
    s: Session,
    org: Organization,
    *,
    service: bool,
    query: str = "",
    after: str | None = None,
    per_page: int = 50,
) -> tuple[list[tuple[User, OrgRole]], str | None]:
    """One page of the organization's people (or its service accounts), by username.

    `query` keeps those whose username or email contains it, ignoring case; `after` is the
    last username of the previous page. Returns the rows and the `after` of the next page.
    """
    if not 1 <= per_page <= MAX_PAGE:
        raise ValidationError(f"per_page must be between 1 and {MAX_PAGE}")
    stmt = (
        select(User, OrgMember.role)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == org.id, User.is_service == service)
    )
    needle = query.strip().lower()
    if needle:
        stmt = stmt.where(
            or_(
                func.lower(User.username).contains(needle, autoescape=True),
                User.email.contains(needle, autoescape=True),
            )
        )
    if after is not None:
        stmt = stmt.where(User.username > after)
    rows = s.execute(stmt.order_by(User.username).limit(per_page + 1)).all()
    found = [(user, OrgRole(role)) for user, role in rows[:per_page]]
    more = len(rows) > per_page
    return found, found[-1][0].username if more else None


def add_member(
    s: Session, actor: Principal | None, org: Organization, user: User, role: OrgRole
) -> None:
    """Add an existing user to `org`; 409 when they are a member already."""
    existing = s.get(OrgMember, (org.id, user.id))
    if existing is not None:
        raise ConflictError(f"{user.username!r} is already a member of {org.name!r}")
    s.add(OrgMember(org_id=org.id, user_id=user.id, role=role.value))
    audit.record(
        s,
        actor,
        "org.member.add",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        org_id=org.id,
        after={"role": role.value},
    )


def member_row(s: Session, org: Organization, username: str) -> tuple[User, OrgMember]:
    """A member of `org` by username or email, or 404."""
    user = accounts.find_user(s, username)
    row = s.get(OrgMember, (org.id, user.id)) if user else None
    if user is None or row is None:
        raise NotFoundError(f"user {username!r} is not a member of organization {org.name!r}")
    return user, row


def set_role(s: Session, actor: Principal, org: Organization, username: str, role: OrgRole) -> User:
    """Change a member's org role; the last admin cannot be demoted."""
    user, row = member_row(s, org, username)
    before = row.role
    if before == OrgRole.ADMIN.value and role != OrgRole.ADMIN:
        _keep_an_admin(s, org)
    row.role = role.value
    audit.record(
        s,
        actor,
        "org.member.role",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        org_id=org.id,
        before={"role": before},
        after={"role": role.value},
    )
    return user


def remove_member(s: Session, actor: Principal, org: Organization, username: str) -> None:
    """Remove a member from `org`; the last admin cannot be removed."""
    user, row = member_row(s, org, username)
    if row.role == OrgRole.ADMIN.value:
        _keep_an_admin(s, org)
    # Their grants inside the organization go too: rejoining later starts from nothing.
    s.execute(
        delete(RegistryMember).where(
            RegistryMember.user_id == user.id,
            RegistryMember.registry_id.in_(select(Registry.id).where(Registry.org_id == org.id)),
        )
    )
    s.execute(
        delete(TeamMember).where(
            TeamMember.user_id == user.id,
            TeamMember.team_id.in_(select(Team.id).where(Team.org_id == org.id)),
        )
    )
    s.delete(row)
    audit.record(
        s,
        actor,
        "org.member.remove",
        target_type="user",
        target_id=user.id,
        target_name=user.username,
        org_id=org.id,
        before={"role": row.role},
    )


def _keep_an_admin(s: Session, org: Organization) -> None:
    admins = s.scalar(
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == org.id, OrgMember.role == OrgRole.ADMIN.value)
    )
    if (admins or 0) <= 1:
        raise ConflictError(
            f"organization {org.name!r} must keep at least one admin; promote another first"
        )
