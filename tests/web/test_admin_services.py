"""The service functions behind the admin pages: keyset pages, per-row permissions, audit."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from cairn.server.db.models import Organization
from cairn.server.domain.errors import NotFoundError
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole, TeamRole
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, history, keys, orgs, teams
from tests.api import cast

pytestmark = pytest.mark.both_backends


def default_org(s: Session) -> Organization:
    found = orgs.find_org(s, "default")
    assert found is not None
    return found


def org_admin(s: Session, username: str) -> Principal:
    """A plain (not super) user who is an admin of `default`."""
    user, _ = cast.new_user(s, username, role=OrgRole.ADMIN)
    return accounts.as_principal(user, "session")


def test_member_pages_walk_everyone_once_in_username_order(state: AppState) -> None:
    people = ["Zed", "alice", "Bob", "bob2", "carol", "dave", "Eve"]
    with state.writers() as s, s.begin():
        for name in people:
            cast.new_user(s, name)
        for name in ("bot-a", "bot-b"):
            cast.new_user(s, name, service=True)
    with state.readers() as s:
        org = default_org(s)
        seen: list[str] = []
        after: str | None = None
        pages = 0
        while True:
            rows, after = orgs.member_page(s, org, service=False, after=after, per_page=3)
            seen += [u.username for u, _ in rows]
            pages += 1
            if after is None:
                break
        assert sorted(seen) == sorted([*people, "admin"])
        assert len(seen) == len(set(seen)), "no one twice"
        assert pages == 3
        whole, last = orgs.member_page(s, org, service=False, per_page=100)
        assert [u.username for u, _ in whole] == seen, "pages follow one order"
        assert last is None
        bots, _ = orgs.member_page(s, org, service=True)
        assert [u.username for u, _ in bots] == ["bot-a", "bot-b"]
        found, _ = orgs.member_page(s, org, service=False, query="BOB")
        assert [u.username for u, _ in found] == sorted(["Bob", "bob2"], key=seen.index)
        assert orgs.member_page(s, org, service=False, query="%")[0] == [], "LIKE is escaped"


def test_team_pages_and_member_pages(state: AppState) -> None:
    with state.writers() as s, s.begin():
        for name in ("u1", "u2", "u3"):
            cast.new_user(s, name)
        for i in range(5):
            cast.new_team(s, f"team-{i}", {"u1": TeamRole.MEMBER} if i == 2 else {})
        cast.new_team(
            s, "crowd", {"u1": TeamRole.MEMBER, "u2": TeamRole.ADMIN, "u3": TeamRole.MEMBER}
        )
    with state.readers() as s:
        access = orgs.access(s, cast.admin_principal(s), "default")
        names: list[str] = []
        counts: dict[str, int] = {}
        after: str | None = None
        while True:
            rows, after = teams.page_for(s, access, after=after, per_page=2)
            names += [t.name for t, _ in rows]
            counts.update({t.name: n for t, n in rows})
            if after is None:
                break
        assert names == ["crowd", "team-0", "team-1", "team-2", "team-3", "team-4"]
        assert counts["team-2"] == 2  # admin (its creator) and u1
        assert counts["crowd"] == 4
        crowd = teams.get(s, access, "crowd")
        first, next_after = teams.member_page(s, crowd, per_page=3)
        rest, end = teams.member_page(s, crowd, after=next_after, per_page=3)
        assert [u.username for u, _ in first + rest] == ["admin", "u1", "u2", "u3"]
        assert end is None
        assert {u.username: r for u, r in first + rest}["u2"] == TeamRole.ADMIN


def test_row_controls_follow_the_service_rules(state: AppState) -> None:
    with state.writers() as s, s.begin():
        actor = org_admin(s, "boss")
        local, _ = cast.new_user(s, "local")
        roaming, _ = cast.new_user(s, "roaming")
        orgs.create(s, None, "elsewhere", None)
        cast.add_to_org(s, roaming, "elsewhere")
        bot, _ = cast.new_user(s, "bot", service=True)
        far_bot, _ = cast.new_user(s, "far-bot", service=True)
        cast.add_to_org(s, far_bot, "elsewhere")
        ids = {u.username: u.id for u in (local, roaming, bot, far_bot)}
    with state.writers() as s, s.begin():
        allowed = accounts.may_set_active(s, actor, ids.values())
        assert allowed == {ids["local"], ids["bot"]}
        assert accounts.may_set_active(s, cast.admin_principal(s), ids.values()) == set(
            ids.values()
        ), "the superuser may (de)activate anyone"
        # The same answers as the services themselves give.
        accounts.set_active(s, actor, "local", False)
        with pytest.raises(NotFoundError):
            accounts.set_active(s, actor, "roaming", False)
        assert accounts.administered_users(s, actor, ids.values()) == {ids["local"], ids["bot"]}


def test_service_account_keys_are_reached_through_their_account(state: AppState) -> None:
    with state.writers() as s, s.begin():
        actor = org_admin(s, "keeper")
        plain, _ = cast.new_user(s, "plain")
        cast.new_user(s, "bot", service=True)
        cast.new_user(s, "bot2", service=True)
        orgs.create(s, None, "elsewhere", None)
        cast.new_user(s, "far-bot", org="elsewhere", service=True)
    with state.writers() as s, s.begin():
        org = default_org(s)
        bot = keys.service_account(s, actor, org, "bot")
        bot2 = keys.service_account(s, actor, org, "BOT2")
        for who, name in ((actor, "plain"), (actor, "keeper"), (actor, "far-bot")):
            with pytest.raises(NotFoundError):
                keys.service_account(s, who, org, name)
        member = accounts.as_principal(plain, "session")
        with pytest.raises(NotFoundError):
            keys.service_account(s, member, org, "bot")
        theirs, _ = keys.create(s, actor, bot2, "theirs", org_id=org.id)
        with pytest.raises(NotFoundError):
            keys.revoke_service_key(s, actor, org, bot, theirs.id)
        assert [k.name for k in keys.list_for(s, bot2)] == ["theirs", "tests"]
        keys.revoke_service_key(s, actor, org, bot2, theirs.id)
        assert [k.name for k in keys.list_for(s, bot2)] == ["tests"]


def test_audit_log_filters_by_target_and_registry(state: AppState) -> None:
    with state.writers() as s, s.begin():
        actor = org_admin(s, "auditor")
        org = default_org(s)
        cast.new_team(s, "crew", {"auditor": TeamRole.MEMBER})
        cast.new_team(s, "crewmates", {})
        bot, _ = cast.new_user(s, "bot", service=True)
        keys.create(s, actor, bot, "shown", org_id=org.id)
        keys.create(s, actor, bot, "unscoped")  # from the API: no organization recorded
        cast.new_registry(s, "Audited", "restricted")
    with state.readers() as s:

        def actions(
            target: str | None = None, action: str | None = None, registry: str | None = None
        ) -> list[str]:
            found = history.audit_log(
                s, actor, "default", target=target, action=action, registry=registry
            )
            return [f"{e.action} {e.target_name}" for e in found]

        assert actions(target="CREW") == ["team.member.add crew/auditor", "team.create crew"]
        assert actions(target="bot/shown") == ["key.create bot/shown"]
        assert actions(target="bot", action="key.") == ["key.create bot/shown"]
        assert actions(target="cre") == [], "a target is a whole name, not a prefix of one"
        assert actions(registry="Audited")[-1].startswith("registry.create")
        with pytest.raises(NotFoundError):
            actions(registry="absent")
