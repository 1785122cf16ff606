"""Shared helpers for the API security suites: route discovery, sample requests and casts."""

from __future__ import annotations

import atexit
import functools
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import BindParameter, bindparam, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Host, Mount, Router

from cairn.server.api.routing import ACTION_KEY, API_PREFIX
from cairn.server.app import build_state, create_app, prepare
from cairn.server.db.base import Base
from cairn.server.db.models import (
    AuditEvent,
    Collection,
    CollectionAlias,
    CollectionTag,
    LinkedVersion,
    Organization,
    ProtectedAlias,
    Registry,
    RegistryMember,
    RegistryType,
    Team,
    User,
)
from cairn.server.domain import blobstream
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action, OrgRole, TeamRole
from cairn.server.http.deps import AppState
from cairn.server.http.identity import principal, session_principal
from cairn.server.services import accounts, keys, orgs, registries, registry_members, teams
from cairn.server.services.registry_members import MemberSpec
from cairn.server.settings import Settings
from tests.conftest import ADMIN_PASSWORD

REGISTRY_PATH = f"{API_PREFIX}/orgs/{{org}}/registries/{{registry}}"
ORG_PATH = f"{API_PREFIX}/orgs/{{org}}"
# A well-formed key (right prefix, 12 hex digits, secret) that the server never issued,
# and a token that is not shaped like a key at all.
UNKNOWN_KEY = "cairn_0123456789ab_" + "x" * 43
GARBAGE_KEY = "not-a-cairn-key"
LEAK_MARKERS = ("Traceback", "sqlalchemy", "psycopg", "SELECT ", "site-packages", '.py"')

JsonBody = dict[str, Any]


# A valid body for every route that takes one, so a refusal cannot come from validation.
SAMPLE_BODIES: dict[tuple[str, str], JsonBody] = {
    ("POST", f"{API_PREFIX}/auth/login"): {"username": "admin", "password": "wrong-password"},
    ("POST", f"{API_PREFIX}/orgs"): {"name": "sample-org"},
    ("POST", f"{ORG_PATH}/members"): {"user": "admin", "role": "admin"},
    ("PATCH", f"{ORG_PATH}/members/{{username}}"): {"role": "viewer"},
    ("POST", f"{ORG_PATH}/users"): {"username": "sample-user"},
    ("PATCH", f"{API_PREFIX}/users/{{username}}"): {"active": False},
    ("POST", f"{ORG_PATH}/teams"): {"name": "sample-team"},
    ("POST", f"{ORG_PATH}/teams/{{team}}/members"): {"user": "admin", "role": "admin"},
    ("PATCH", f"{ORG_PATH}/teams/{{team}}/members/{{username}}"): {"role": "admin"},
    ("POST", f"{API_PREFIX}/keys"): {"name": "sample"},
    ("POST", f"{ORG_PATH}/registries"): {"name": "Sample", "visibility": "restricted"},
    ("PATCH", REGISTRY_PATH): {"description": "sample"},
    ("POST", f"{REGISTRY_PATH}/members"): {"members": [{"member": "admin", "role": "admin"}]},
    ("PATCH", f"{REGISTRY_PATH}/members/{{kind}}/{{name}}"): {"role": "admin"},
    ("POST", f"{API_PREFIX}/blobs/missing"): {"blobs": [{"sha256": "0" * 64, "size": 1}]},
    ("POST", f"{API_PREFIX}/blobs/sizes"): {"sizes": [1]},
    ("POST", f"{API_PREFIX}/blobs/ends"): {"files": [{"size": 1, "ends": "0" * 64}]},
    ("POST", f"{API_PREFIX}/blobs/uploads"): {"size": 1},
    ("POST", f"{API_PREFIX}/blobs/uploads/{{upload}}/complete"): {"sha256": "0" * 64, "size": 1},
    ("POST", f"{API_PREFIX}/projects/{{entity}}"): {"name": "sample-project"},
    ("POST", f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts"): {
        "name": "sample",
        "type": "model",
        "files": [],
    },
    ("POST", f"{REGISTRY_PATH}/collections"): {"name": "sample", "type": "model"},
    ("PATCH", f"{REGISTRY_PATH}/collections/{{collection}}"): {"description": "sample"},
    ("POST", f"{REGISTRY_PATH}/collections/{{collection}}/versions"): {
        "source": "ml/models/clf:v0"
    },
    ("PUT", f"{REGISTRY_PATH}/collections/{{collection}}/aliases/{{alias}}"): {"version": "v0"},
    (
        "POST",
        f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts/{{name}}/versions/{{version}}"
        "/files/batch",
    ): {"sha256": ["0" * 64]},
    ("POST", f"{REGISTRY_PATH}/collections/{{collection}}/versions/{{version}}/files/batch"): {
        "sha256": ["0" * 64]
    },
}
SAMPLE_BYTES = b"sample file bytes"
OCTET_STREAM = "application/octet-stream"
# A blob stream (docs/api.md) of one record: SAMPLE_BYTES.
SAMPLE_STREAM = (
    blobstream.header(hashlib.sha256(SAMPLE_BYTES).hexdigest(), len(SAMPLE_BYTES)) + SAMPLE_BYTES
)


