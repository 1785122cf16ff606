"""A registry's "last update" moves whenever a collection in it changes; member suggestions."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from cairn.server.db.models import Registry
from cairn.server.domain.errors import NotFoundError, PermissionDeniedError
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, registry_members
from cairn.server.services.registry_members import MemberSpec
from tests.api.cast import admin_principal, log_artifact, new_registry, new_team
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
REG = "/orgs/default/registries/Vision"
COLL = REG + "/collections/bert"


def _age(state: AppState) -> None:
    """Put the registry's last update far in the past."""
    with state.writers() as s, s.begin():
        s.execute(update(Registry).where(Registry.name == "Vision").values(updated_at=LONG_AGO))


def _updated(client: httpx.Client, key: str) -> datetime:
    resp = call(client, "GET", REG, key)
    assert resp.status_code == 200, resp.text
    return datetime.fromisoformat(resp.json()["updated_at"])


def test_collection_changes_move_the_registry_last_update(
    state: AppState, app_client: httpx.Client, admin_key: str
) -> None:
    with state.writers() as s, s.begin():
        new_registry(s, "Vision", "organization")
    logged = log_artifact(app_client, admin_key, "admin", "nlp", "bert", b"weights")
    source = logged["ref"]

    steps: list[tuple[str, str, str, dict[str, object] | None]] = [
        ("create", "POST", REG + "/collections", {"name": "bert", "type": "model"}),
        ("edit", "PATCH", COLL, {"description": "Now *described*.", "tags": ["nlp"]}),
        ("link", "POST", COLL + "/versions", {"source": source}),
        ("alias set", "PUT", COLL + "/aliases/staging", {"version": "v0"}),
        ("alias remove", "DELETE", COLL + "/aliases/staging", None),
        ("unlink", "DELETE", COLL + "/versions/v0", None),
        ("delete", "DELETE", COLL, None),
    ]
    for what, method, path, body in steps:
        _age(state)
        assert _updated(app_client, admin_key) == LONG_AGO
        kwargs = {"json": body} if body is not None else {}
        resp = call(app_client, method, path, admin_key, **kwargs)
        assert resp.status_code < 300, (what, resp.text)
        assert _updated(app_client, admin_key) > LONG_AGO, what

    # A change that changes nothing leaves it alone.
    assert (
        call(
            app_client,
            "POST",
            REG + "/collections",
            admin_key,
            json={"name": "gpt", "type": "model", "description": "same"},
        ).status_code
        == 201
    )
    _age(state)
    same = call(
        app_client, "PATCH", REG + "/collections/gpt", admin_key, json={"description": "same"}
    )
    assert same.status_code == 200, same.text
    assert _updated(app_client, admin_key) == LONG_AGO


def test_member_suggestions_only_for_registry_admins(state: AppState, make_user: MakeUser) -> None:
    make_user("alma", email="alma@example.com")
    make_user("albert", email="bert@example.com")
    make_user("zed", email="also@example.com")
    make_user("alien", role=None, email="alien@example.com")  # not in the organization
    with state.writers() as s, s.begin():
        new_team(s, "alpha-team", {})
        new_registry(s, "Vision", "organization", members=[MemberSpec("albert", None, "member")])
    with state.readers() as s:
        admin = admin_principal(s)
        found = registry_members.suggest(s, admin, "default", "Vision", "AL")
        values = [f.value for f in found]
        # Users by username and email, teams by name; never an existing member, never a
        # user outside the organization.
        assert "alma" in values
        assert "alma@example.com" in values
        assert "also@example.com" in values
        assert "alpha-team" in values
        assert "albert" not in values
        assert not any("alien" in v for v in values)
        assert registry_members.suggest(s, admin, "default", "Vision", "") == []
        assert len(registry_members.suggest(s, admin, "default", "Vision", "a", limit=2)) == 2
        assert registry_members.suggest(s, admin, "default", "Vision", "%") == []

    with state.readers() as s:
        albert = accounts.as_principal(accounts.get_user(s, "albert"), "session")
        with pytest.raises(PermissionDeniedError):
            registry_members.suggest(s, albert, "default", "Vision", "al")
    with state.writers() as s, s.begin():
        new_registry(s, "Hidden", "restricted")
    with state.readers() as s:
        albert = accounts.as_principal(accounts.get_user(s, "albert"), "session")
        with pytest.raises(NotFoundError):
            registry_members.suggest(s, albert, "default", "Hidden", "al")
