"""The resolution fast path: a remembered answer served before routing, under the route's rules."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from starlette.types import Message, Receive, Scope, Send

from cairn.server.db.models import ApiKey
from cairn.server.domain.principal import Principal
from cairn.server.http import identity
from cairn.server.http.cached_resolve import CachedResolutions
from cairn.server.http.deps import AppState
from cairn.server.services import generation
from tests.conftest import MakeUser, auth, call

pytestmark = pytest.mark.both_backends
OCTETS = {"Content-Type": "application/octet-stream"}
PATH = "/api/v1/resolve"
REF = "Models/fast:production"


def _publish(client: httpx.Client, key: str, registry: str, payloads: list[bytes]) -> None:
    """Link one version per payload into `registry`/fast; `production` on v0."""
    for data in payloads:
        sha = hashlib.sha256(data).hexdigest()
        put = client.put(f"/api/v1/blobs/{sha}", content=data, headers={**auth(key), **OCTETS})
        assert put.status_code in (200, 201), put.text
        files = [{"path": "w", "sha256": sha, "size": len(data)}]
        body = {"name": "m", "type": "model", "files": files}
        logged = call(client, "POST", "/projects/admin/fast/artifacts", key, json=body)
        assert logged.status_code in (200, 201), logged.text
        source = {"source": logged.json()["ref"]}
        path = f"/orgs/default/registries/{registry}/collections/fast/versions"
        assert call(client, "POST", path, key, json=source).status_code == 201
    _move(client, key, registry, "v0")


def _move(client: httpx.Client, key: str, registry: str, version: str) -> None:
    path = f"/orgs/default/registries/{registry}/collections/fast/aliases/production"
    assert call(client, "PUT", path, key, json={"version": version}).status_code == 200


def _resolve(client: httpx.Client, key: str, ref: str = REF, **params: str) -> httpx.Response:
    return call(client, "GET", "/resolve", key, params={"ref": ref, **params})


def _without_date(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k != "date"]


class Served:
    """Counts resolutions the fast path answered (`identity.remembered` found the caller)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hits = 0
        original = identity.remembered

        def counting(state: AppState, key: str, now: int) -> Principal | None:
            found = original(state, key, now)
            self.hits += found is not None
            return found

        monkeypatch.setattr(identity, "remembered", counting)