@dataclass(frozen=True)
class Endpoint:
    """One (method, path) the application answers, as the census and the matrix see it."""

    method: str
    path: str
    kind: str  # "api" (a FastAPI route), "route" (a plain Starlette route) or "mount"
    action: Action | None = None
    status_code: int = 200
    dependant: Dependant | None = field(default=None, compare=False, repr=False)

    # the media type of a body that is not JSON: file bytes (application/octet-stream) or
    # a blob stream (application/vnd.cairn.blobs)
    raw_media: str | None = None

    @property
    def raw_body(self) -> bool:
        return self.raw_media is not None

    @property
    def takes_body(self) -> bool:
        return self.dependant is not None and bool(self.dependant.body_params)

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[Endpoint]:
    """Every endpoint under `routes`, through included routers, mounts and hosts."""
    for ctx in iter_route_contexts(routes):
        original = ctx.original_route
        path = (ctx.path or "") if prefix == "" else prefix + (ctx.path or "")
        dependant = getattr(ctx, "dependant", None)
        if isinstance(original, Mount | Host):
            inner = getattr(original, "app", None)
            if isinstance(inner, Router | FastAPI):
                yield from _walk(list(inner.routes), path.rstrip("/"))
            else:
                yield Endpoint("GET", path, "mount")
            continue
        methods = getattr(ctx, "methods", None) or {"GET"}
        extra = getattr(ctx, "openapi_extra", None) or {}
        raw_action = extra.get(ACTION_KEY)
        media = extra.get("requestBody", {}).get("content", {})
        raw_media = next((m for m in media if m != "application/json"), None)
        for method in sorted(methods):
            yield Endpoint(
                method=method,
                path=path,
                kind="api" if isinstance(dependant, Dependant) else "route",
                action=Action(raw_action) if raw_action is not None else None,
                status_code=getattr(ctx, "status_code", None) or 200,
                dependant=dependant if isinstance(dependant, Dependant) else None,
                raw_media=raw_media,
            )


def sample_body(endpoint: Endpoint) -> JsonBody | None:
    """A valid body for `endpoint` (None when it takes none); fails for an unknown body route."""
    if not endpoint.takes_body:
        return None
    assert endpoint.key in SAMPLE_BODIES, f"add a sample body for {endpoint.method} {endpoint.path}"
    return SAMPLE_BODIES[endpoint.key]


