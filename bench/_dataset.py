"""Synthetic organization for the benchmarks: users, teams and registries, bulk-inserted."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select

from cairn.server.db.models import (
    AuditEvent,
    Entity,
    Organization,
    OrgMember,
    Registry,
    RegistryMember,
    RegistryType,
    Team,
    TeamMember,
    User,
)
from cairn.server.domain.names import name_key
from cairn.server.domain.roles import OrgRole, RegistryRole, TeamRole, Visibility
from cairn.server.services.provisioning import ADMIN_USERNAME

MEMBER = "bench-member"
VIEWER = "bench-viewer"
LONER = "bench-loner"
ADMIN = "bench-admin"
WRITERS = tuple(f"bench-writer-{i}" for i in range(1, 5))
SPECIAL_ROLES: dict[str, OrgRole] = {
    MEMBER: OrgRole.MEMBER,
    VIEWER: OrgRole.VIEWER,
    LONER: OrgRole.MEMBER,
    ADMIN: OrgRole.ADMIN,
    **dict.fromkeys(WRITERS, OrgRole.MEMBER),
}
NO_TEAMS = frozenset({VIEWER, LONER})
AREAS = (
    *("Vision", "Speech", "Ranking", "Fraud", "Search", "Forecast", "NLP", "Robotics"),
    *("Ads", "RecSys", "Medical", "Climate", "Finance", "Chat", "Code", "Maps"),
)
KINDS = ("Models", "Datasets", "Embeddings", "Checkpoints", "Evals", "Features", "Baselines")
TYPES = ("model", "dataset", "code", "evaluation", "config")
ROLES = [r.value for r in RegistryRole]
ROLE_WEIGHTS = [3, 3, 3, 1]  # restricted_viewer, viewer, member, admin
RESTRICTED = Visibility.RESTRICTED.value
ORGANIZATION = Visibility.ORGANIZATION.value
YEAR_SECONDS = 365 * 86_400
AuditItem = tuple[int, int, str, dict[str, Any] | None]


@dataclass
class People:
    """The organization's users and teams, as inserted."""

    org_id: int
    admin_id: int
    ids: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    roles: dict[int, OrgRole] = field(default_factory=dict)
    teams: list[int] = field(default_factory=list)
    teams_of: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class RegistrySpec:
    """One registry to insert, with its direct and team members."""

    name: str
    visibility: str
    creator: int
    owner_team: int | None
    types: list[str]
    users: dict[int, str]
    teams: dict[int, str]
    created_at: datetime
    updated_at: datetime


def provisioned(conn: Connection, org_name: str) -> People:
    """The organization and first admin of a database that `prepare()` provisioned."""
    org_id = conn.scalar(select(Organization.id).where(Organization.name == org_name))
    admin_id = conn.scalar(select(User.id).where(User.username == ADMIN_USERNAME))
    if org_id is None or admin_id is None:
        raise RuntimeError("the database was not provisioned (no default org or admin)")
    return People(org_id, admin_id, names={admin_id: ADMIN_USERNAME})


