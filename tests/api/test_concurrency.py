"""Concurrent writers: one winner per unique name, no 5xx, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import auth

pytestmark = pytest.mark.both_backends
WRITERS = 8


def _create(app: FastAPI, key: str, name: str) -> int:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/orgs/default/registries",
            headers=auth(key),
            json={"name": name, "visibility": "restricted"},
        )
        status: int = response.status_code
        return status


def test_concurrent_creates_of_one_name_have_exactly_one_winner(
    app: FastAPI, admin_key: str
) -> None:
    names = ["Racy", "RACY", "racy", "Racy", "rAcY", "Racy", "racY", "RaCy"]
    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(lambda n: _create(app, admin_key, n), names))
    assert sorted(statuses) == [201] + [409] * (WRITERS - 1)


def test_concurrent_creates_of_distinct_names_all_succeed(app: FastAPI, admin_key: str) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        statuses = list(pool.map(lambda i: _create(app, admin_key, f"R{i}"), range(WRITERS * 3)))
    assert statuses == [201] * (WRITERS * 3)
    with TestClient(app) as client:
        page = client.get("/api/v1/orgs/default/registries", headers=auth(admin_key)).json()
    assert {f"R{i}" for i in range(WRITERS * 3)} <= {r["name"] for r in page["items"]}