def sample_request(endpoint: Endpoint) -> dict[str, Any]:
    """Keyword arguments for send(): a valid JSON body, file bytes, a blob stream, or nothing."""
    if endpoint.raw_media == blobstream.MEDIA_TYPE:
        return {"content": SAMPLE_STREAM, "content_type": blobstream.MEDIA_TYPE}
    if endpoint.raw_media is not None:
        return {"content": SAMPLE_BYTES, "content_type": endpoint.raw_media}
    body = sample_body(endpoint)
    return {} if body is None else {"json": body}


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every endpoint of `app`. HEAD, which Starlette adds beside GET, counts as that GET."""
    found = [e for e in _walk(list(app.routes)) if e.method != "HEAD"]
    return sorted(set(found), key=lambda e: (e.path, e.method))


@functools.cache
def static_app() -> FastAPI:
    """The application built on no real database, for collecting test parameters."""
    folder = Path(tempfile.mkdtemp(prefix="cairn-static-app-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    settings = Settings(
        data_dir=folder, database_url="sqlite://", auto_migrate=False, admin_password=None
    )
    return create_app(settings, state=build_state(settings))


def registry_endpoints(app: FastAPI) -> list[Endpoint]:
    """The endpoints on one registry or below it (each must name its role-table action)."""
    return [e for e in endpoints(app) if e.path.startswith(REGISTRY_PATH)]


def depends_on_principal(dependant: Dependant | None) -> bool:
    """Whether http.identity.principal (API key) or session_principal (web) guards the route."""
    return depends_on(dependant, principal) or depends_on_session(dependant)


def depends_on_session(dependant: Dependant | None) -> bool:
    """Whether http.identity.session_principal (a web page's sign-in) is in the tree."""
    return depends_on(dependant, session_principal)


def depends_on(dependant: Dependant | None, call: object) -> bool:
    """Whether `call` is anywhere in the dependency tree."""
    if dependant is None:
        return False
    if dependant.call is call:
        return True
    return any(depends_on(d, call) for d in dependant.dependencies)


def fill(template: str, **values: str) -> str:
    """A concrete path: every `{param}` of `template` replaced by its URL-quoted value."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        if name not in values:
            raise KeyError(f"no value for path parameter {name!r} in {template}")
        return quote(values[name], safe="")

    return re.sub(r"\{([^}]+)\}", one, template)


def path_params(template: str) -> list[str]:
    """The names of the path parameters of `template`."""
    return [m.split(":")[0] for m in re.findall(r"\{([^}]+)\}", template)]


def send(
    client: httpx.Client,
    method: str,
    path: str,
    key: str | None,
    json: JsonBody | None = None,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
    content_type: str = OCTET_STREAM,
) -> httpx.Response:
    """One request with `Authorization: Bearer key` (None: anonymous); never a 5xx or a leak.

    `content` is sent as `content_type` (file bytes unless told), `json` as JSON.
    """
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if content is not None:
        headers["Content-Type"] = content_type
    resp = client.request(method, path, headers=headers, json=json, params=params, content=content)
    assert resp.status_code < 500, f"{method} {path}: {resp.status_code} {resp.text[:500]}"
    for marker in LEAK_MARKERS:
        assert marker not in resp.text, f"{method} {path} leaks {marker!r}: {resp.text[:500]}"
    return resp


def error_code(resp: httpx.Response) -> str:
    """The `code` of a standard error body (fails when the body is not that shape)."""
    body = resp.json()
    assert isinstance(body, dict), resp.text
    assert set(body) == {"error"}, resp.text
    assert isinstance(body["error"], dict)
    assert isinstance(body["error"].get("message"), str)
    code = body["error"].get("code")
    assert isinstance(code, str), resp.text
    return code


def comparable_headers(resp: httpx.Response) -> dict[str, str]:
    """Response headers that must match between two equivalent answers (date excluded)."""
    return {k.lower(): v for k, v in resp.headers.items() if k.lower() != "date"}


# --- building casts directly through the services (fast: no passwords, one transaction) ---


def admin_principal(s: Session) -> Principal:
    """The bootstrap superuser `admin` as a principal."""
    return accounts.as_principal(accounts.get_user(s, "admin"), "key")


def new_user(
    s: Session,
    username: str,
    *,
    org: str | None = "default",
    role: OrgRole = OrgRole.MEMBER,
    service: bool = False,
) -> tuple[User, str]:
    """A user (member of `org` with `role` unless org is None) and an API key of theirs."""
    user = accounts.create_user(s, None, username, is_service=service)
    if org is not None:
        found = orgs.find_org(s, org)
        assert found is not None, org
        orgs.add_member(s, None, found, user, role)
    _, full = keys.create(s, None, user, "tests")
    return user, full


def add_to_org(s: Session, user: User, org: str, role: OrgRole = OrgRole.MEMBER) -> None:
    """Make an existing user a member of another organization."""
    found: Organization | None = orgs.find_org(s, org)
    assert found is not None, org
    orgs.add_member(s, None, found, user, role)


def new_team(s: Session, name: str, members: dict[str, TeamRole], *, org: str = "default") -> Team:
    """A team created by `admin` (so its admin too), with `members` holding their team roles."""
    actor = admin_principal(s)
    access = orgs.access(s, actor, org)
    team = teams.create(s, actor, access, name, None)
    for username, role in members.items():
        teams.add_member(s, actor, access, team, username, role)
    return team


def new_registry(
    s: Session,
    name: str,
    visibility: str,
    *,
    org: str = "default",
    owner_team: str | None = None,
    members: list[MemberSpec] | None = None,
) -> None:
    """A registry created by `admin` (its first explicit admin), with `members` added."""
    actor = admin_principal(s)
    registries.create(
        s,
        actor,
        orgs.access(s, actor, org),
        name=name,
        visibility=visibility,
        owner_team=owner_team,
    )
    if members:
        registry_members.add(s, actor, org, name, members)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def log_artifact(
    client: httpx.Client,
    key: str,
    entity: str,
    project: str,
    name: str,
    payload: bytes,
    type_: str = "model",
) -> JsonBody:
    """Upload one file and log a version holding it; returns the Version."""
    digest = sha256_of(payload)
    put = send(client, "PUT", f"{API_PREFIX}/blobs/{digest}", key, content=payload)
    assert put.status_code == 201, put.text
    body = {
        "name": name,
        "type": type_,
        "files": [{"path": "model.bin", "sha256": digest, "size": len(payload)}],
    }
    path = fill(
        f"{API_PREFIX}/projects/{{entity}}/{{project}}/artifacts", entity=entity, project=project
    )
    logged = send(client, "POST", path, key, json=body)
    assert logged.status_code in (200, 201), logged.text
    version: JsonBody = logged.json()
    return version


Row = dict[str, Any]
Rows = dict[str, dict[tuple[Any, ...], Row]]  # table -> primary key -> row


@functools.cache
def _snapshot_statements() -> list[tuple[str, Any, list[str]]]:
    """(table, SELECT of one registry's rows taking :rid, primary key columns), built once."""
    rid: BindParameter[int] = bindparam("rid")
    collection_ids = select(Collection.id).where(Collection.registry_id == rid)
    linked_ids = select(LinkedVersion.id).where(LinkedVersion.collection_id.in_(collection_ids))
    wheres: list[tuple[type[Base], Any]] = [
        (Registry, Registry.id == rid),
        (RegistryType, RegistryType.registry_id == rid),
        (ProtectedAlias, ProtectedAlias.registry_id == rid),
        (RegistryMember, RegistryMember.registry_id == rid),
        (Collection, Collection.registry_id == rid),
        (CollectionTag, CollectionTag.collection_id.in_(collection_ids)),
        (LinkedVersion, LinkedVersion.collection_id.in_(collection_ids)),
        (CollectionAlias, CollectionAlias.linked_version_id.in_(linked_ids)),
        (AuditEvent, AuditEvent.registry_id == rid),
    ]
    out = []
    for model, where in wheres:
        mapper = sa_inspect(model)
        pk = [c.name for c in mapper.primary_key]
        out.append((str(model.__tablename__), select(mapper.local_table).where(where), pk))
    return out


def registry_rows(state: AppState, registry_id: int) -> Rows:
    """Every stored row of one registry and its contents, audit events included."""
    rows: Rows = {}
    with state.engine.connect() as conn:
        for table, statement, pk in _snapshot_statements():
            found = conn.execute(statement, {"rid": registry_id}).mappings()
            rows[table] = {tuple(r[c] for c in pk): dict(r) for r in found}
    return rows


@dataclass
class Diff:
    """What changed between two registry_rows() snapshots, per table."""

    added: dict[str, list[Row]]
    removed: dict[str, list[Row]]
    changed: dict[str, list[tuple[Row, Row]]]

    def counts(self) -> dict[str, tuple[int, int, int]]:
        """table -> (added, removed, changed) for every table with a difference."""
        tables = set(self.added) | set(self.removed) | set(self.changed)
        return {
            t: (
                len(self.added.get(t, [])),
                len(self.removed.get(t, [])),
                len(self.changed.get(t, [])),
            )
            for t in sorted(tables)
        }


def diff(before: Rows, after: Rows) -> Diff:
    """Rows added, removed and changed (by primary key) from `before` to `after`."""
    out = Diff({}, {}, {})
    for table in before.keys() | after.keys():
        old, new = before.get(table, {}), after.get(table, {})
        added = [new[k] for k in new.keys() - old.keys()]
        removed = [old[k] for k in old.keys() - new.keys()]
        changed = [(old[k], new[k]) for k in old.keys() & new.keys() if old[k] != new[k]]
        if added:
            out.added[table] = added
        if removed:
            out.removed[table] = removed
        if changed:
            out.changed[table] = changed
    return out


def registry_id(state: AppState, org: str, name: str) -> int:
    """The id of registry `name` of `org`."""
    with state.readers() as s:
        found = orgs.find_org(s, org)
        assert found is not None
        rid = s.scalar(
            select(Registry.id).where(Registry.org_id == found.id, Registry.name == name)
        )
    assert isinstance(rid, int), name
    return rid


@dataclass
class Snapshot:
    """What an admin sees of one registry: its settings and its members (None: gone)."""

    registry: JsonBody | None
    members: list[JsonBody] | None


def snapshot(client: httpx.Client, admin_key: str, org: str, registry: str) -> Snapshot:
    """The registry and its members as the superuser sees them."""
    base = fill(REGISTRY_PATH, org=org, registry=registry)
    reg = send(client, "GET", base, admin_key)
    mem = send(client, "GET", base + "/members", admin_key)
    assert reg.status_code in (200, 404), reg.text
    assert mem.status_code == reg.status_code, mem.text
    if reg.status_code == 404:
        return Snapshot(None, None)
    return Snapshot(reg.json(), sorted_members(mem.json()))


def sorted_members(rows: list[JsonBody]) -> list[JsonBody]:
    """Member rows in a stable order for comparison."""
    return sorted(rows, key=lambda m: (m["kind"], m["name"]))


# --- a database shared by the tests of one module (each test then works on its own rows) ---


@dataclass
class World:
    """An application on its own database, a client of it, and the superuser's key."""

    state: AppState
    client: httpx.Client
    admin_key: str


def world_settings(data_dir: Path, url: str) -> Settings:
    """Settings like the suite's per-test ones (tests/conftest.py)."""
    return Settings(
        data_dir=data_dir,
        database_url=url,
        allowed_hosts=["testserver", "localhost", "127.0.0.1"],
        admin_password=SecretStr(ADMIN_PASSWORD),
        auto_migrate=False,
        db_pool_size=4,
    )


@contextmanager
def open_world(backend: str, folder: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """A freshly provisioned database of `backend` with an app and client on it."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, folder / "cairn.db")
        state = build_state(world_settings(folder, f"sqlite:///{folder / 'cairn.db'}"))
    else:
        url: str = request.getfixturevalue("postgres_database")
        state = build_state(world_settings(folder, url))
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