def _ids(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` in one executemany and return their new ids, in order."""
    if not rows:
        return []
    stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(conn.execute(stmt, rows).scalars())


def _insert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(model), rows)


def _entities(conn: Connection, kind: str, names: Sequence[str]) -> list[int]:
    rows = [{"kind": kind, "name": n, "name_key": n.lower()} for n in names]
    return _ids(conn, Entity, rows)


def _audit(
    conn: Connection, people: People, action: str, target: str, items: Iterable[AuditItem]
) -> None:
    """Audit rows as the services write them; items are (actor id, target id, name, after)."""
    rows = [
        {
            "org_id": people.org_id,
            "actor_id": actor,
            "actor_name": people.names[actor],
            "auth_method": "key",
            "key_id": None,
            "action": action,
            "target_type": target,
            "target_id": target_id,
            "target_name": name,
            "registry_id": target_id if target == "registry" else None,
            "before": None,
            "after": after,
        }
        for actor, target_id, name, after in items
    ]
    _insert(conn, AuditEvent, rows)


def org_roles(rng: random.Random, total: int) -> dict[str, OrgRole]:
    """Usernames with org roles: ~5% admins, ~10% viewers, the rest members."""
    generic = [f"user-{i:05d}" for i in range(1, total - len(SPECIAL_ROLES) + 1)]
    specials = list(SPECIAL_ROLES.values())
    admins = max(0, round(total * 0.05) - specials.count(OrgRole.ADMIN))
    viewers = max(0, round(total * 0.10) - specials.count(OrgRole.VIEWER))
    pool = [OrgRole.ADMIN] * admins + [OrgRole.VIEWER] * viewers
    pool += [OrgRole.MEMBER] * max(0, len(generic) - len(pool))
    rng.shuffle(pool)
    return SPECIAL_ROLES | dict(zip(generic, pool, strict=False))


def insert_users(
    conn: Connection, people: People, roles: dict[str, OrgRole], now: datetime
) -> None:
    """Users with their entities and org memberships (API keys only: no password)."""
    names = list(roles)
    rows = [
        {
            "entity_id": eid,
            "username": n,
            "email": f"{n}@example.com",
            "password_hash": None,
            "is_service": False,
            "is_superuser": False,
            "active": True,
            "created_at": now,
        }
        for n, eid in zip(names, _entities(conn, "user", names), strict=True)
    ]
    for n, uid in zip(names, _ids(conn, User, rows), strict=True):
        people.ids[n], people.names[uid], people.roles[uid] = uid, n, roles[n]
    members = [
        {"org_id": people.org_id, "user_id": people.ids[n], "role": roles[n].value} for n in names
    ]
    _insert(conn, OrgMember, members)
    audit = ((people.admin_id, people.ids[n], n, None) for n in names)
    _audit(conn, people, "user.create", "user", audit)


def _team_memberships(rng: random.Random, people: People) -> dict[int, list[int]]:
    """team id → user ids: each user in 1-3 teams (bench-member in 2; viewer and loner none)."""
    by_team: dict[int, list[int]] = {t: [] for t in people.teams}
    eligible = [uid for n, uid in people.ids.items() if n not in NO_TEAMS]
    for uid in eligible:
        k = 2 if people.names[uid] == MEMBER else rng.randint(1, 3)
        for t in rng.sample(people.teams, min(k, len(people.teams))):
            by_team[t].append(uid)
    for members in by_team.values():
        if not members:
            members.append(rng.choice(eligible))
    return by_team


def insert_teams(
    conn: Connection, rng: random.Random, people: People, count: int, now: datetime
) -> None:
    """Teams with entities and members; each team has at least one admin (its creator)."""
    names = [f"team-{i:03d}" for i in range(1, count + 1)]
    rows = [
        {
            "entity_id": eid,
            "org_id": people.org_id,
            "name": n,
            "description": None,
            "created_at": now,
        }
        for n, eid in zip(names, _entities(conn, "team", names), strict=True)
    ]
    people.teams = _ids(conn, Team, rows)
    team_names = dict(zip(people.teams, names, strict=True))
    members: list[dict[str, Any]] = []
    creators: list[AuditItem] = []
    for team, uids in _team_memberships(rng, people).items():
        creator = rng.choice(uids)
        creators.append((creator, team, team_names[team], None))
        for uid in uids:
            admin = uid == creator or rng.random() < 0.1
            role = TeamRole.ADMIN if admin else TeamRole.MEMBER
            members.append({"team_id": team, "user_id": uid, "role": role.value})
            people.teams_of.setdefault(uid, []).append(team)
    _insert(conn, TeamMember, members)
    _audit(conn, people, "team.create", "team", creators)


def _role(rng: random.Random) -> str:
    return rng.choices(ROLES, weights=ROLE_WEIGHTS)[0]


@dataclass(frozen=True)
class Pools:
    """Who may appear in generated registries."""

    creators: list[int]
    users: list[int]
    teams: list[int]


def pools(people: People, *, hide_from_member: bool) -> Pools:
    """Candidates for creators and members; never the viewer or the loner (nor the member)."""
    excluded = {people.ids[VIEWER], people.ids[LONER]}
    excluded_teams: set[int] = set()
    if hide_from_member:
        member = people.ids[MEMBER]
        excluded.add(member)
        excluded_teams.update(people.teams_of.get(member, []))
    users = [uid for uid in people.ids.values() if uid not in excluded]
    creators = [uid for uid in users if people.roles[uid] != OrgRole.VIEWER]
    teams = [t for t in people.teams if t not in excluded_teams]
    return Pools(creators, users, teams)


def _spec(
    rng: random.Random, index: int, visibility: str, pool: Pools, now: datetime
) -> RegistrySpec:
    restricted = visibility == RESTRICTED
    creator = rng.choice(pool.creators)
    users = {creator: RegistryRole.ADMIN.value}
    for uid in rng.sample(pool.users, rng.randint(0, 4 if restricted else 2)):
        users.setdefault(uid, _role(rng))
    n_teams = min(len(pool.teams), rng.randint(0, 2 if restricted else 1))
    teams = {t: _role(rng) for t in rng.sample(pool.teams, n_teams)}
    owner = rng.choice(pool.teams) if pool.teams and rng.random() < 0.1 else None
    types = [] if rng.random() < 0.5 else sorted(rng.sample(TYPES, rng.randint(1, 2)))
    age = timedelta(seconds=rng.uniform(0, YEAR_SECONDS))
    created = now - age
    name = f"{rng.choice(AREAS)} {rng.choice(KINDS)} {index:06d}"
    return RegistrySpec(
        name, visibility, creator, owner, types, users, teams, created, created + age * rng.random()
    )


def plan_registries(
    rng: random.Random, pool: Pools, count: int, start: int, now: datetime, *, mixed: bool
) -> list[RegistrySpec]:
    """`count` registries: half restricted, half organization (or all restricted)."""
    visibilities = [RESTRICTED] * (count // 2 if mixed else count)
    visibilities += [ORGANIZATION] * (count - len(visibilities))
    rng.shuffle(visibilities)
    return [_spec(rng, start + i, v, pool, now) for i, v in enumerate(visibilities)]


def grant_direct(rng: random.Random, specs: list[RegistrySpec], user_id: int, k: int) -> None:
    """Make `user_id` a direct member of `k` of the restricted registries in `specs`."""
    restricted = [s for s in specs if s.visibility == RESTRICTED and user_id not in s.users]
    for spec in rng.sample(restricted, min(k, len(restricted))):
        spec.users[user_id] = _role(rng)


def _registry_row(org_id: int, s: RegistrySpec) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "name": s.name,
        "name_key": name_key(s.name),
        "description": f"{s.name}: artifacts curated by the benchmark",
        "visibility": s.visibility,
        "allow_all_types": not s.types,
        "owner_team_id": s.owner_team,
        "is_core": False,
        "created_by_id": s.creator,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def _member_rows(ids: list[int], specs: list[RegistrySpec]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rid, s in zip(ids, specs, strict=True):
        for uid, role in s.users.items():
            rows.append({"registry_id": rid, "user_id": uid, "team_id": None, "role": role})
        for tid, role in s.teams.items():
            rows.append({"registry_id": rid, "user_id": None, "team_id": tid, "role": role})
    return rows


def insert_registries(conn: Connection, people: People, specs: list[RegistrySpec]) -> None:
    """Registries with their accepted types, members (creator as admin) and audit rows."""
    ids = _ids(conn, Registry, [_registry_row(people.org_id, s) for s in specs])
    types = [
        {"registry_id": rid, "type_name": t}
        for rid, s in zip(ids, specs, strict=True)
        for t in s.types
    ]
    _insert(conn, RegistryType, types)
    _insert(conn, RegistryMember, _member_rows(ids, specs))
    audit = (
        (s.creator, rid, s.name, {"visibility": s.visibility, "artifact_types": s.types or None})
        for rid, s in zip(ids, specs, strict=True)
    )
    _audit(conn, people, "registry.create", "registry", audit)


def counts(conn: Connection) -> dict[str, int]:
    """Row counts that describe the dataset."""
    restricted = Registry.visibility == RESTRICTED
    queries = {
        "registries": select(func.count()).select_from(Registry),
        "restricted": select(func.count()).select_from(Registry).where(restricted),
        "users": select(func.count()).select_from(User),
        "teams": select(func.count()).select_from(Team),
        "team_members": select(func.count()).select_from(TeamMember),
        "registry_members": select(func.count()).select_from(RegistryMember),
    }
    return {k: int(conn.scalar(q) or 0) for k, q in queries.items()}
