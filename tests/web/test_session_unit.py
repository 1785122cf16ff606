"""Sign-in rules checked in-process: rate limit, Secure cookies over HTTPS, rotation, safe next."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cairn.server.db.models import WebSession
from cairn.server.http.deps import AppState
from cairn.server.services import accounts
from cairn.server.web.forms import safe_next
from tests.conftest import ADMIN_PASSWORD, MakeUser


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )


def test_sign_in_is_rate_limited(app_client: httpx.Client, make_user: MakeUser) -> None:
    make_user("target", email="target@example.com")
    statuses = [sign_in(app_client, "target", f"wrong-guess-{i}").status_code for i in range(10)]
    assert statuses == [401] * 10
    blocked = sign_in(app_client, "target@example.com", "wrong-guess-x")
    assert blocked.status_code == 429
    assert "too many failed sign-in attempts" in blocked.text
    assert "content-security-policy" in blocked.headers


def test_cookie_is_secure_over_https_and_the_session_is_stored_hashed(
    app: FastAPI, state: AppState
) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        resp = sign_in(client, "admin", ADMIN_PASSWORD)
        assert resp.status_code == 303
        cookie = resp.headers["set-cookie"]
        assert re.search(r"; Secure", cookie, re.I)
        assert re.search(r"; HttpOnly", cookie, re.I)
        assert re.search(r"; SameSite=lax", cookie, re.I)
        token = cookie.split(";")[0].split("=", 1)[1]
        again = sign_in(client, "admin", ADMIN_PASSWORD)  # with the first cookie in the jar
    with state.readers() as s:
        stored = list(s.scalars(select(WebSession.token_hash)))
        live = s.scalar(select(func.count()).select_from(WebSession))
    assert token not in stored
    assert all(len(h) == 64 for h in stored)
    assert live == 1, "signing in again ended the previous session"
    assert again.headers["set-cookie"].split(";")[0] != cookie.split(";")[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/registry/default/Models?q=a", "/registry/default/Models?q=a"),
        ("/keys", "/keys"),
        (None, "/registry"),
        ("", "/registry"),
        ("https://evil.test/", "/registry"),
        ("//evil.test/", "/registry"),
        ("/\\evil.test", "/registry"),
        ("\\\\evil.test", "/registry"),
        ("javascript:alert(1)", "/registry"),
        ("/\tevil", "/registry"),
        ("registry", "/registry"),
    ],
)
def test_next_accepts_only_same_origin_paths(raw: str | None, expected: str) -> None:
    assert safe_next(raw) == expected


def test_a_deactivated_user_loses_their_session(app: FastAPI, state: AppState) -> None:
    with state.writers() as s, s.begin():
        accounts.create_user(s, None, "leaver", password="leaver-password-1")
    with TestClient(app, base_url="http://testserver") as client:
        assert sign_in(client, "leaver", "leaver-password-1").status_code == 303
        assert client.get("/keys", follow_redirects=False).status_code == 200
        with state.writers() as s, s.begin():
            accounts.get_user(s, "leaver").active = False
        resp = client.get("/keys", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=%2Fkeys"
