"""Listing registries is one query per page: the statement count does not grow with the data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, insert, select

from cairn.server.db.models import (
    OrgMember,
    ProtectedAlias,
    Registry,
    RegistryMember,
    RegistryType,
    Team,
    TeamMember,
    User,
)
from cairn.server.domain.names import name_key
from cairn.server.domain.roles import RegistryRole, TeamRole
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, orgs, teams
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

REGS = "/orgs/default/registries"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
ROLES = [r.value for r in RegistryRole]
RANK = {r: i for i, r in enumerate(ROLES)}
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
FILTER = {
    "$or": [{"name": {"$regex": "0$"}}, {"description": {"$in": ["about 3", "about 5"]}}],
    "created_at": {"$gte": "2024-01-01T00:00:00Z"},
}


def matches_filter(row: dict[str, Any]) -> bool:
    """FILTER, evaluated in Python."""
    return (row["name"].endswith("0") or row["description"] in ("about 3", "about 5")) and row[
        "created_at"
    ] >= BASE


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """Collect every SQL statement the engine sends, transaction control left out."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statement = str(args[2])
        if not statement.lstrip().upper().startswith(CONTROL):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def setup_people(state: AppState) -> dict[str, int]:
    """Teams for the lister: one where they are a member, one they administer, one not theirs."""
    with state.writers() as s, s.begin():
        admin = accounts.get_user(s, "admin")
        actor = accounts.as_principal(admin, "key")
        org = orgs.access(s, actor, "default")
        made = {}
        for name in ("listers", "owners", "others"):
            made[name] = teams.create(s, actor, org, name, None).id
        teams.add_member(s, actor, org, s.get_one(Team, made["listers"]), "lister", TeamRole.MEMBER)
        teams.add_member(s, actor, org, s.get_one(Team, made["owners"]), "lister", TeamRole.ADMIN)
        made["lister"] = accounts.get_user(s, "lister").id
        made["org"] = org.org.id
        return made


