"""Organizations, users, teams and sign-in through the JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cairn.server.http.deps import AppState
from tests.conftest import ADMIN_PASSWORD, MakeUser, call

pytestmark = pytest.mark.both_backends

ORG = "/orgs/default"
PASSWORD = "a-long-enough-password"


def expect(resp: httpx.Response, status: int) -> Any:
    """The JSON body of `resp`, which must have `status`."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text}"
    )
    return resp.json() if resp.content else None


def error(resp: httpx.Response, status: int, code: str) -> str:
    """The message of an error answer with `status` and `code` in the standard shape."""
    body = expect(resp, status)
    assert body == {"error": {"code": code, "message": body["error"]["message"]}}, body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def new_user(client: httpx.Client, key: str, username: str, **body: Any) -> httpx.Response:
    return call(client, "POST", f"{ORG}/users", key, json={"username": username, **body})


def login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return call(
        client, "POST", "/auth/login", None, json={"username": username, "password": password}
    )


def org_members(client: httpx.Client, key: str, org: str = "default") -> dict[str, str]:
    rows = expect(call(client, "GET", f"/orgs/{org}/members", key), 200)
    return {m["username"]: m["role"] for m in rows}


def team_members(client: httpx.Client, key: str, name: str) -> dict[str, str]:
    body = expect(call(client, "GET", f"{ORG}/teams/{name}", key), 200)
    assert body["members_count"] == len(body["members"])
    return {m["username"]: m["role"] for m in body["members"]}


# --- organizations --------------------------------------------------------------------------


def test_superuser_creates_an_org_with_core_registries(
    app_client: httpx.Client, admin_key: str
) -> None:
    made = expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    assert made["name"] == "acme"
    assert made["role"] == "admin"
    assert expect(call(app_client, "GET", "/orgs/acme", admin_key), 200)["id"] == made["id"]
    assert org_members(app_client, admin_key, "acme") == {"admin": "admin"}
    regs = expect(call(app_client, "GET", "/orgs/acme/registries", admin_key), 200)["items"]
    assert {(r["name"], tuple(r["artifact_types"])) for r in regs} == {
        ("Models", ("model",)),
        ("Datasets", ("dataset",)),
    }
    assert all(r["is_core"] and r["visibility"] == "organization" for r in regs)
    assert all(r["organization"] == "acme" for r in regs)
    orgs = expect(call(app_client, "GET", "/orgs", admin_key), 200)
    assert {(o["name"], o["role"]) for o in orgs} == {("acme", "admin"), ("default", "admin")}


