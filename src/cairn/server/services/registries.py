"""Registries: create, read, list (filtered and paged in SQL), change settings, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, select, tuple_, union
from sqlalchemy.orm import Session

from cairn.server.db.models import (
    Collection,
    ProtectedAlias,
    Registry,
    RegistryMember,
    RegistryType,
    Team,
)
from cairn.server.domain import names
from cairn.server.domain.errors import ConflictError, PermissionDeniedError, ValidationError
from cairn.server.domain.filters import parse_filter
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import (
    ORG_ROLES_THAT_CREATE_REGISTRIES,
    Action,
    OrgRole,
    RegistryRole,
    Visibility,
)
from cairn.server.services import access, audit, orgs, teams
from cairn.server.services.filtering import (
    AnyRow,
    Columns,
    compile_filter,
    decode_cursor,
    encode_cursor,
    parse_filter_json,
)

MAX_DESCRIPTION = 65_536
MAX_TYPES = 100
MAX_PROTECTED = 100
FILTER_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "visibility": str,
    "type": str,
    "created_at": datetime,
    "updated_at": datetime,
}
COLUMNS: Columns = {
    "name": Registry.name,
    "description": Registry.description,
    "visibility": Registry.visibility,
    # A saved accepted type (an all-types registry saves the types in use there).
    "type": AnyRow(RegistryType.type_name, RegistryType.registry_id == Registry.id),
    "created_at": Registry.created_at,
    "updated_at": Registry.updated_at,
}
ORDERS = ("name", "created_at", "updated_at")


@dataclass
class RegistryView:
    """A registry with everything a response shows about it."""

    registry: Registry
    org_name: str
    role: RegistryRole
    types: list[str] = field(default_factory=list)
    protected_aliases: list[str] = field(default_factory=list)
    owner_team: str | None = None


def parse_visibility(raw: str) -> Visibility:
    """A visibility from its name; unknown values are a 422 listing the valid ones."""
    try:
        return Visibility(raw)
    except ValueError:
        valid = ", ".join(repr(v.value) for v in Visibility)
        raise ValidationError(f"unknown visibility {raw!r}; valid values: {valid}") from None


def clean_types(raw: list[str]) -> list[str]:
    if len(raw) > MAX_TYPES:
        raise ValidationError(f"a registry accepts at most {MAX_TYPES} artifact types")
    return sorted({names.artifact_type(t) for t in raw})


def clean_description(raw: str | None) -> str | None:
    if raw is not None and len(raw) > MAX_DESCRIPTION:
        raise ValidationError(f"description must be at most {MAX_DESCRIPTION} characters")
    return raw


def check_unique(s: Session, org_id: int, name: str, except_id: int | None = None) -> None:
    clash = s.scalar(
        select(Registry.id).where(
            Registry.org_id == org_id, Registry.name_key == names.name_key(name)
        )
    )
    if clash is not None and clash != except_id:
        raise ConflictError(f"a registry named {name!r} already exists (names ignore case)")


def owner_team_of(s: Session, org: orgs.OrgAccess, name: str | None) -> Team | None:
    return None if name is None else teams.get(s, org, name)


def create(
    s: Session,
    actor: Principal | None,
    org: orgs.OrgAccess,
    *,
    name: str,
    visibility: str,
    description: str | None = None,
    artifact_types: list[str] | None = None,
    owner_team: str | None = None,
    is_core: bool = False,
) -> RegistryView:
    """A new registry; its creator becomes a registry admin. Empty types mean all types."""
    if actor is not None and org.role not in ORG_ROLES_THAT_CREATE_REGISTRIES:
        raise PermissionDeniedError("organization viewers cannot create registries")
    clean = names.registry_name(name)
    vis = parse_visibility(visibility)
    types = clean_types(artifact_types or [])
    team = owner_team_of(s, org, owner_team)
    check_unique(s, org.org.id, clean)
    reg = Registry(
        org_id=org.org.id,
        name=clean,
        name_key=names.name_key(clean),
        description=clean_description(description),
        visibility=vis.value,
        allow_all_types=not types,
        owner_team_id=team.id if team else None,
        is_core=is_core,
        created_by_id=actor.user_id if actor else None,
    )
    s.add(reg)
    s.flush()
    s.add_all(RegistryType(registry_id=reg.id, type_name=t) for t in types)
    if actor is not None:
        s.add(RegistryMember(registry_id=reg.id, user_id=actor.user_id, role="admin"))
    audit.record(
        s,
        actor,
        "registry.create",
        target_type="registry",
        target_id=reg.id,
        registry_id=reg.id,
        target_name=clean,
        org_id=org.org.id,
        after={"visibility": vis.value, "artifact_types": types or None},
    )
    s.flush()
    return RegistryView(
        reg, org.org.name, RegistryRole.ADMIN, types, [], team.name if team else None
    )


def lookup(
    s: Session, actor: Principal, org_name: str, registry_name: str, action: Action
) -> tuple[orgs.OrgAccess, access.RegistryAccess]:
    """The registry if the actor may do `action` on it (404 hidden or absent, 403 visible)."""
    org = orgs.access(s, actor, org_name)
    key = names.name_key(names.strip_registry_prefix(registry_name))
    reg = s.scalar(select(Registry).where(Registry.org_id == org.org.id, Registry.name_key == key))
    return org, access.require(s, actor, reg, action, registry_name, (org.org.id, org.role))


def views(
    s: Session, org_name: str, pairs: list[tuple[Registry, RegistryRole]]
) -> list[RegistryView]:
    """Response views for registries, loading types, aliases and teams in batched queries."""
    ids = [r.id for r, _ in pairs]
    types: dict[int, list[str]] = {i: [] for i in ids}
    protected: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for rid, t in s.execute(
            select(RegistryType.registry_id, RegistryType.type_name)
            .where(RegistryType.registry_id.in_(ids))
            .order_by(RegistryType.type_name)
        ):
            types[rid].append(t)
        for rid, a in s.execute(
            select(ProtectedAlias.registry_id, ProtectedAlias.alias)
            .where(ProtectedAlias.registry_id.in_(ids))
            .order_by(ProtectedAlias.alias)
        ):
            protected[rid].append(a)
    team_ids = {r.owner_team_id for r, _ in pairs if r.owner_team_id}
    team_names = (
        dict(s.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids))).all())
        if team_ids
        else {}
    )
    return [
        RegistryView(
            r,
            org_name,
            role,
            types[r.id],
            protected[r.id],
            team_names.get(r.owner_team_id) if r.owner_team_id else None,
        )
        for r, role in pairs
    ]


def get(s: Session, actor: Principal, org_name: str, registry_name: str) -> RegistryView:
    """One registry the actor can see."""
    org, found = lookup(s, actor, org_name, registry_name, Action.VIEW)
    return views(s, org.org.name, [(found.registry, found.role)])[0]


def _order(order: str | None) -> tuple[str, bool]:
    raw = order or "name"
    desc = raw.startswith("-")
    key = raw[1:] if desc else raw
    if key not in ORDERS:
        valid = ", ".join(ORDERS)
        raise ValidationError(f"cannot order by {raw!r}; valid: {valid}, each optionally with '-'")
    return key, desc


def list_visible(
    s: Session,
    actor: Principal,
    org_name: str,
    *,
    filter_json: str | None = None,
    order: str | None = None,
    per_page: int = 100,
    cursor: str | None = None,
) -> tuple[list[RegistryView], str | None]:
    """One page of the registries the actor can see, filtered, ordered and cut in SQL."""
    org = orgs.access(s, actor, org_name)
    if not 1 <= per_page <= 1000:
        raise ValidationError("per_page must be between 1 and 1000")
    expr = parse_filter(parse_filter_json(filter_json), FILTER_FIELDS)
    key, desc = _order(order)
    sorts: dict[str, SQLColumnExpression[Any]] = {
        "name": Registry.name_key,
        "created_at": Registry.created_at,
        "updated_at": Registry.updated_at,
    }
    sort_col = sorts[key]
    condition = and_(Registry.org_id == org.org.id, compile_filter(expr, COLUMNS))
    if cursor:
        value, last_id = decode_cursor(cursor, is_time=key != "name")
        after = tuple_(sort_col, Registry.id)
        condition = and_(
            condition, after < tuple_(value, last_id) if desc else after > tuple_(value, last_id)
        )
    ordering = (sort_col.desc(), Registry.id.desc()) if desc else (sort_col, Registry.id)
    limit = per_page + 1
    query = select(Registry).where(condition)
    if org.role != OrgRole.ADMIN:
        query = query.where(
            Registry.id.in_(_page_candidates(org, actor, condition, ordering, limit))
        )
    rows = list(s.scalars(query.order_by(*ordering).limit(limit)))
    ranks = access.ranks_for(
        s, actor.user_id, org.org.id, org.role, [r.id for r in rows[:per_page]]
    )
    page = [(reg, ranks[reg.id]) for reg in rows[:per_page]]
    next_cursor = None
    if len(rows) > per_page:
        last = page[-1][0]
        next_cursor = encode_cursor(last.name_key if key == "name" else getattr(last, key), last.id)
    return views(s, org.org.name, page), next_cursor


def _page_candidates(
    org: orgs.OrgAccess,
    actor: Principal,
    condition: ColumnElement[bool],
    ordering: tuple[Any, ...],
    limit: int,
) -> Any:
    """Ids that can make the page: the first `limit` organization-visible registries in order
    (read along an index), and the first `limit` the caller was granted. The page is the first
    `limit` of their union, so its cost follows the page size and the caller's own grants,
    never the registries hidden from the caller."""
    everyone = (
        select(Registry.id)
        .where(condition, Registry.visibility == Visibility.ORGANIZATION.value)
        .order_by(*ordering)
        .limit(limit)
        .subquery()
    )
    sources = access.role_sources(org.org.id, actor.user_id, org_wide=False).subquery()
    granted = (
        select(Registry.id)
        .where(condition, Registry.id.in_(select(sources.c[0])))
        .order_by(*ordering)
        .limit(limit)
        .subquery()
    )
    return union(select(everyone.c.id), select(granted.c.id))


def collection_counts(s: Session, registry_ids: list[int]) -> dict[int, int]:
    """How many collections each registry holds, in one query."""
    if not registry_ids:
        return {}
    counts: dict[int, int] = dict(
        s.execute(
            select(Collection.registry_id, func.count())
            .where(Collection.registry_id.in_(registry_ids))
            .group_by(Collection.registry_id)
        ).all()
    )
    return counts
