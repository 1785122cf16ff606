"""Authorization for registries: effective roles from every source, in SQL, through one table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    case,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from cairn.server.db.models import Registry, RegistryMember, TeamMember
from cairn.server.domain.errors import NotFoundError, PermissionDeniedError
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import (
    ACTION_DESCRIPTIONS,
    Action,
    OrgRole,
    RegistryRole,
    TeamRole,
    Visibility,
    allows,
)

RANKS = {role.value: role.rank for role in RegistryRole}
ROLE_BY_RANK = {role.rank: role for role in RegistryRole}


@dataclass(frozen=True)
class RegistryAccess:
    """A registry together with the caller's effective role on it."""

    registry: Registry
    role: RegistryRole


def _rank_of(column: SQLColumnExpression[str]) -> ColumnElement[int]:
    return case(RANKS, value=column, else_=-1)


def role_sources(org_id: int, user_id: int) -> Any:
    """(registry id, rank) for every non-admin source of a role in the org (DESIGN §2)."""
    admin_rank = RegistryRole.ADMIN.rank
    org_wide = select(Registry.id, literal(RegistryRole.VIEWER.rank)).where(
        Registry.org_id == org_id, Registry.visibility == Visibility.ORGANIZATION.value
    )
    direct = select(RegistryMember.registry_id, _rank_of(RegistryMember.role)).where(
        RegistryMember.user_id == user_id
    )
    via_team = (
        select(RegistryMember.registry_id, _rank_of(RegistryMember.role))
        .join(TeamMember, TeamMember.team_id == RegistryMember.team_id)
        .where(TeamMember.user_id == user_id)
    )
    owning_team_admin = (
        select(Registry.id, literal(admin_rank))
        .join(TeamMember, TeamMember.team_id == Registry.owner_team_id)
        .where(TeamMember.user_id == user_id, TeamMember.role == TeamRole.ADMIN.value)
    )
    return union_all(org_wide, direct, via_team, owning_team_admin)


def visible_with_rank(org_id: int, user_id: int, org_role: OrgRole) -> Select[int, int]:
    """(registry id, effective rank) for every registry of the org the user can see."""
    if org_role == OrgRole.ADMIN:
        return select(
            Registry.id.label("rid"), literal(RegistryRole.ADMIN.rank).label("rank")
        ).where(Registry.org_id == org_id)
    sources = role_sources(org_id, user_id).subquery()
    rid, rank = sources.c[0], sources.c[1]
    return select(rid.label("rid"), func.max(rank).label("rank")).group_by(rid)


def role_on(
    s: Session, user_id: int, org_id: int, org_role: OrgRole, registry_id: int
) -> RegistryRole | None:
    """The highest role a member of the org holds on a registry from any source; None: hidden."""
    if org_role == OrgRole.ADMIN:
        return RegistryRole.ADMIN
    sources = role_sources(org_id, user_id).subquery()
    rank = s.scalar(select(func.max(sources.c[1])).where(sources.c[0] == registry_id))
    return ROLE_BY_RANK.get(rank) if rank is not None else None


def require(
    s: Session,
    actor: Principal,
    registry: Registry | None,
    action: Action,
    shown_name: str,
    org: tuple[int, OrgRole],
) -> RegistryAccess:
    """The registry if the actor may do `action`: 404 when hidden or absent, 403 when visible.

    `org` is (id, the actor's role) of the organization the registry was looked up in. An
    absent registry runs the same role query as a hidden one (against no row), so the two
    cannot be told apart by timing either.
    """
    org_id, org_role = org
    role = role_on(s, actor.user_id, org_id, org_role, registry.id if registry else -1)
    if registry is None or role is None:
        raise NotFoundError(f"registry {shown_name!r} not found")
    found = RegistryAccess(registry, role)
    demand(found, action)
    return found


def demand(found: RegistryAccess, action: Action) -> None:
    """403 unless the caller's role on a registry they can see allows `action`."""
    if not allows(found.role, action):
        raise PermissionDeniedError(
            f"your role {found.role.value!r} on registry {found.registry.name!r} does not allow "
            f"this: {ACTION_DESCRIPTIONS[action].lower()}"
        )