def test_only_superusers_create_orgs(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    for key in (make_user("bob"), make_user("olga", role="admin")):
        resp = call(app_client, "POST", "/orgs", key, json={"name": "acme"})
        error(resp, 403, "permission_denied")
    error(call(app_client, "GET", "/orgs/acme", admin_key), 404, "not_found")
    expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    for taken in ("ACME", "default", "bob", "admin"):
        resp = call(app_client, "POST", "/orgs", admin_key, json={"name": taken})
        assert "taken" in error(resp, 409, "conflict")
    resp = call(app_client, "POST", "/orgs", admin_key, json={"name": "bad name"})
    error(resp, 422, "validation_error")


def test_org_members_are_added_by_username_or_email(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob", role=None, email="bob@example.com")
    make_user("carol", role=None, email="carol@example.com")
    error(call(app_client, "GET", ORG, bob), 404, "not_found")
    added = expect(call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": "bob"}), 201)
    assert added == {
        "username": "bob",
        "email": "bob@example.com",
        "role": "member",
        "is_service": False,
        "active": True,
    }
    body = {"user": "CAROL@example.com", "role": "viewer"}
    assert expect(call(app_client, "POST", f"{ORG}/members", admin_key, json=body), 201)[
        "role"
    ] == ("viewer")
    assert org_members(app_client, admin_key) == {
        "admin": "admin",
        "bob": "member",
        "carol": "viewer",
    }
    assert expect(call(app_client, "GET", ORG, bob), 200)["role"] == "member"
    for again in ("bob", "BOB", "bob@example.com"):
        resp = call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": again})
        error(resp, 409, "conflict")
    resp = call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": "nobody"})
    assert "nobody" in error(resp, 404, "not_found")
    make_user("dave", role=None)
    resp = call(
        app_client, "POST", f"{ORG}/members", admin_key, json={"user": "dave", "role": "owner"}
    )
    message = error(resp, 422, "validation_error")
    assert all(r in message for r in ("admin", "member", "viewer"))
    resp = call(app_client, "POST", f"{ORG}/members", bob, json={"user": "dave"})
    error(resp, 403, "permission_denied")
    assert "dave" not in org_members(app_client, admin_key)


def test_org_roles_change_and_members_leave(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    path = f"{ORG}/members/bob"
    error(call(app_client, "PATCH", path, carol, json={"role": "admin"}), 403, "permission_denied")
    resp = call(app_client, "PATCH", path, admin_key, json={"role": "admin"})
    assert expect(resp, 200)["role"] == "admin"
    expect(new_user(app_client, bob, "made-by-bob"), 201)
    assert expect(call(app_client, "PATCH", path, admin_key, json={"role": "viewer"}), 200)[
        "role"
    ] == ("viewer")
    resp = call(app_client, "POST", f"{ORG}/registries", bob, json={"name": "R"})
    error(resp, 403, "permission_denied")
    message = error(
        call(app_client, "PATCH", path, admin_key, json={"role": "boss"}), 422, "validation_error"
    )
    assert all(r in message for r in ("admin", "member", "viewer"))
    error(
        call(app_client, "PATCH", f"{ORG}/members/nobody", admin_key, json={"role": "member"}),
        404,
        "not_found",
    )
    error(call(app_client, "DELETE", path, carol), 403, "permission_denied")
    expect(call(app_client, "DELETE", path, admin_key), 204)
    assert "bob" not in org_members(app_client, admin_key)
    error(call(app_client, "GET", ORG, bob), 404, "not_found")
    error(call(app_client, "GET", f"{ORG}/members", bob), 404, "not_found")
    assert [o["name"] for o in expect(call(app_client, "GET", "/orgs", bob), 200)] == []
    error(call(app_client, "DELETE", path, admin_key), 404, "not_found")


def test_last_org_admin_cannot_be_demoted_or_removed(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    for role in ("member", "viewer"):
        resp = call(app_client, "PATCH", f"{ORG}/members/admin", admin_key, json={"role": role})
        assert "admin" in error(resp, 409, "conflict")
    error(call(app_client, "DELETE", f"{ORG}/members/admin", admin_key), 409, "conflict")
    assert org_members(app_client, admin_key)["admin"] == "admin"
    expect(call(app_client, "PATCH", f"{ORG}/members/bob", admin_key, json={"role": "admin"}), 200)
    expect(call(app_client, "PATCH", f"{ORG}/members/admin", bob, json={"role": "member"}), 200)
    error(
        call(app_client, "PATCH", f"{ORG}/members/bob", bob, json={"role": "member"}),
        409,
        "conflict",
    )
    error(call(app_client, "DELETE", f"{ORG}/members/bob", bob), 409, "conflict")
    assert org_members(app_client, bob) == {"admin": "member", "bob": "admin"}


# --- users ----------------------------------------------------------------------------------


def test_org_admin_creates_users_and_service_accounts(
    app_client: httpx.Client, admin_key: str
) -> None:
    made = expect(
        new_user(app_client, admin_key, "bob", email="Bob@Example.com", password=PASSWORD), 201
    )
    assert made == {
        "username": "bob",
        "email": "bob@example.com",
        "role": "member",
        "is_service": False,
        "active": True,
    }
    svc = expect(new_user(app_client, admin_key, "svc-bot", service=True), 201)
    assert svc["is_service"] is True
    assert svc["role"] == "member"
    viewer = expect(new_user(app_client, admin_key, "vic", role="viewer"), 201)
    assert viewer["role"] == "viewer"
    assert org_members(app_client, admin_key) == {
        "admin": "admin",
        "bob": "member",
        "svc-bot": "member",
        "vic": "viewer",
    }
    key = expect(login(app_client, "bob", PASSWORD), 201)["key"]
    me = expect(call(app_client, "GET", "/viewer", key), 200)
    assert me["username"] == "bob"
    assert me["is_superuser"] is False
    assert me["organizations"] == [{"name": "default", "role": "member"}]
    error(new_user(app_client, admin_key, "x", role="owner"), 422, "validation_error")


def test_only_org_admins_create_users(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    for key in (make_user("mia"), make_user("vic", role="viewer")):
        error(new_user(app_client, key, "bob"), 403, "permission_denied")
        error(new_user(app_client, key, "svc", service=True), 403, "permission_denied")
    assert "bob" not in org_members(app_client, admin_key)
    expect(new_user(app_client, admin_key, "bob"), 201)


def test_user_creation_is_validated(app_client: httpx.Client, admin_key: str) -> None:
    resp = new_user(app_client, admin_key, "svc-bot", service=True, password=PASSWORD)
    assert "password" in error(resp, 422, "validation_error")
    bad_fields: list[dict[str, Any]] = [
        {"username": "bad name"},
        {"username": "-dash"},
        {"username": "x" * 65},
        {"username": ""},
        {"username": "bob", "email": "not-an-email"},
        {"username": "bob", "password": "short"},
        {"username": "bob", "password": "x" * 5000},
    ]
    for body in bad_fields:
        resp = call(app_client, "POST", f"{ORG}/users", admin_key, json=body)
        error(resp, 422, "validation_error")
    assert set(org_members(app_client, admin_key)) == {"admin"}


def test_usernames_and_emails_are_unique(app_client: httpx.Client, admin_key: str) -> None:
    expect(new_user(app_client, admin_key, "bob", email="bob@example.com"), 201)
    for username in ("bob", "BOB", "Bob"):
        error(new_user(app_client, admin_key, username), 409, "conflict")
    for address in ("bob@example.com", "BOB@EXAMPLE.COM"):
        error(new_user(app_client, admin_key, "robert", email=address), 409, "conflict")
    # Users, teams and organizations share one namespace.
    expect(call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}), 201)
    expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    for taken in ("vision", "VISION", "acme", "default", "Default", "admin"):
        assert "taken" in error(new_user(app_client, admin_key, taken), 409, "conflict")
    assert set(org_members(app_client, admin_key)) == {"admin", "bob"}


def test_deactivate_user(app_client: httpx.Client, admin_key: str, make_user: MakeUser) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    assert expect(call(app_client, "GET", "/viewer", bob), 200)["active"] is True
    resp = call(app_client, "PATCH", "/users/bob", carol, json={"active": False})
    assert resp.status_code in (403, 404), resp.text
    assert expect(call(app_client, "GET", "/viewer", bob), 200)["username"] == "bob"
    off = expect(call(app_client, "PATCH", "/users/bob", admin_key, json={"active": False}), 200)
    assert off["username"] == "bob"
    assert off["active"] is False
    error(call(app_client, "GET", "/viewer", bob), 401, "authentication_error")
    error(call(app_client, "GET", f"{ORG}/registries", bob), 401, "authentication_error")
    members = expect(call(app_client, "GET", f"{ORG}/members", admin_key), 200)
    assert {m["username"]: m["active"] for m in members}["bob"] is False
    on = expect(call(app_client, "PATCH", "/users/bob", admin_key, json={"active": True}), 200)
    assert on["active"] is True
    assert expect(call(app_client, "GET", "/viewer", bob), 200)["username"] == "bob"
    resp = call(app_client, "PATCH", "/users/admin", admin_key, json={"active": False})
    error(resp, 409, "conflict")
    error(
        call(app_client, "PATCH", "/users/nobody", admin_key, json={"active": False}),
        404,
        "not_found",
    )


# --- teams ----------------------------------------------------------------------------------


def test_team_creator_is_team_admin(app_client: httpx.Client, make_user: MakeUser) -> None:
    bob = make_user("bob")
    body = {"name": "vision", "description": "Computer vision"}
    made = expect(call(app_client, "POST", f"{ORG}/teams", bob, json=body), 201)
    assert made["name"] == "vision"
    assert made["organization"] == "default"
    assert made["description"] == "Computer vision"
    assert made["members_count"] == 1
    assert team_members(app_client, bob, "vision") == {"bob": "admin"}
    listed = expect(call(app_client, "GET", f"{ORG}/teams", bob), 200)
    assert [(t["name"], t["members_count"]) for t in listed] == [("vision", 1)]
    assert team_members(app_client, bob, "VISION") == {"bob": "admin"}


def test_team_members_and_roles(app_client: httpx.Client, make_user: MakeUser) -> None:
    bob = make_user("bob")
    make_user("carol", email="carol@example.com")
    make_user("dave")
    make_user("eve", role=None)
    expect(call(app_client, "POST", f"{ORG}/teams", bob, json={"name": "vision"}), 201)
    path = f"{ORG}/teams/vision/members"
    added = expect(call(app_client, "POST", path, bob, json={"user": "carol"}), 201)
    assert added == {"username": "carol", "role": "member"}
    body = {"user": "dave", "role": "admin"}
    assert expect(call(app_client, "POST", path, bob, json=body), 201)["role"] == "admin"
    assert team_members(app_client, bob, "vision") == {
        "bob": "admin",
        "carol": "member",
        "dave": "admin",
    }
    changed = expect(call(app_client, "PATCH", f"{path}/carol", bob, json={"role": "admin"}), 200)
    assert changed == {"username": "carol", "role": "admin"}
    expect(call(app_client, "PATCH", f"{path}/dave", bob, json={"role": "member"}), 200)
    expect(call(app_client, "DELETE", f"{path}/carol", bob), 204)
    assert team_members(app_client, bob, "vision") == {"bob": "admin", "dave": "member"}
    for again in ("dave", "DAVE"):
        error(call(app_client, "POST", path, bob, json={"user": again}), 409, "conflict")
    error(call(app_client, "POST", path, bob, json={"user": "eve"}), 404, "not_found")
    error(call(app_client, "POST", path, bob, json={"user": "nobody"}), 404, "not_found")
    resp = call(app_client, "POST", path, bob, json={"user": "carol", "role": "owner"})
    message = error(resp, 422, "validation_error")
    assert "admin" in message
    assert "member" in message
    error(
        call(app_client, "PATCH", f"{path}/dave", bob, json={"role": "boss"}),
        422,
        "validation_error",
    )
    error(call(app_client, "PATCH", f"{path}/carol", bob, json={"role": "admin"}), 404, "not_found")
    error(call(app_client, "DELETE", f"{path}/carol", bob), 404, "not_found")
    expect(call(app_client, "POST", path, bob, json={"user": "carol@example.com"}), 201)
    assert team_members(app_client, bob, "vision")["carol"] == "member"


def test_only_team_admins_and_org_admins_change_a_team(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob, carol, outsider = make_user("bob"), make_user("carol"), make_user("olga")
    make_user("dave")
    expect(call(app_client, "POST", f"{ORG}/teams", bob, json={"name": "vision"}), 201)
    path = f"{ORG}/teams/vision"
    expect(call(app_client, "POST", f"{path}/members", bob, json={"user": "carol"}), 201)
    for key in (carol, outsider):
        attempts = [
            call(app_client, "POST", f"{path}/members", key, json={"user": "dave"}),
            call(app_client, "PATCH", f"{path}/members/carol", key, json={"role": "admin"}),
            call(app_client, "PATCH", f"{path}/members/bob", key, json={"role": "member"}),
            call(app_client, "DELETE", f"{path}/members/bob", key),
            call(app_client, "DELETE", path, key),
        ]
        for resp in attempts:
            error(resp, 403, "permission_denied")
    assert team_members(app_client, bob, "vision") == {"bob": "admin", "carol": "member"}
    expect(call(app_client, "POST", f"{path}/members", admin_key, json={"user": "dave"}), 201)
    expect(
        call(app_client, "PATCH", f"{path}/members/bob", admin_key, json={"role": "member"}), 200
    )
    error(call(app_client, "DELETE", path, bob), 403, "permission_denied")
    expect(call(app_client, "DELETE", path, admin_key), 204)
    error(call(app_client, "GET", path, bob), 404, "not_found")
    # The name is free again.
    expect(call(app_client, "POST", f"{ORG}/teams", carol, json={"name": "vision"}), 201)


def test_org_viewer_cannot_create_a_team(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    viewer = make_user("vic", role="viewer")
    resp = call(app_client, "POST", f"{ORG}/teams", viewer, json={"name": "vision"})
    assert "viewer" in error(resp, 403, "permission_denied")
    assert expect(call(app_client, "GET", f"{ORG}/teams", admin_key), 200) == []


def test_team_names_share_the_entity_namespace(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob")
    expect(call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}), 201)
    for taken in ("vision", "VISION", "bob", "admin", "default"):
        resp = call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": taken})
        assert "taken" in error(resp, 409, "conflict")
    for bad in ("a b", "-x", "x" * 65):
        resp = call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": bad})
        error(resp, 422, "validation_error")
    names = [t["name"] for t in expect(call(app_client, "GET", f"{ORG}/teams", admin_key), 200)]
    assert names == ["vision"]


# --- sign-in --------------------------------------------------------------------------------


def test_login_with_username_or_email_returns_a_working_key(
    app_client: httpx.Client, admin_key: str
) -> None:
    expect(new_user(app_client, admin_key, "bob", email="bob@example.com", password=PASSWORD), 201)
    for ref in ("bob", "BOB", "bob@example.com", "Bob@Example.COM"):
        made = expect(login(app_client, ref, PASSWORD), 201)
        assert made["username"] == "bob"
        assert isinstance(made["key_id"], int)
        me = expect(call(app_client, "GET", "/viewer", made["key"]), 200)
        assert me["username"] == "bob"
        assert me["email"] == "bob@example.com"
    made = expect(login(app_client, "admin", ADMIN_PASSWORD), 201)
    assert expect(call(app_client, "GET", "/viewer", made["key"]), 200)["is_superuser"] is True


def test_failed_logins_all_look_the_same(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    expect(new_user(app_client, admin_key, "bob", email="bob@example.com", password=PASSWORD), 201)
    expect(new_user(app_client, admin_key, "carol", password=PASSWORD), 201)
    expect(new_user(app_client, admin_key, "svc-bot", service=True), 201)
    expect(call(app_client, "PATCH", "/users/carol", admin_key, json={"active": False}), 200)
    attempts = {
        "wrong password": login(app_client, "bob", PASSWORD + "x"),
        "wrong password by email": login(app_client, "bob@example.com", "nope-nope-nope"),
        "unknown user": login(app_client, "nobody", PASSWORD),
        "unknown email": login(app_client, "nobody@example.com", PASSWORD),
        "deactivated user": login(app_client, "carol", PASSWORD),
        "service account": login(app_client, "svc-bot", PASSWORD),
    }
    assert len(attempts) < state.settings.login_max_failures
    bodies = {}
    for label, resp in attempts.items():
        error(resp, 401, "authentication_error")
        bodies[label] = (resp.text, resp.headers.get("www-authenticate"))
    assert len(set(bodies.values())) == 1, bodies
    assert "password" in next(iter(bodies.values()))[0]


def test_repeated_failures_are_rate_limited(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    expect(new_user(app_client, admin_key, "bob", password=PASSWORD), 201)
    limit = state.settings.login_max_failures
    assert limit > 1
    for _ in range(limit):
        error(login(app_client, "bob", "wrong-password"), 401, "authentication_error")
    error(login(app_client, "bob", "wrong-password"), 429, "rate_limited")
    message = error(login(app_client, "bob", PASSWORD), 429, "rate_limited")
    assert "try again" in message


def test_the_account_lock_covers_every_name_of_the_account(
    app: FastAPI, admin_key: str, state: AppState
) -> None:
    limit = state.settings.login_max_failures

    def client_at(address: str) -> TestClient:
        return TestClient(
            app, base_url="http://testserver", client=(address, 4000), raise_server_exceptions=False
        )

    with client_at("192.0.2.1") as first, client_at("192.0.2.2") as second:
        body = {"username": "bob", "email": "bob@example.com", "password": PASSWORD}
        expect(call(first, "POST", f"{ORG}/users", admin_key, json=body), 201)
        for _ in range(limit):
            error(login(first, "bob", "wrong-password"), 401, "authentication_error")
        # From another address the account itself stays locked, whichever name is used.
        for ref in ("bob", "BOB", "bob@example.com"):
            resp = login(second, ref, PASSWORD)
            assert resp.status_code == 429, f"signing in as {ref!r} bypassed the lock on bob"
            error(resp, 429, "rate_limited")


def test_account_input_never_fails_the_server(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob")
    expect(call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}), 201)
    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "login with NUL",
            "POST",
            "/auth/login",
            {"json": {"username": "bob\x00", "password": PASSWORD}},
        ),
        (
            "login email with NUL",
            "POST",
            "/auth/login",
            {"json": {"username": "b\x00@x.org", "password": PASSWORD}},
        ),
        ("org path with NUL", "GET", "/orgs/de%00fault", {}),
        ("team path with NUL", "GET", f"{ORG}/teams/vi%00sion", {}),
        ("member path with NUL", "DELETE", f"{ORG}/members/bob%00", {}),
        ("user path with NUL", "PATCH", "/users/bob%00", {"json": {"active": False}}),
        ("add org member with NUL", "POST", f"{ORG}/members", {"json": {"user": "bob\x00"}}),
        (
            "add team member with NUL",
            "POST",
            f"{ORG}/teams/vision/members",
            {"json": {"user": "b\x00"}},
        ),
        (
            "email with NUL",
            "POST",
            f"{ORG}/users",
            {"json": {"username": "eve", "email": "e\x00@x.org"}},
        ),
        (
            "team description with NUL",
            "POST",
            f"{ORG}/teams",
            {"json": {"name": "nlp", "description": "\x00"}},
        ),
        ("org name with NUL", "POST", "/orgs", {"json": {"name": "ac\x00me"}}),
    ]
    failures = []
    for label, method, path, kw in attempts:
        key = None if path == "/auth/login" else admin_key
        resp = call(app_client, method, path, key, **kw)
        if resp.status_code >= 500:
            failures.append(f"{label}: {method} {path} -> {resp.status_code}")
        elif resp.status_code >= 400:
            error(resp, resp.status_code, resp.json()["error"]["code"])
    assert not failures, "\n".join(failures)


def test_users_created_through_the_api_are_in_their_organizations_audit_log(
    app_client: httpx.Client, admin_key: str
) -> None:
    created = call(
        app_client, "POST", "/orgs/default/users", admin_key, json={"username": "audited"}
    )
    assert created.status_code == 201, created.text
    events = call(
        app_client, "GET", "/orgs/default/audit", admin_key, params={"action": "user.create"}
    ).json()
    assert [e["action"] for e in events] == ["user.create"]
    assert "audited" in str(events[0])


@pytest.mark.parametrize("since", ["1700000000", "1.5e-215", "yesterday"])
def test_audit_times_must_be_iso_8601_not_numbers(
    app_client: httpx.Client, admin_key: str, since: str
) -> None:
    refused = call(app_client, "GET", "/orgs/default/audit", admin_key, params={"since": since})
    assert refused.status_code == 422, refused.text
    assert "ISO 8601" in refused.json()["error"]["message"]
    fine = call(
        app_client, "GET", "/orgs/default/audit", admin_key, params={"since": "2026-01-01T00:00Z"}
    )
    assert fine.status_code == 200, fine.text
