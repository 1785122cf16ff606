"""API keys: shown once, stored as prefix and hash, refused once revoked or their user is off."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cairn.server.api.routing import API_PREFIX
from cairn.server.db.base import Base
from cairn.server.db.models import ApiKey
from cairn.server.http.deps import AppState
from cairn.server.services import accounts
from tests.api import cast
from tests.conftest import MakeUser

pytestmark = pytest.mark.both_backends

KEYS = f"{API_PREFIX}/keys"
VIEWER = f"{API_PREFIX}/viewer"
KEY_FIELDS = {"id", "name", "prefix", "username", "created_at", "last_used_at"}


def create_key(
    client: httpx.Client, key: str, name: str = "ci", user: str | None = None
) -> dict[str, Any]:
    body = {"name": name} if user is None else {"name": name, "user": user}
    resp = cast.send(client, "POST", KEYS, key, json=body)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


def list_keys(client: httpx.Client, key: str, user: str | None = None) -> list[dict[str, Any]]:
    resp = cast.send(client, "GET", KEYS, key, params={"user": user} if user else None)
    assert resp.status_code == 200, resp.text
    listed: list[dict[str, Any]] = resp.json()
    return listed


def whoami(client: httpx.Client, key: str) -> httpx.Response:
    return cast.send(client, "GET", VIEWER, key)


def secret_of(full_key: str) -> str:
    return full_key.split("_", 2)[2]


def assert_refused(client: httpx.Client, key: str) -> None:
    """The key gets 401, with exactly the answer of a key that was never issued."""
    resp = whoami(client, key)
    assert resp.status_code == 401, resp.text
    assert cast.error_code(resp) == "authentication_error"
    never = whoami(client, cast.UNKNOWN_KEY)
    assert resp.content == never.content
    assert cast.comparable_headers(resp) == cast.comparable_headers(never)


def test_full_key_is_shown_only_at_creation(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice = make_user("alice")
    created = create_key(app_client, alice, "laptop")
    full = created["key"]
    assert set(created) == KEY_FIELDS | {"key"}
    assert full.startswith("cairn_")
    assert created["prefix"] == full.split("_")[1]
    assert created["username"] == "alice"
    assert whoami(app_client, full).json()["username"] == "alice"

    resp = cast.send(app_client, "GET", KEYS, alice)
    assert resp.status_code == 200
    listed = resp.json()
    assert [k["name"] for k in listed] == ["laptop", "tests"]
    assert all(set(k) == KEY_FIELDS for k in listed)
    assert secret_of(full) not in resp.text
    assert secret_of(alice) not in resp.text


def _every_stored_value(state: AppState) -> list[tuple[str, str, str]]:
    """(table, column, value as text) for every non-null cell of every table."""
    cells: list[tuple[str, str, str]] = []
    with state.readers() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).mappings():
                cells.extend(
                    (table.name, column, str(value))
                    for column, value in row.items()
                    if value is not None
                )
    return cells


def test_database_holds_no_secret_only_prefix_and_hash(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser, state: AppState
) -> None:
    alice = make_user("alice")
    made = create_key(app_client, alice, "ci")
    user = {"username": "carol", "password": "a-long-enough-password"}
    added = cast.send(app_client, "POST", f"{API_PREFIX}/orgs/default/users", admin_key, json=user)
    assert added.status_code == 201, added.text
    login = cast.send(app_client, "POST", f"{API_PREFIX}/auth/login", None, json=user)
    assert login.status_code == 201, login.text
    issued = [admin_key, alice, made["key"], login.json()["key"]]

    with state.readers() as s:
        rows = s.execute(select(ApiKey.prefix, ApiKey.secret_hash)).all()
    stored: dict[str, str] = dict(rows)
    for full in issued:
        prefix, secret = full.split("_")[1], secret_of(full)
        assert prefix in stored, "the lookup prefix is stored"
        assert secret not in stored[prefix]
        assert stored[prefix] != secret
    for table, column, value in _every_stored_value(state):
        for full in issued:
            assert secret_of(full) not in value, f"{table}.{column} holds a key's secret"
        assert user["password"] not in value, f"{table}.{column} holds a password"


def test_revoked_key_is_refused_and_gone_from_the_list(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    second = create_key(app_client, alice, "ci")
    assert whoami(app_client, second["key"]).status_code == 200

    gone = cast.send(app_client, "DELETE", f"{KEYS}/{second['id']}", alice)
    assert gone.status_code == 204, gone.text
    assert_refused(app_client, second["key"])
    assert second["id"] not in [k["id"] for k in list_keys(app_client, alice)]
    again = cast.send(app_client, "DELETE", f"{KEYS}/{second['id']}", alice)
    assert again.status_code == 404
    assert whoami(app_client, alice).status_code == 200

    own = list_keys(app_client, alice)[0]["id"]  # the key making this very request
    assert cast.send(app_client, "DELETE", f"{KEYS}/{own}", alice).status_code == 204
    assert_refused(app_client, alice)


def test_deactivated_users_keys_are_refused(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    second = create_key(app_client, bob, "ci")
    assert whoami(app_client, bob).status_code == 200
    off = cast.send(
        app_client, "PATCH", f"{API_PREFIX}/users/bob", admin_key, json={"active": False}
    )
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    for key in (bob, second["key"]):
        assert_refused(app_client, key)
        assert cast.send(app_client, "GET", KEYS, key).status_code == 401
        assert cast.send(app_client, "POST", KEYS, key, json={"name": "x"}).status_code == 401


def test_last_used_at_is_recorded_on_use(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice = make_user("alice")
    second = create_key(app_client, alice, "ci")
    assert second["last_used_at"] is None

    def listed() -> dict[str, Any]:
        return next(k for k in list_keys(app_client, alice) if k["id"] == second["id"])

    assert listed()["last_used_at"] is None, "listing with another key does not touch this one"
    assert whoami(app_client, second["key"]).status_code == 200
    used = listed()["last_used_at"]
    assert used is not None
    assert datetime.fromisoformat(used) >= datetime.fromisoformat(second["created_at"])


def test_users_cannot_list_create_or_revoke_each_others_keys(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    org_admin = make_user("olga", role="admin")  # admin of bob's org, but bob is a person
    bobs = list_keys(app_client, bob)
    bob_key_id = bobs[0]["id"]
    for intruder in (alice, org_admin):
        listing = cast.send(app_client, "GET", KEYS, intruder, params={"user": "bob"})
        assert listing.status_code == 404, listing.text
        minted = cast.send(app_client, "POST", KEYS, intruder, json={"name": "x", "user": "bob"})
        assert minted.status_code == 404, minted.text
        revoked = cast.send(app_client, "DELETE", f"{KEYS}/{bob_key_id}", intruder)
        assert revoked.status_code == 404, revoked.text
        missing = cast.send(app_client, "DELETE", f"{KEYS}/987654", intruder)
        assert revoked.text == missing.text.replace("987654", str(bob_key_id))
    assert whoami(app_client, bob).status_code == 200
    assert [(k["id"], k["name"]) for k in list_keys(app_client, bob)] == [
        (k["id"], k["name"]) for k in bobs
    ]


def test_org_admin_manages_keys_of_their_orgs_service_accounts(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    org_admin = make_user("olga", role="admin")
    member = make_user("mike")
    make_user("svc-bot", service=True)

    made = create_key(app_client, org_admin, "deploy", user="svc-bot")
    assert made["username"] == "svc-bot"
    assert whoami(app_client, made["key"]).json()["username"] == "svc-bot"
    assert made["id"] in [k["id"] for k in list_keys(app_client, org_admin, user="svc-bot")]
    assert made["id"] not in [k["id"] for k in list_keys(app_client, org_admin)]

    # An ordinary member of the org may not.
    assert cast.send(app_client, "GET", KEYS, member, params={"user": "svc-bot"}).status_code == 404
    minted = cast.send(app_client, "POST", KEYS, member, json={"name": "x", "user": "svc-bot"})
    assert minted.status_code == 404
    assert cast.send(app_client, "DELETE", f"{KEYS}/{made['id']}", member).status_code == 404
    assert whoami(app_client, made["key"]).status_code == 200

    gone = cast.send(app_client, "DELETE", f"{KEYS}/{made['id']}", org_admin)
    assert gone.status_code == 204, gone.text
    assert_refused(app_client, made["key"])


def test_org_admin_cannot_mint_keys_for_a_service_account_that_reaches_other_orgs(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser, state: AppState
) -> None:
    """A key for a service account acts in all its orgs: only an admin of each may mint one."""
    made = cast.send(app_client, "POST", f"{API_PREFIX}/orgs", admin_key, json={"name": "other"})
    assert made.status_code == 201, made.text
    other_admin = make_user("oscar", role="admin", org="other")  # admin of `other` only
    make_user("svc-lone", service=True, org="other")
    svc_key = make_user("svc-shared", service=True)  # in `default` ...
    with state.writers() as s, s.begin():
        cast.add_to_org(s, accounts.get_user(s, "svc-shared"), "other")  # ... and in `other`
    shared_key_id = list_keys(app_client, svc_key)[0]["id"]

    assert create_key(app_client, other_admin, "ok", user="svc-lone")["username"] == "svc-lone"
    answers = {
        "list": cast.send(app_client, "GET", KEYS, other_admin, params={"user": "svc-shared"}),
        "create": cast.send(
            app_client, "POST", KEYS, other_admin, json={"name": "x", "user": "svc-shared"}
        ),
        "revoke": cast.send(app_client, "DELETE", f"{KEYS}/{shared_key_id}", other_admin),
    }
    wrong = {k: f"{r.status_code} {r.text}" for k, r in answers.items() if r.status_code != 404}
    assert not wrong, f"an admin of `other` only managed keys reaching `default`: {wrong}"
    assert whoami(app_client, svc_key).status_code == 200


def test_service_account_of_another_org_is_out_of_reach(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    made = cast.send(app_client, "POST", f"{API_PREFIX}/orgs", admin_key, json={"name": "other"})
    assert made.status_code == 201, made.text
    org_admin = make_user("olga", role="admin")  # admin of `default` only
    foreign = make_user("svc-foreign", service=True, org="other")
    foreign_id = list_keys(app_client, foreign)[0]["id"]
    listing = cast.send(app_client, "GET", KEYS, org_admin, params={"user": "svc-foreign"})
    assert listing.status_code == 404
    minted = cast.send(
        app_client, "POST", KEYS, org_admin, json={"name": "x", "user": "svc-foreign"}
    )
    assert minted.status_code == 404
    assert cast.send(app_client, "DELETE", f"{KEYS}/{foreign_id}", org_admin).status_code == 404
    assert whoami(app_client, foreign).status_code == 200


@pytest.mark.parametrize(
    ("name", "status"),
    [("", 422), ("k" * 129, 422), ("k" * 128, 201), ("k", 201)],
    ids=["empty", "129-chars", "128-chars", "1-char"],
)
def test_key_names_are_validated(
    name: str, status: int, app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    resp = cast.send(app_client, "POST", KEYS, alice, json={"name": name})
    assert resp.status_code == status, resp.text
    names = [k["name"] for k in list_keys(app_client, alice)]
    if status == 422:
        assert cast.error_code(resp) == "validation_error"
        assert names == ["tests"]
    else:
        assert names == [name, "tests"]


def test_key_name_is_required(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice = make_user("alice")
    resp = cast.send(app_client, "POST", KEYS, alice, json={})
    assert resp.status_code == 422
    assert cast.error_code(resp) == "validation_error"
