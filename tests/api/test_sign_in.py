"""Sign-in through the JSON API: keys, look-alike failures, rate limits, hostile account input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cairn.server.http.deps import AppState
from tests.api.account_calls import PASSWORD, login, new_user
from tests.api.registry_calls import ORG, assert_no_server_errors, error, expect
from tests.conftest import ADMIN_PASSWORD, MakeUser, call

pytestmark = pytest.mark.both_backends


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
    assert_no_server_errors(app_client, attempts, admin_key, anonymous_paths={"/auth/login"})
