"""Fault injection: a full disk; an object store and a database that go away or hang, then
come back; a SQLite database locked by another writer.

Each fault must give a prompt 5xx with the standard error body (SECURITY.md: never a hang
over 5 s, never a stack trace), leave nothing partial behind, and need no manual repair once
the fault is gone.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cairn.server.app import build_state, create_app
from cairn.server.blobs.local import STAGING
from cairn.server.http.deps import AppState
from tests import pg, servers
from tests.blobs.seaweed import S3Server
from tests.conftest import auth
from tests.reliability.client import PASSWORD, Blob, admin_key, client_for, log, login, upload
from tests.reliability.proxy import Proxy, forwarding

ENV = {"CAIRN_ADMIN_PASSWORD": PASSWORD}
PROMPT_SECONDS = 5.0
DISK_LIMIT = 16 << 20
OCTETS = {"Content-Type": "application/octet-stream"}


def _assert_error_body(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "Traceback" not in response.text
    assert "/" not in response.json()["error"]["message"], "no path or URL in the message"


def test_full_disk_answers_507_keeps_nothing_and_recovers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        servers.running(data, ENV, file_size_limit=DISK_LIMIT) as server,
        login(server.base) as client,
    ):
        too_big = Blob(os.urandom(DISK_LIMIT + (2 << 20)))
        started = time.monotonic()
        response = client.put(
            f"/blobs/{too_big.sha256}",
            content=too_big.data,
            headers={**OCTETS, "Content-Length": str(len(too_big.data))},
        )
        assert time.monotonic() - started < PROMPT_SECONDS
        _assert_error_body(response, 507, "insufficient_storage")
        assert list((data / "blobs" / STAGING).iterdir()) == [], "the partial upload is gone"

        small = Blob(os.urandom(1 << 20))
        assert upload(client, small) == 201, "the server keeps serving what fits"
        refused = log(client, "admin/full", "weights", [small, too_big])
        assert refused.status_code == 409
        assert "not uploaded" in refused.text
        assert log(client, "admin/full", "weights", [small]).status_code == 201


@pytest.fixture
def s3_through_proxy(state: AppState, seaweedfs: S3Server) -> Iterator[tuple[httpx.Client, Proxy]]:
    """The app with its blobs on SeaweedFS reached through a proxy the test can cut."""
    host, port = seaweedfs.endpoint.removeprefix("http://").rsplit(":", 1)
    with forwarding((host, int(port))) as proxy:
        settings = state.settings.model_copy(
            update={
                "blob_url": f"s3://{seaweedfs.bucket}/faults-{uuid.uuid4().hex[:10]}",
                "s3_endpoint_url": f"http://127.0.0.1:{proxy.port}",
                "s3_access_key_id": seaweedfs.access_key,
                "s3_secret_access_key": SecretStr(seaweedfs.secret_key),
            }
        )
        s3_state = build_state(settings)
        s3_state.engine.dispose()
        s3_state.engine, s3_state.readers = state.engine, state.readers
        s3_state.writers = state.writers
        app = create_app(settings, state=s3_state)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, proxy


def test_object_store_outage_is_a_prompt_503_and_recovers(
    s3_through_proxy: tuple[httpx.Client, Proxy], admin_key: str
) -> None:
    client, proxy = s3_through_proxy
    h = auth(admin_key)
    kept = Blob(b"weights stored before the outage " * 1000)
    put = client.put(
        f"/api/v1/blobs/{kept.sha256}",
        content=kept.data,
        headers={**h, **OCTETS, "Content-Length": str(len(kept.data))},
    )
    assert put.status_code == 201, put.text
    files = [{"path": "w.bin", "sha256": kept.sha256, "size": len(kept.data)}]
    logged = client.post(
        "/api/v1/projects/admin/outage/artifacts",
        json={"name": "m", "type": "model", "files": files},
        headers=h,
    )
    assert logged.status_code == 201, logged.text
    file_url = f"/api/v1/projects/admin/outage/artifacts/m/versions/v0/files/{kept.sha256}"

    proxy.cut()
    during = Blob(b"sent while the object store is down " * 1000)
    started = time.monotonic()
    refused = client.put(
        f"/api/v1/blobs/{during.sha256}",
        content=during.data,
        headers={**h, **OCTETS, "Content-Length": str(len(during.data))},
    )
    assert time.monotonic() - started < PROMPT_SECONDS
    _assert_error_body(refused, 503, "unavailable")
    started = time.monotonic()
    _assert_error_body(client.get(file_url, headers=h), 503, "unavailable")
    assert time.monotonic() - started < PROMPT_SECONDS
    assert client.get("/api/v1/health").status_code == 200, "metadata still answers"

    proxy.start()
    body = client.get(file_url, headers=h)
    assert body.status_code == 200
    assert hashlib.sha256(body.content).hexdigest() == kept.sha256
    again = client.put(
        f"/api/v1/blobs/{during.sha256}",
        content=during.data,
        headers={**h, **OCTETS, "Content-Length": str(len(during.data))},
    )
    assert again.status_code == 201, "no manual repair: the same upload now succeeds"


def _socket_target(url: str) -> tuple[str, int] | str:
    """Where the PostgreSQL at `url` listens: a TCP address or a Unix socket path."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = str(info.get("host") or "/var/run/postgresql")
    port = int(info.get("port") or 5432)
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def _through(url: str, proxy: Proxy) -> str:
    """`url` rewritten to reach its database through `proxy`."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    user = info.get("user", "postgres")
    return f"postgresql://{user}@127.0.0.1:{proxy.port}/{info['dbname']}"


@pytest.fixture
def pg_through_proxy(tmp_path: Path) -> Iterator[tuple[httpx.Client, Proxy]]:
    """A server process on a fresh PostgreSQL database reached through a proxy the test can
    cut or stall, and a client signed in as admin."""
    with (
        pg.admin_url() as admin,
        pg.scratch_database(admin) as url,
        forwarding(_socket_target(url)) as proxy,
        servers.running(
            tmp_path / "data", {**ENV, "CAIRN_DATABASE_URL": _through(url, proxy)}
        ) as server,
        client_for(server.base, admin_key(server.base)) as client,
    ):
        yield client, proxy


def test_database_outage_is_a_prompt_503_and_recovers(
    pg_through_proxy: tuple[httpx.Client, Proxy],
) -> None:
    client, proxy = pg_through_proxy
    assert client.get("/orgs/default/registries").status_code == 200

    proxy.cut()
    for path in ("/orgs/default/registries", "/resolve?ref=Models/x:latest"):
        started = time.monotonic()
        _assert_error_body(client.get(path), 503, "unavailable")
        assert time.monotonic() - started < PROMPT_SECONDS

    proxy.start()
    assert client.get("/orgs/default/registries").status_code == 200
    created = client.post("/orgs/default/registries", json={"name": "after-outage"})
    assert created.status_code == 201, created.text


def test_hung_object_store_is_a_prompt_503(
    s3_through_proxy: tuple[httpx.Client, Proxy], admin_key: str
) -> None:
    client, proxy = s3_through_proxy
    blob = Blob(b"bytes for a store that stopped answering " * 500)
    proxy.stall()
    started = time.monotonic()
    response = client.put(
        f"/api/v1/blobs/{blob.sha256}",
        content=blob.data,
        headers={**auth(admin_key), **OCTETS, "Content-Length": str(len(blob.data))},
    )
    assert time.monotonic() - started < PROMPT_SECONDS
    _assert_error_body(response, 503, "unavailable")
    proxy.resume()
    again = client.put(
        f"/api/v1/blobs/{blob.sha256}",
        content=blob.data,
        headers={**auth(admin_key), **OCTETS, "Content-Length": str(len(blob.data))},
    )
    assert again.status_code == 201, again.text


def test_hung_database_is_a_prompt_503(pg_through_proxy: tuple[httpx.Client, Proxy]) -> None:
    client, proxy = pg_through_proxy
    assert client.get("/orgs/default/registries").status_code == 200
    proxy.stall()
    started = time.monotonic()
    _assert_error_body(client.get("/orgs/default/registries"), 503, "unavailable")
    assert time.monotonic() - started < PROMPT_SECONDS
    proxy.resume()
    assert client.get("/orgs/default/registries").status_code == 200


def _hold_write_lock(db: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_locked_sqlite_database_is_a_prompt_503_for_writers_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        servers.running(data, ENV) as server,
        client_for(server.base, admin_key(server.base)) as client,
    ):
        held = threading.Event()
        locker = threading.Thread(
            target=_hold_write_lock, args=(data / "cairn.db", 2 * PROMPT_SECONDS + 3, held)
        )
        locker.start()
        assert held.wait(10)
        try:
            started = time.monotonic()
            assert client.get("/orgs/default/registries").status_code == 200, "readers go on"
            assert time.monotonic() - started < PROMPT_SECONDS
            started = time.monotonic()
            refused = client.post("/orgs/default/registries", json={"name": "while-locked"})
            assert time.monotonic() - started < PROMPT_SECONDS
            _assert_error_body(refused, 503, "unavailable")
        finally:
            locker.join()
        created = client.post("/orgs/default/registries", json={"name": "while-locked"})
        assert created.status_code == 201, created.text
