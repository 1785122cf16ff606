"""Teams inside an organization and their members (team roles admin, member)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity, OrgMember, Team, TeamMember, User
from cairn.server.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole, TeamRole
from cairn.server.services import accounts, audit, entities, orgs

MAX_DESCRIPTION = 4096


def parse_role(raw: str) -> TeamRole:
    """A team role from its name, or a ValidationError listing the valid ones."""
    try:
        return TeamRole(raw)
    except ValueError:
        valid = ", ".join(r.value for r in TeamRole)
        raise ValidationError(f"unknown team role {raw!r}; valid roles: {valid}") from None


def find(s: Session, org_id: int, name: str) -> Team | None:
    """A team of the organization by name, case-insensitive."""
    return s.scalar(
        select(Team)
        .join(Entity, Entity.id == Team.entity_id)
        .where(Team.org_id == org_id, Entity.name_key == name.lower())
    )


def get(s: Session, org: orgs.OrgAccess, name: str) -> Team:
    """A team of the organization, or 404."""
    team = find(s, org.org.id, name)
    if team is None:
        raise NotFoundError(f"team {name!r} not found in organization {org.org.name!r}")
    return team


def list_for(s: Session, org: orgs.OrgAccess) -> list[tuple[Team, int]]:
    """Every team of the organization with its member count."""
    counts = (
        select(TeamMember.team_id, func.count().label("n")).group_by(TeamMember.team_id).subquery()
    )
    rows = s.execute(
        select(Team, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.team_id == Team.id)
        .where(Team.org_id == org.org.id)
        .order_by(Team.name)
    ).all()
    return [(team, int(n)) for team, n in rows]


def members(s: Session, team: Team) -> list[tuple[User, TeamRole]]:
    """The team's members with their roles."""
    rows = s.execute(
        select(User, TeamMember.role)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id)
        .order_by(User.username)
    ).all()
    return [(u, TeamRole(r)) for u, r in rows]


def page_for(
    s: Session, org: orgs.OrgAccess, *, after: str | None = None, per_page: int = 50
) -> tuple[list[tuple[Team, int]], str | None]:
    """One page of the organization's teams by name, with member counts; keyset on the name.

    Returns the rows and the `after` (last name) of the next page, None on the last page.
    """
    if not 1 <= per_page <= orgs.MAX_PAGE:
        raise ValidationError(f"per_page must be between 1 and {orgs.MAX_PAGE}")
    stmt = select(Team).where(Team.org_id == org.org.id)
    if after is not None:
        stmt = stmt.where(Team.name > after)
    found = list(s.scalars(stmt.order_by(Team.name).limit(per_page + 1)))
    more = len(found) > per_page
    found = found[:per_page]
    counts: dict[int, int] = {
        team_id: int(n)
        for team_id, n in s.execute(
            select(TeamMember.team_id, func.count())
            .where(TeamMember.team_id.in_([t.id for t in found]))
            .group_by(TeamMember.team_id)
        )
    }
    return [(t, counts.get(t.id, 0)) for t in found], found[-1].name if more else None


def member_page(
    s: Session, team: Team, *, after: str | None = None, per_page: int = 50
) -> tuple[list[tuple[User, TeamRole]], str | None]:
    """One page of the team's members by username; keyset on the username."""
    if not 1 <= per_page <= orgs.MAX_PAGE:
        raise ValidationError(f"per_page must be between 1 and {orgs.MAX_PAGE}")
    stmt = (
        select(User, TeamMember.role)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team.id)
    )
    if after is not None:
        stmt = stmt.where(User.username > after)
    rows = s.execute(stmt.order_by(User.username).limit(per_page + 1)).all()
    found = [(u, TeamRole(r)) for u, r in rows[:per_page]]
    return found, found[-1][0].username if len(rows) > per_page else None


def may_create(org: orgs.OrgAccess) -> bool:
    """Whether the actor's organization role lets them create teams (not viewers)."""
    return org.role != OrgRole.VIEWER


def may_manage(s: Session, actor: Principal, org: orgs.OrgAccess, team: Team) -> bool:
    """Whether require_manager would let the actor change the team."""
    try:
        require_manager(s, actor, org, team)
    except PermissionDeniedError:
        return False
    return True


