"""Every route's handler is built before a server process serves (http/routes_ready.py),
and what is built then is set apart from the garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cairn.server import app as app_module
from cairn.server import cli
from cairn.server.app import create_app, serving_app
from cairn.server.http.deps import AppState
from cairn.server.http.routes_ready import build_handlers

# One request into each of several routers (the answers do not matter, only the routing).
REQUESTS = [
    ("POST", "/api/v1/blobs/missing"),
    ("GET", "/api/v1/orgs/default/registries"),
    ("GET", "/api/v1/orgs/default/teams"),
    ("GET", "/api/v1/me"),
    ("GET", "/login"),
]


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """What a test's served app froze goes back to the collector afterwards: the test
    process builds many apps."""
    yield
    gc.unfreeze()


@pytest.fixture
def handlers_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose request handler FastAPI builds from now on."""
    built: list[str] = []
    real: Callable[[APIRoute], Any] = APIRoute.get_route_handler

    def counting(route: APIRoute) -> Any:
        built.append(route.path)
        return real(route)

    monkeypatch.setattr(APIRoute, "get_route_handler", counting)
    return built


def _send_requests(app: FastAPI, key: str) -> None:
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        for method, path in REQUESTS:
            answer = client.request(method, path, headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code != 500, (path, answer.text)


def test_without_it_a_lazy_fastapi_builds_handlers_on_first_requests(
    state: AppState, admin_key: str, handlers_built: list[str]
) -> None:
    """Why routes_ready exists: FastAPI 0.16x builds an included router's handlers on its
    first request (earlier versions, also allowed, built them in include_router)."""
    lazy = hasattr(fastapi.routing, "_IncludedRouter")
    app = create_app(state.settings, state=state)
    handlers_built.clear()
    _send_requests(app, admin_key)
    assert bool(handlers_built) == lazy


def test_no_request_builds_a_handler_once_they_are_built(
    state: AppState, admin_key: str, handlers_built: list[str]
) -> None:
    app = create_app(state.settings, state=state)
    assert build_handlers(app) >= len(app_module.ROUTERS)
    handlers_built.clear()
    _send_requests(app, admin_key)
    assert handlers_built == []


def test_building_twice_builds_nothing_more(state: AppState, handlers_built: list[str]) -> None:
    app = create_app(state.settings, state=state)
    build_handlers(app)
    first = len(handlers_built)
    build_handlers(app)
    assert first > 0
    assert len(handlers_built) == first


def test_the_served_app_has_its_handlers_built(
    state: AppState, admin_key: str, handlers_built: list[str]
) -> None:
    app = serving_app(state.settings, state)
    handlers_built.clear()
    _send_requests(app, admin_key)
    assert handlers_built == []


def test_workers_and_the_single_process_serve_the_built_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handlers_built: list[str]
) -> None:
    served: list[FastAPI] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **options: served.append(app))
    result = CliRunner().invoke(cli.server, ["--data-dir", str(tmp_path), "--port", "1"])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("CAIRN_DATA_DIR", str(tmp_path))
    served.append(app_module.app_from_env())
    for app in served:
        handlers_built.clear()
        build_handlers(app)
        assert handlers_built == [], "a served app was not built before serving"


def test_the_served_app_is_set_apart_from_the_collector(state: AppState) -> None:
    gc.unfreeze()
    app = serving_app(state.settings, state)
    frozen = gc.get_freeze_count()
    collected_ids = {id(o) for o in gc.get_objects()}  # the permanent generation is not listed
    assert frozen > 10_000, "the application's objects were not frozen"
    assert gc.is_tracked(app)
    assert id(app) not in collected_ids
    assert gc.is_tracked(app.router)
    assert id(app.router) not in collected_ids
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert id(app) in {id(o) for o in gc.get_objects()}


def test_an_app_not_served_is_left_to_the_collector(state: AppState) -> None:
    gc.unfreeze()
    app = create_app(state.settings, state=state)
    assert gc.get_freeze_count() == 0
    assert id(app) in {id(o) for o in gc.get_objects()}