def add_registries(state: AppState, ids: dict[str, int], numbers: range) -> None:
    """Bulk-insert registries `reg<n>`: half restricted, with members, teams, types, aliases."""
    rows = []
    for n in numbers:
        owner = ids["owners"] if n % 4 == 0 else ids["others"] if n % 4 == 3 else None
        rows.append(
            {
                "org_id": ids["org"],
                "name": f"reg{n:04d}",
                "name_key": name_key(f"reg{n:04d}"),
                "description": None if n % 7 == 0 else f"about {n % 10}",
                "visibility": "organization" if n % 2 == 0 else "restricted",
                "allow_all_types": n % 3 != 0,
                "owner_team_id": owner,
                "is_core": False,
                "created_at": BASE + timedelta(seconds=n),
                "updated_at": BASE + timedelta(seconds=n, hours=n % 5),
            }
        )
    with state.writers() as s, s.begin():
        s.execute(insert(Registry), rows)
        wanted = [f"reg{n:04d}" for n in numbers]
        by_name = dict(
            s.execute(select(Registry.name, Registry.id).where(Registry.name.in_(wanted))).all()
        )
        types, aliases, members = [], [], []
        for n in numbers:
            rid = by_name[f"reg{n:04d}"]
            if n % 3 == 0:
                types += [
                    {"registry_id": rid, "type_name": "model"},
                    {"registry_id": rid, "type_name": "x"},
                ]
            if n % 6 == 1:
                aliases.append({"registry_id": rid, "alias": "production"})
            if n % 5 == 0:
                role = ROLES[n // 5 % 4]
                members.append({"registry_id": rid, "user_id": ids["lister"], "role": role})
            if n % 11 == 0:
                role = ROLES[n // 11 % 4]
                members.append({"registry_id": rid, "team_id": ids["listers"], "role": role})
        s.execute(insert(RegistryType), types)
        s.execute(insert(ProtectedAlias), aliases)
        s.execute(insert(RegistryMember), members)


def brute_force(state: AppState, username: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """{registry name: (role, row)} for every registry `username` can see, computed in Python."""
    with state.readers() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        org_role = s.scalar(select(OrgMember.role).where(OrgMember.user_id == user.id))
        my_teams = dict(
            s.execute(
                select(TeamMember.team_id, TeamMember.role).where(TeamMember.user_id == user.id)
            ).all()
        )
        grants: dict[int, list[str]] = {}
        for m in s.scalars(select(RegistryMember)):
            if m.user_id == user.id or (m.team_id is not None and m.team_id in my_teams):
                grants.setdefault(m.registry_id, []).append(m.role)
        seen = {}
        for r in s.scalars(select(Registry)):
            roles = list(grants.get(r.id, []))
            if org_role == "admin":
                roles.append("admin")
            if r.visibility == "organization":
                roles.append("viewer")
            if r.owner_team_id is not None and my_teams.get(r.owner_team_id) == "admin":
                roles.append("admin")
            if roles:
                row = {
                    "id": r.id,
                    "name": r.name,
                    "description": r.description,
                    "created_at": r.created_at,
                }
                seen[r.name] = (max(roles, key=RANK.__getitem__), row)
        return seen


def every_page(client: httpx.Client, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = call(client, "GET", REGS, key, params=query).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def statement_counts(client: httpx.Client, state: AppState, keys: dict[str, str]) -> dict[str, int]:
    """Statements per API request for one page, in each scenario."""
    scenarios: dict[str, tuple[str, dict[str, Any]]] = {
        "org member": (keys["member"], {"per_page": 100}),
        "org admin": (keys["admin"], {"per_page": 100}),
        "org member, filtered": (keys["member"], {"per_page": 100, "filter": json.dumps(FILTER)}),
        "org member, by -updated_at": (keys["member"], {"per_page": 100, "order": "-updated_at"}),
    }
    first = call(client, "GET", REGS, keys["member"], params={"per_page": 5}).json()
    assert first["next_cursor"] is not None
    scenarios["org member, second page"] = (
        keys["member"],
        {"per_page": 5, "cursor": first["next_cursor"]},
    )
    counts = {}
    for label, (key, params) in scenarios.items():
        assert call(client, "GET", REGS, key, params=params).status_code == 200  # warm up
        with counting(state.engine) as statements:
            resp = call(client, "GET", REGS, key, params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json()["items"], label
        counts[label] = len(statements)
    return counts


def test_one_page_costs_the_same_few_statements_for_10_or_1000_registries(
    app_client: httpx.Client, state: AppState, admin_key: str, make_user: MakeUser
) -> None:
    keys = {"admin": admin_key, "member": make_user("lister")}
    ids = setup_people(state)
    add_registries(state, ids, range(10))
    small = statement_counts(app_client, state, keys)
    add_registries(state, ids, range(10, 1000))
    large = statement_counts(app_client, state, keys)
    assert large == small, f"statements per page grew with the data: {small} -> {large}"
    # org membership, the page, the roles of its rows, types, protected aliases, owner teams
    # and collection counts: seven at most, whatever the number of registries.
    assert max(large.values()) <= 7, large


def test_listing_shows_exactly_the_visible_registries(
    app_client: httpx.Client, state: AppState, admin_key: str, make_user: MakeUser
) -> None:
    keys = {"lister": make_user("lister"), "admin": admin_key}
    ids = setup_people(state)
    add_registries(state, ids, range(1000))
    for who, key in keys.items():
        expected = brute_force(state, who)
        assert 300 < len(expected) <= 1002
        listed = every_page(app_client, key, per_page=1000)
        assert len(listed) == len({r["id"] for r in listed})
        roles = {n: role for n, (role, _) in expected.items()}
        assert {r["name"]: r["role"] for r in listed} == roles, who
        ordered = sorted(expected.values(), key=lambda v: (name_key(v[1]["name"]), v[1]["id"]))
        first = call(app_client, "GET", REGS, key, params={"per_page": 100}).json()["items"]
        assert [r["name"] for r in first] == [row["name"] for _, row in ordered[:100]], who
        filtered = every_page(app_client, key, per_page=100, filter=json.dumps(FILTER))
        wanted = {n for n, (_, row) in expected.items() if matches_filter(row)}
        assert 50 < len(wanted) < len(expected)
        assert {r["name"] for r in filtered} == wanted, who