def create(
    s: Session, actor: Principal, org: orgs.OrgAccess, name: str, description: str | None
) -> Team:
    """A new team; org admins and members may create one and become its admin."""
    if not may_create(org):
        raise PermissionDeniedError("organization viewers cannot create teams")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationError(f"description must be at most {MAX_DESCRIPTION} characters")
    entity = entities.claim(s, name, "team")
    team = Team(entity_id=entity.id, org_id=org.org.id, name=name, description=description)
    s.add(team)
    s.flush()
    s.add(TeamMember(team_id=team.id, user_id=actor.user_id, role=TeamRole.ADMIN.value))
    audit.record(
        s,
        actor,
        "team.create",
        target_type="team",
        target_id=team.id,
        target_name=name,
        org_id=org.org.id,
    )
    return team


def require_manager(s: Session, actor: Principal, org: orgs.OrgAccess, team: Team) -> None:
    """Team admins and org admins manage a team; others get 403."""
    if org.role == OrgRole.ADMIN:
        return
    role = s.scalar(
        select(TeamMember.role).where(
            TeamMember.team_id == team.id, TeamMember.user_id == actor.user_id
        )
    )
    if role != TeamRole.ADMIN.value:
        raise PermissionDeniedError(f"only admins of team {team.name!r} can change it")


def delete(s: Session, actor: Principal, org: orgs.OrgAccess, team: Team) -> None:
    """Delete a team; its registry memberships go with it."""
    require_manager(s, actor, org, team)
    audit.record(
        s,
        actor,
        "team.delete",
        target_type="team",
        target_id=team.id,
        target_name=team.name,
        org_id=org.org.id,
    )
    entity = s.get(Entity, team.entity_id)
    s.delete(team)
    s.flush()
    if entity is not None:
        s.delete(entity)


def add_member(
    s: Session, actor: Principal, org: orgs.OrgAccess, team: Team, user_ref: str, role: TeamRole
) -> User:
    """Add an organization member to the team."""
    require_manager(s, actor, org, team)
    user, _ = orgs.member_row(s, org.org, user_ref)
    if s.get(TeamMember, (team.id, user.id)) is not None:
        raise ConflictError(f"{user.username!r} is already a member of team {team.name!r}")
    s.add(TeamMember(team_id=team.id, user_id=user.id, role=role.value))
    audit.record(
        s,
        actor,
        "team.member.add",
        target_type="team",
        target_id=team.id,
        target_name=f"{team.name}/{user.username}",
        org_id=org.org.id,
        after={"role": role.value},
    )
    return user


def set_role(
    s: Session, actor: Principal, org: orgs.OrgAccess, team: Team, user_ref: str, role: TeamRole
) -> User:
    """Change a team member's role."""
    require_manager(s, actor, org, team)
    user, row = _member(s, team, user_ref)
    before = row.role
    row.role = role.value
    audit.record(
        s,
        actor,
        "team.member.role",
        target_type="team",
        target_id=team.id,
        target_name=f"{team.name}/{user.username}",
        org_id=org.org.id,
        before={"role": before},
        after={"role": role.value},
    )
    return user


def remove_member(
    s: Session, actor: Principal, org: orgs.OrgAccess, team: Team, user_ref: str
) -> None:
    """Remove a member from the team."""
    require_manager(s, actor, org, team)
    user, row = _member(s, team, user_ref)
    s.delete(row)
    audit.record(
        s,
        actor,
        "team.member.remove",
        target_type="team",
        target_id=team.id,
        target_name=f"{team.name}/{user.username}",
        org_id=org.org.id,
        before={"role": row.role},
    )


def _member(s: Session, team: Team, user_ref: str) -> tuple[User, TeamMember]:
    user = accounts.find_user(s, user_ref)
    row = s.get(TeamMember, (team.id, user.id)) if user else None
    if user is None or row is None:
        raise NotFoundError(f"user {user_ref!r} is not a member of team {team.name!r}")
    return user, row


def is_org_member(s: Session, org_id: int, user_id: int) -> bool:
    """Whether the user belongs to the organization."""
    return s.get(OrgMember, (org_id, user_id)) is not None
