"""Users through the JSON API: made by org admins, validated, unique, and deactivated."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.account_calls import PASSWORD, login, new_user, org_members
from tests.api.registry_calls import ORG, error, expect
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

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
