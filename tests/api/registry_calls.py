"""Calls on the registry API for the registry-rule tests, each checking the answer it gets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import call

ORG = "/orgs/default"
REGS = f"{ORG}/registries"
CORE = {"Models", "Datasets"}


def expect(resp: httpx.Response, status: int) -> Any:
    """The JSON body of `resp`, which must have `status`."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text}"
    )
    return resp.json() if resp.content else None


def error(resp: httpx.Response, status: int, code: str) -> str:
    """The message of an error answer with `status` and `code` in the standard shape."""
    body = expect(resp, status)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def assert_no_server_errors(
    client: httpx.Client,
    attempts: Sequence[tuple[str, str, str, dict[str, Any]]],
    key: str,
    *,
    anonymous_paths: Collection[str] = (),
) -> None:
    """Send each ``(label, method, path, request kwargs)`` attempt with ``key`` (none to the
    ``anonymous_paths``): none may answer 5xx, and every 4xx must be a standard error body."""
    failures = []
    for label, method, path, kw in attempts:
        resp = call(client, method, path, None if path in anonymous_paths else key, **kw)
        if resp.status_code >= 500:
            failures.append(f"{label}: {method} {path} -> {resp.status_code}")
        elif resp.status_code >= 400:
            error(resp, resp.status_code, resp.json()["error"]["code"])
    assert not failures, "\n".join(failures)


def reg(name: str) -> str:
    return f"{REGS}/{quote(name, safe='')}"


def create(client: httpx.Client, key: str, name: str, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = expect(
        call(client, "POST", REGS, key, json={"name": name, **body}), 201
    )
    return created


def get(client: httpx.Client, key: str, name: str) -> httpx.Response:
    return call(client, "GET", reg(name), key)


def patch(client: httpx.Client, key: str, registry: str, /, **body: Any) -> httpx.Response:
    return call(client, "PATCH", reg(registry), key, json=body)


def add(client: httpx.Client, key: str, name: str, *specs: dict[str, Any]) -> httpx.Response:
    return call(client, "POST", f"{reg(name)}/members", key, json={"members": list(specs)})


def members(client: httpx.Client, key: str, name: str) -> dict[tuple[str, str], str]:
    rows = expect(call(client, "GET", f"{reg(name)}/members", key), 200)
    return {(m["kind"], m["name"]): m["role"] for m in rows}


def role_of(client: httpx.Client, key: str, name: str) -> str | None:
    """The caller's effective role on registry `name`, or None when it answers 404."""
    resp = get(client, key, name)
    if resp.status_code == 404:
        error(resp, 404, "not_found")
        return None
    role: str = expect(resp, 200)["role"]
    return role


def page(client: httpx.Client, key: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = expect(call(client, "GET", REGS, key, params=params), 200)
    return body


def listed(client: httpx.Client, key: str, per_page: int = 1000, **params: Any) -> list[Any]:
    """Every registry the caller can see, following cursors."""
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "per_page": per_page}
        if cursor:
            query["cursor"] = cursor
        body = page(client, key, **query)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def listed_names(client: httpx.Client, key: str, **params: Any) -> set[str]:
    return {r["name"] for r in listed(client, key, **params)}


def team(client: httpx.Client, key: str, name: str, *people: tuple[str, str]) -> None:
    """Create team `name` as the holder of `key`, then add (username, role) members."""
    expect(call(client, "POST", f"{ORG}/teams", key, json={"name": name}), 201)
    for username, role in people:
        body = {"user": username, "role": role}
        expect(call(client, "POST", f"{ORG}/teams/{name}/members", key, json=body), 201)
