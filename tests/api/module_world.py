"""A database shared by the tests of one module, each test then working on its own rows."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cairn.server.app import build_state, create_app, prepare
from cairn.server.db.base import Base
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, keys
from tests.conftest import server_settings


@dataclass
class World:
    """An application on its own database, a client of it, and the superuser's key."""

    state: AppState
    client: httpx.Client
    admin_key: str


@contextmanager
def open_world(backend: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """A freshly provisioned database of `backend` with an app and client on it."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, folder / "cairn.db")
        state = build_state(server_settings(folder, f"sqlite:///{folder / 'cairn.db'}"))
    else:
        url: str = request.getfixturevalue("postgres_database")
        state = build_state(server_settings(folder, url))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with state.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        prepare(state)
    try:
        with state.writers() as s, s.begin():
            _, admin_key = keys.create(s, None, accounts.get_user(s, "admin"), "tests")
        app = create_app(state.settings, state=state)
        with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
            yield World(state, client, admin_key)
    finally:
        state.engine.dispose()
