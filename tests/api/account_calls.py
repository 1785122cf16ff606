"""Calls on the account API for the account tests, each checking the answer it gets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.registry_calls import ORG, expect
from tests.conftest import call

PASSWORD = "a-long-enough-password"


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
