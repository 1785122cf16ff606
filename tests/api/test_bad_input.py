"""Malformed and hostile input always gets a clear 4xx in the standard error shape, never a 5xx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cairn.server.app import build_state, create_app
from cairn.server.settings import Settings
from tests.api.bad_requests import CASES, IDS, TARGET, Case
from tests.api.error_shape import check_error
from tests.api.registry_calls import ORG, REGS
from tests.conftest import ADMIN_PASSWORD, call


@dataclass
class Env:
    """The shared application of this module: a client, keys, and a registry to aim at."""

    client: httpx.Client
    admin: str
    member: str


@pytest.fixture(scope="module")
def env(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One app for the whole sweep: bad requests change nothing, so they can share it."""
    folder = tmp_path_factory.mktemp("bad-input")
    db = folder / "cairn.db"
    shutil.copyfile(sqlite_template, db)
    settings = Settings(
        data_dir=folder,
        database_url=f"sqlite:///{db}",
        allowed_hosts=["testserver"],
        admin_password=SecretStr(ADMIN_PASSWORD),
        auto_migrate=False,
    )
    state = build_state(settings)
    app = create_app(settings, state=state)
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        admin = call(
            client,
            "POST",
            "/auth/login",
            None,
            json={"username": "admin", "password": ADMIN_PASSWORD},
        ).json()["key"]
        body = {"username": "bob", "email": "bob@example.com", "password": "bob-password-1"}
        assert call(client, "POST", f"{ORG}/users", admin, json=body).status_code == 201
        member = call(
            client,
            "POST",
            "/auth/login",
            None,
            json={"username": "bob", "password": "bob-password-1"},
        ).json()["key"]
        assert call(client, "POST", REGS, admin, json={"name": "Target"}).status_code == 201
        assert call(client, "POST", REGS, admin, json={"name": "Résumé"}).status_code == 201
        members = {"members": [{"member": "bob", "role": "viewer"}]}
        assert call(client, "POST", f"{TARGET}/members", admin, json=members).status_code == 201
        yield Env(client, admin, member)
    state.engine.dispose()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_request_gets_a_clear_4xx(env: Env, case: Case) -> None:
    key = env.member if case.member else env.admin
    kw = dict(case.kw)
    headers = {**kw.pop("headers", {}), "authorization": f"Bearer {key}"}
    resp = env.client.request(case.method, f"/api/v1{case.path}", headers=headers, **kw)
    assert resp.status_code in case.statuses, (
        f"expected {case.statuses}: {resp.status_code} {resp.text[:300]}"
    )
    check_error(resp)
    if case.absent:
        after = call(env.client, "GET", f"{REGS}/{quote(case.absent, safe='')}", env.admin)
        # A name with a NUL cannot even be asked for (400 at the edge); any other is 404.
        assert after.status_code in (400, 404), f"{case.absent!r} was created anyway"
        page = call(env.client, "GET", REGS, env.admin, params={"per_page": 1000}).json()
        names = [r["name"] for r in page["items"]]
        assert case.absent not in names, f"{case.absent!r} was created anyway"


def test_the_sweep_changed_nothing(env: Env) -> None:
    names = {
        r["name"]
        for r in call(env.client, "GET", REGS, env.admin, params={"per_page": 1000}).json()["items"]
    }
    assert names == {"Models", "Datasets", "Target", "Résumé"}
    target = call(env.client, "GET", TARGET, env.admin).json()
    assert target["description"] is None
    assert target["visibility"] == "restricted"
    assert target["allow_all_artifact_types"] is True
    assert target["protected_aliases"] == []
    assert target["owner_team"] is None
    assert target["is_core"] is False
    members = call(env.client, "GET", f"{TARGET}/members", env.admin).json()
    assert {(m["name"], m["role"]) for m in members} == {("admin", "admin"), ("bob", "viewer")}
    users = {m["username"] for m in call(env.client, "GET", f"{ORG}/members", env.admin).json()}
    assert users == {"admin", "bob"}
    me = call(env.client, "GET", "/viewer", env.member).json()
    assert me["is_superuser"] is False
    assert me["active"] is True


def test_boundary_names_are_accepted(env: Env) -> None:
    for name in ("x", "n" * 128, "wandb-registry-" + "w" * 128, "a b c", "Ünïcödé ✓"):
        resp = call(env.client, "POST", REGS, env.admin, json={"name": name})
        assert resp.status_code == 201, resp.text
        shown = name.removeprefix("wandb-registry-")
        assert (
            call(env.client, "DELETE", f"{REGS}/{quote(shown, safe='')}", env.admin).status_code
            == 204
        )


def test_streamed_huge_body_is_413(env: Env) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(600):
            yield b"z" * 4096
        yield b'"}'

    headers = {"content-type": "application/json", "authorization": f"Bearer {env.admin}"}
    resp = env.client.post(f"/api/v1{REGS}", content=chunks(), headers=headers)
    assert resp.status_code == 413, f"{resp.status_code} {resp.text[:200]}"
    check_error(resp)