def test_a_remembered_answer_is_byte_for_byte_the_routes_answer(
    app_client: httpx.Client, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(app_client, admin_key, "Models", [b"one"])
    served = Served(monkeypatch)
    first = _resolve(app_client, admin_key, org="default")
    assert first.status_code == 200
    assert served.hits == 0
    second = _resolve(app_client, admin_key, org="default")
    assert served.hits == 1
    assert second.status_code == first.status_code
    assert second.content == first.content
    assert _without_date(second) == _without_date(first)
    assert second.headers["x-content-type-options"] == "nosniff"  # still behind the edge guard


def test_an_alias_move_and_a_revoked_key_are_seen_by_the_next_request(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(app_client, admin_key, "Models", [b"a", b"b"])
    bob = make_user("bob")
    served = Served(monkeypatch)
    assert _resolve(app_client, bob).json()["linked"]["version"] == "v0"
    assert _resolve(app_client, bob).json()["linked"]["version"] == "v0"
    assert served.hits == 1
    _move(app_client, admin_key, "Models", "v1")
    assert _resolve(app_client, bob).json()["linked"]["version"] == "v1"

    assert _resolve(app_client, bob).status_code == 200  # remembered again
    hits = served.hits
    keys = call(app_client, "GET", "/keys", bob).json()
    assert call(app_client, "DELETE", f"/keys/{keys[0]['id']}", bob).status_code == 204
    refused = _resolve(app_client, bob)
    unknown = _resolve(app_client, "cairn_" + "0" * 12 + "_" + "x" * 43)
    assert refused.status_code == 401
    assert refused.content == unknown.content
    assert served.hits == hits


def test_removal_from_a_restricted_registry_hides_it_on_the_next_request(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = call(
        app_client, "POST", "/orgs/default/registries", admin_key, json={"name": "Secret"}
    )
    assert created.status_code == 201, created.text
    _publish(app_client, admin_key, "Secret", [b"s"])
    bob, carol = make_user("bob"), make_user("carol")
    members = "/orgs/default/registries/Secret/members"
    added = call(app_client, "POST", members, admin_key, json={"members": [{"member": "bob"}]})
    assert added.status_code in (200, 201), added.text
    served = Served(monkeypatch)
    ref = "Secret/fast:production"
    assert _resolve(app_client, bob, ref).status_code == 200
    assert _resolve(app_client, bob, ref).status_code == 200
    assert served.hits == 1
    assert call(app_client, "DELETE", f"{members}/user/bob", admin_key).status_code == 204
    hidden = _resolve(app_client, bob, ref)
    never_seen = _resolve(app_client, carol, ref)
    assert hidden.status_code == 404
    assert hidden.content == never_seen.content
    assert _without_date(hidden) == _without_date(never_seen)
    assert served.hits == 1


def test_a_due_usage_stamp_goes_through_the_route_and_is_recorded(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(app_client, admin_key, "Models", [b"u"])
    assert _resolve(app_client, admin_key).status_code == 200
    with state.writers() as s, s.begin():
        key = s.scalars(select(ApiKey).where(ApiKey.name == "tests")).one()
        key.last_used_at = None
    served = Served(monkeypatch)
    state.key_touched[key.id] = -1e9  # the last stamp was long ago
    assert _resolve(app_client, admin_key).status_code == 200
    assert served.hits == 0
    with state.readers() as s:
        assert s.get(ApiKey, key.id).last_used_at is not None  # type: ignore[union-attr]
    assert _resolve(app_client, admin_key).status_code == 200
    assert served.hits == 1  # stamped a moment ago: served before routing again


# -- the middleware alone, around an app that records what reaches it ----------------------


async def _asgi_get(
    app: CachedResolutions, key: str | None, query: bytes, method: str = "GET"
) -> tuple[int, bytes]:
    headers = [(b"host", b"testserver")]
    if key is not None:
        headers.append((b"authorization", key.encode()))
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": query,
        "headers": headers,
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def test_only_remembered_answers_skip_the_route(
    app: FastAPI, app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    _publish(app_client, admin_key, "Models", [b"r", b"q"])
    remembered = _resolve(app_client, admin_key)
    assert remembered.status_code == 200
    reached: list[bytes] = []

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["query_string"] + b" " + scope["method"].encode())
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})

    fast = CachedResolutions(route, state, PATH)
    bearer = f"Bearer {admin_key}"
    query = b"ref=Models%2Ffast%3Aproduction"

    async def scenario() -> list[tuple[int, bytes]]:
        answers = [await _asgi_get(fast, bearer, query)]
        answers.append(await _asgi_get(fast, bearer, query + b"&org=default"))  # another key
        answers.append(await _asgi_get(fast, bearer, query, method="HEAD"))
        answers.append(await _asgi_get(fast, None, query))
        answers.append(await _asgi_get(fast, "Basic abc", query))
        answers.append(await _asgi_get(fast, "Bearer cairn_nope", query))
        answers.append(await _asgi_get(fast, bearer, b"ref=Models%2Ffast%3Av1"))
        answers.append(await _asgi_get(fast, bearer, b"ref=x&" + query))  # the last one counts
        with state.writers() as s, s.begin():  # any committed change moves the generation on
            s.execute(text("UPDATE registries SET description = 'moved on'"))
        answers.append(await _asgi_get(fast, bearer, query))
        await state.live.close()
        return answers

    answers = asyncio.run(scenario())
    assert answers[0] == (200, remembered.content)
    assert answers[7] == (200, remembered.content)
    assert [a[0] for a in answers[1:7]] == [299] * 6
    assert answers[8] == (299, b"route")
    assert len(reached) == 7


def test_concurrent_reads_see_every_change_committed_before_they_asked(state: AppState) -> None:
    async def scenario() -> list[tuple[int, int]]:
        seen: list[tuple[int, int]] = []

        async def one() -> None:
            with state.readers() as s:
                before = generation.current(s)
            now = await state.live.now()
            assert now is not None
            seen.append((before, now))

        for _ in range(5):
            await asyncio.gather(*(one() for _ in range(16)))
            with state.writers() as s, s.begin():
                s.execute(text("UPDATE registries SET description = 'again'"))
        await state.live.close()
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) == 80
    assert all(now >= before for before, now in seen)
    assert len({now for _, now in seen}) == 5


def test_a_lost_generation_connection_is_opened_again(state: AppState, backend: str) -> None:
    async def scenario() -> list[int | None]:
        seen = [await state.live.now()]
        _cut_generation_connection(state, backend)
        seen.append(await state.live.now())  # that read failed: the caller reads another way
        seen.append(await state.live.now())
        await state.live.close()
        return seen

    first, failed, again = asyncio.run(scenario())
    assert first is not None
    assert again == first
    assert failed is None


def _cut_generation_connection(state: AppState, backend: str) -> None:
    if backend == "sqlite":
        live: Any = state.live
        live._local.reader._sqlite.close()
        return
    with state.writers() as s, s.begin():
        killed = s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND query = :read"
            ),
            {"read": generation.READ_SQL},
        ).all()
    assert killed, "the generation connection was not found"


def test_without_the_generation_connection_requests_read_it_through_a_session(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(app_client, admin_key, "Models", [b"n1", b"n2"])

    async def unavailable() -> None:
        return None

    monkeypatch.setattr(state.live, "now", unavailable)
    served = Served(monkeypatch)
    assert _resolve(app_client, admin_key).json()["linked"]["version"] == "v0"
    assert _resolve(app_client, admin_key).json()["linked"]["version"] == "v0"
    _move(app_client, admin_key, "Models", "v1")
    assert _resolve(app_client, admin_key).json()["linked"]["version"] == "v1"
    assert served.hits == 0


def test_a_missed_resolution_reads_the_generation_once(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish(app_client, admin_key, "Models", [b"read once"])
    assert _resolve(app_client, admin_key).status_code == 200  # the key is remembered now
    original = state.live.now
    reads = 0

    async def counting() -> int | None:
        nonlocal reads
        reads += 1
        return await original()

    monkeypatch.setattr(state.live, "now", counting)
    missed = _resolve(app_client, admin_key, ref="Models/fast:v0")  # not remembered yet
    assert missed.status_code == 200, missed.text
    assert reads == 1, "the route reuses the fast path's read"
    assert _resolve(app_client, admin_key, ref="Models/fast:v0").status_code == 200
    assert reads == 2, "a hit is one read too"
