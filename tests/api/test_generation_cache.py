"""Cached answers (keys, resolutions) never outlive the change that invalidates them."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from cairn.server.http.deps import AppState
from cairn.server.services import generation
from tests.conftest import MakeUser, auth, call

pytestmark = pytest.mark.both_backends
OCTETS = {"Content-Type": "application/octet-stream"}
COLLECTION = "/orgs/default/registries/Models/collections/cached"


def _publish(client: httpx.Client, key: str, payloads: list[bytes]) -> list[str]:
    refs = []
    for data in payloads:
        sha = hashlib.sha256(data).hexdigest()
        put = client.put(f"/api/v1/blobs/{sha}", content=data, headers={**auth(key), **OCTETS})
        assert put.status_code == 201
        files = [{"path": "w", "sha256": sha, "size": len(data)}]
        logged = call(
            client,
            "POST",
            "/projects/admin/c/artifacts",
            key,
            json={"name": "m", "type": "model", "files": files},
        )
        assert logged.status_code == 201
        linked = call(
            client, "POST", f"{COLLECTION}/versions", key, json={"source": logged.json()["ref"]}
        )
        assert linked.status_code == 201
        refs.append(linked.json()["version"])
    return refs


def _resolve(client: httpx.Client, key: str) -> httpx.Response:
    return call(client, "GET", "/resolve", key, params={"ref": "Models/cached:production"})


def _generation(state: AppState) -> int:
    with state.readers() as s:
        return generation.current(s)


def test_alias_move_is_seen_by_the_next_resolution(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    _publish(app_client, admin_key, [b"one", b"two"])
    put = call(
        app_client, "PUT", f"{COLLECTION}/aliases/production", admin_key, json={"version": "v0"}
    )
    assert put.status_code == 200
    first = _resolve(app_client, admin_key)
    assert first.json()["linked"]["version"] == "v0"
    before = _generation(state)
    assert _resolve(app_client, admin_key).content == first.content  # served again
    assert _generation(state) == before, "reads do not move the generation"
    call(app_client, "PUT", f"{COLLECTION}/aliases/production", admin_key, json={"version": "v1"})
    assert _generation(state) > before
    assert _resolve(app_client, admin_key).json()["linked"]["version"] == "v1"


def test_revoked_key_and_removed_member_lose_access_at_once(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    _publish(app_client, admin_key, [b"x"])
    call(app_client, "PUT", f"{COLLECTION}/aliases/production", admin_key, json={"version": "v0"})
    bob = make_user("bob")
    assert _resolve(app_client, bob).status_code == 200
    assert _resolve(app_client, bob).status_code == 200  # now cached
    keys = call(app_client, "GET", "/keys", bob).json()
    assert call(app_client, "DELETE", f"/keys/{keys[0]['id']}", bob).status_code == 204
    assert _resolve(app_client, bob).status_code == 401

    carol = make_user("carol")
    assert _resolve(app_client, carol).status_code == 200
    assert call(app_client, "DELETE", "/orgs/default/members/carol", admin_key).status_code == 204
    assert _resolve(app_client, carol).status_code == 404


def test_usage_stamps_do_not_invalidate_answers(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    _publish(app_client, admin_key, [b"y"])
    before = _generation(state)
    for _ in range(3):
        assert call(app_client, "GET", "/viewer", admin_key).status_code == 200
    assert _generation(state) == before
