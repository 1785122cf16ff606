"""Authorization for registries: effective roles from every source, in SQL, through one table."""

from __future__ import annotations

from collections.abc import Sequence
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
    true,
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


def role_sources(
    org_id: int, user_id: int, *, only: Sequence[int] | None = None, org_wide: bool = True
) -> Any:
    """(registry id, rank) for every non-admin source of a role in the org (DESIGN §2).

    `only` limits it to some registries; `org_wide=False` leaves out organization visibility
    (what remains are the caller's explicit grants).
    """
    admin_rank = RegistryRole.ADMIN.rank
    member_of = true() if only is None else RegistryMember.registry_id.in_(list(only))
    registry_in = true() if only is None else Registry.id.in_(list(only))
    direct = select(RegistryMember.registry_id, _rank_of(RegistryMember.role)).where(
        RegistryMember.user_id == user_id, member_of
    )
    via_team = (
        select(RegistryMember.registry_id, _rank_of(RegistryMember.role))
        .join(TeamMember, TeamMember.team_id == RegistryMember.team_id)
        .where(TeamMember.user_id == user_id, member_of)
    )
    owning_team_admin = (
        select(Registry.id, literal(admin_rank))
        .join(TeamMember, TeamMember.team_id == Registry.owner_team_id)
        .where(TeamMember.user_id == user_id, TeamMember.role == TeamRole.ADMIN.value, registry_in)
    )
    parts = [direct, via_team, owning_team_admin]
    if org_wide:
        everyone = select(Registry.id, literal(RegistryRole.VIEWER.rank)).where(
            Registry.org_id == org_id,
            Registry.visibility == Visibility.ORGANIZATION.value,
            registry_in,
        )
        parts.insert(0, everyone)
    return union_all(*parts)


def ranks_for(
    s: Session, user_id: int, org_id: int, org_role: OrgRole, ids: Sequence[int]
) -> dict[int, RegistryRole]:
    """The effective role on each of some registries of the org (absent: hidden), one query."""
    if org_role == OrgRole.ADMIN:
        return dict.fromkeys(ids, RegistryRole.ADMIN)
    if not ids:
        return {}
    sources = role_sources(org_id, user_id, only=ids).subquery()
    rid, rank = sources.c[0], sources.c[1]
    rows = s.execute(select(rid, func.max(rank)).group_by(rid)).all()
    return {r: ROLE_BY_RANK[k] for r, k in rows if k in ROLE_BY_RANK}


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
    return ranks_for(s, user_id, org_id, org_role, [registry_id]).get(registry_id)


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
