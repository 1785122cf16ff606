"""Malformed and hostile input always gets a clear 4xx in the standard error shape, never a 5xx."""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cairn.server.app import build_state, create_app
from cairn.server.settings import Settings
from tests.api.error_shape import ERROR_CODES, LEAKS
from tests.conftest import ADMIN_PASSWORD, MakeUser, call

ORG = "/orgs/default"
REGS = f"{ORG}/registries"
TARGET = f"{REGS}/Target"


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


def check_error(resp: httpx.Response) -> str:
    """Assert that `resp` is a clean error answer and return its message."""
    assert 400 <= resp.status_code < 500, f"{resp.status_code}: {resp.text[:300]}"
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == ERROR_CODES[resp.status_code], body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message.strip()
    for leak in LEAKS:
        assert leak not in resp.text, f"{leak!r} in {resp.text[:300]}"
    return message


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@dataclass
class Case:
    """One bad request and the statuses that answer it correctly."""

    id: str
    method: str
    path: str
    statuses: tuple[int, ...]
    kw: dict[str, Any] = field(default_factory=dict)
    member: bool = False
    absent: str | None = None  # a registry that must not exist afterwards


def create(id: str, body: Any, status: int = 422, absent: str | None = None) -> Case:
    gone = absent if absent is not None else (body.get("name") if isinstance(body, dict) else None)
    return Case(
        id, "POST", REGS, (status,), {"json": body}, absent=gone if isinstance(gone, str) else None
    )


def listing(id: str, statuses: tuple[int, ...] = (422,), **params: Any) -> Case:
    return Case(id, "GET", REGS, statuses, {"params": params})


def bad_filter(id: str, doc: Any) -> Case:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return listing(f"filter-{id}", filter=text)


def raw(
    id: str, method: str, path: str, content: bytes, ctype: str | None, statuses: tuple[int, ...]
) -> Case:
    headers = {"content-type": ctype} if ctype else {}
    return Case(id, method, path, statuses, {"content": content, "headers": headers})


def nested(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "x"}
    for _ in range(levels):
        doc = {"$and": [doc]}
    return doc


FORBIDDEN = {
    "slash": "/",
    "backslash": "\\",
    "hash": "#",
    "question": "?",
    "percent": "%",
    "colon": ":",
}
BREAKS = {
    "newline": "\n",
    "cr": "\r",
    "crlf": "\r\n",
    "u2028": "\u2028",
    "tab": "\t",
    "nul": "\x00",
    "esc": "\x1b",
}

CASES: list[Case] = [
    *(create(f"name-{k}", {"name": f"bad{c}name"}) for k, c in FORBIDDEN.items()),
    *(create(f"name-{k}", {"name": f"bad{c}name"}) for k, c in BREAKS.items()),
    *(create(f"name-{k}-at-end", {"name": f"bad{c}"}) for k, c in FORBIDDEN.items()),
    create("name-empty", {"name": ""}),
    create("name-blank", {"name": "   "}),
    create("name-129", {"name": "n" * 129}),
    create("name-201", {"name": "n" * 201}),
    create("name-10k", {"name": "n" * 10_000}),
    create("name-prefix-only", {"name": "wandb-registry-"}),
    *(
        Case(f"rename-{k}", "PATCH", TARGET, (422,), {"json": {"name": f"bad{c}name"}})
        for k, c in {**FORBIDDEN, **BREAKS}.items()
    ),
    Case("rename-empty", "PATCH", TARGET, (422,), {"json": {"name": ""}}),
    Case("rename-129", "PATCH", TARGET, (422,), {"json": {"name": "n" * 129}}),
    # Names that differ only in case or Unicode normalisation.
    create("dup-upper", {"name": "RÉSUMÉ"}, 409, absent=""),
    create("dup-lower", {"name": "résumé"}, 409, absent=""),
    create("dup-nfd", {"name": "Re\u0301sume\u0301"}, 409, absent=""),
    create("dup-core", {"name": "MODELS"}, 409, absent=""),
    create("dup-prefixed", {"name": "wandb-registry-target"}, 409, absent=""),
    Case("rename-dup", "PATCH", TARGET, (409,), {"json": {"name": "DATASETS"}}),
    # Members, roles, kinds, visibility.
    *(
        Case(
            f"member-unknown-{i}",
            "POST",
            f"{TARGET}/members",
            (404,),
            {"json": {"members": [spec]}},
        )
        for i, spec in enumerate(
            [
                {"member": "nobody"},
                {"member": "nobody@example.com"},
                {"member": "bob", "kind": "team"},
                {"member": "admin", "kind": "team"},
                {"member": "default"},
            ]
        )
    ),
    Case(
        "member-kind",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob", "kind": "robot"}]}},
    ),
    Case(
        "member-role",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob", "role": "owner"}]}},
    ),
    Case(
        "member-role-case",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob", "role": "ADMIN"}]}},
    ),
    Case(
        "member-too-many",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob"}] * 101}},
    ),
    Case("member-empty-list", "POST", f"{TARGET}/members", (422,), {"json": {"members": []}}),
    Case(
        "member-patch-role",
        "PATCH",
        f"{TARGET}/members/user/bob",
        (422,),
        {"json": {"role": "boss"}},
    ),
    Case(
        "member-patch-kind",
        "PATCH",
        f"{TARGET}/members/robot/bob",
        (404, 422),
        {"json": {"role": "viewer"}},
    ),
    Case(
        "member-patch-unknown",
        "PATCH",
        f"{TARGET}/members/user/nobody",
        (404,),
        {"json": {"role": "viewer"}},
    ),
    Case("member-delete-unknown", "DELETE", f"{TARGET}/members/team/nobody", (404,)),
    create("visibility-unknown", {"name": "v1", "visibility": "public"}),
    create("visibility-case", {"name": "v2", "visibility": "RESTRICTED"}),
    Case("visibility-patch", "PATCH", TARGET, (422,), {"json": {"visibility": "everyone"}}),
    create("type-slash", {"name": "t1", "artifact_types": ["a/b"]}),
    create("type-colon", {"name": "t2", "artifact_types": ["a:b"]}),
    create("types-too-many", {"name": "t3", "artifact_types": [f"t{i}" for i in range(101)]}),
    Case("alias-version", "PATCH", TARGET, (422,), {"json": {"protected_aliases": ["v1"]}}),
    Case("alias-latest", "PATCH", TARGET, (422,), {"json": {"protected_aliases": ["latest"]}}),
    Case("owner-team-unknown", "PATCH", TARGET, (404,), {"json": {"owner_team": "nobody"}}),
    # Malformed JSON.
    raw("json-truncated", "POST", REGS, b'{"name": ', "application/json", (422,)),
    raw("json-unquoted", "POST", REGS, b"{name: 1}", "application/json", (422,)),
    raw("json-single-quotes", "POST", REGS, b"{'name': 'x'}", "application/json", (422,)),
    raw("json-trailing", "POST", REGS, b'{"name": "x"} trailing', "application/json", (422,)),
    raw("json-not-utf8", "POST", REGS, b'{"name": "\xff\xfe"}', "application/json", (400, 422)),
    raw("json-nan", "POST", REGS, b'{"name": NaN}', "application/json", (422,)),
    raw("json-empty", "POST", REGS, b"", "application/json", (422,)),
    raw(
        "json-deep-array",
        "POST",
        REGS,
        b"[" * 50_000 + b"]" * 50_000,
        "application/json",
        (400, 422),
    ),
    raw(
        "json-deep-object",
        "POST",
        REGS,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        "application/json",
        (400, 422),
    ),
    raw("json-login", "POST", "/auth/login", b'{"username": "admin", ', "application/json", (422,)),
    # Wrong JSON types.
    create("type-name-number", {"name": 5}),
    create("type-name-null", {"name": None}),
    create("type-name-list", {"name": ["x"]}),
    create("type-name-object", {"name": {"a": 1}}),
    create("type-name-bool", {"name": True}),
    create("type-types-string", {"name": "x1", "artifact_types": "model"}),
    create("type-types-numbers", {"name": "x2", "artifact_types": [1]}),
    create("type-types-object", {"name": "x3", "artifact_types": {"model": True}}),
    create("type-description", {"name": "x4", "description": 5}),
    create("type-visibility", {"name": "x5", "visibility": True}),
    create("type-owner-team", {"name": "x6", "owner_team": 7}),
    create("type-body-list", [{"name": "x7"}]),
    create("type-body-string", "x8"),
    create("type-body-number", 5),
    create("type-body-null", None),
    Case("type-members-object", "POST", f"{TARGET}/members", (422,), {"json": {"members": {}}}),
    Case("type-members-string", "POST", f"{TARGET}/members", (422,), {"json": {"members": "bob"}}),
    Case(
        "type-member-number",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": 5}]}},
    ),
    Case(
        "type-member-role",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob", "role": 3}]}},
    ),
    Case(
        "type-patch-allow-all",
        "PATCH",
        TARGET,
        (422,),
        {"json": {"allow_all_artifact_types": "maybe"}},
    ),
    Case("type-patch-aliases", "PATCH", TARGET, (422,), {"json": {"protected_aliases": "prod"}}),
    Case("type-patch-types", "PATCH", TARGET, (422,), {"json": {"artifact_types": "model"}}),
    Case("type-role", "PATCH", f"{TARGET}/members/user/bob", (422,), {"json": {"role": ["admin"]}}),
    Case("type-login", "POST", "/auth/login", (422,), {"json": {"username": 1, "password": 2}}),
    Case("type-user-active", "PATCH", "/users/bob", (422,), {"json": {"active": "nope"}}),
    # Mass assignment: fields the server owns are refused, not ignored.
    create("mass-role", {"name": "m1", "role": "admin"}),
    create("mass-id", {"name": "m2", "id": 9}),
    create("mass-is-core", {"name": "m3", "is_core": True}),
    create("mass-organization", {"name": "m4", "organization": "acme"}),
    create("mass-created-at", {"name": "m5", "created_at": "2020-01-01T00:00:00Z"}),
    create("mass-full-name", {"name": "m6", "full_name": "default/m6"}),
    create("mass-created-by", {"name": "m7", "created_by_id": 1}),
    Case("mass-patch-core", "PATCH", TARGET, (422,), {"json": {"is_core": True}}),
    Case("mass-patch-id", "PATCH", TARGET, (422,), {"json": {"id": 1}}),
    Case("mass-patch-role", "PATCH", TARGET, (422,), {"json": {"role": "admin"}}),
    Case(
        "mass-member-registry",
        "POST",
        f"{TARGET}/members",
        (422,),
        {"json": {"members": [{"member": "bob", "registry": "Models"}]}},
    ),
    Case(
        "mass-user-superuser",
        "POST",
        f"{ORG}/users",
        (422,),
        {"json": {"username": "evil", "is_superuser": True}},
    ),
    Case(
        "mass-user-active",
        "POST",
        f"{ORG}/users",
        (422,),
        {"json": {"username": "evil2", "active": False}},
    ),
    Case(
        "mass-org-member-superuser",
        "POST",
        f"{ORG}/members",
        (422,),
        {"json": {"user": "bob", "is_superuser": True}},
    ),
    Case(
        "mass-patch-user-superuser",
        "PATCH",
        "/users/bob",
        (422,),
        {"json": {"active": True, "is_superuser": True}},
    ),
    Case(
        "mass-login-superuser",
        "POST",
        "/auth/login",
        (422,),
        {"json": {"username": "bob", "password": "x", "is_superuser": True}},
    ),
    Case(
        "mass-team-org",
        "POST",
        f"{ORG}/teams",
        (422,),
        {"json": {"name": "t-mass", "organization": "acme"}},
    ),
    Case(
        "mass-member-as-member",
        "POST",
        f"{TARGET}/members",
        (403,),
        {"json": {"members": [{"member": "bob", "role": "admin"}]}},
        member=True,
    ),
    # Content types.
    raw("ctype-text", "POST", REGS, b'{"name": "c1"}', "text/plain", (415,)),
    raw("ctype-form", "POST", REGS, b"name=c2", "application/x-www-form-urlencoded", (415,)),
    raw(
        "ctype-multipart",
        "POST",
        REGS,
        b"--x\r\n\r\n--x--",
        "multipart/form-data; boundary=x",
        (415,),
    ),
    raw("ctype-missing", "POST", REGS, b'{"name": "c3"}', None, (415,)),
    raw("ctype-json-lookalike", "POST", REGS, b'{"name": "c4"}', "application/jsonx", (415,)),
    raw("ctype-text-json", "POST", REGS, b'{"name": "c5"}', "text/json", (415,)),
    raw("ctype-xml", "POST", REGS, b"<name>c6</name>", "application/xml", (415,)),
    raw("ctype-patch", "PATCH", TARGET, b'{"description": "x"}', "text/plain", (415,)),
    raw("ctype-delete", "DELETE", TARGET, b"{}", "text/plain", (415,)),
    raw(
        "ctype-login",
        "POST",
        "/auth/login",
        b'{"username": "a", "password": "b"}',
        "text/plain",
        (415,),
    ),
    # Sizes.
    raw(
        "huge-body",
        "POST",
        REGS,
        b'{"name": "' + b"x" * (2 << 20) + b'"}',
        "application/json",
        (413,),
    ),
    raw(
        "huge-members",
        "PATCH",
        TARGET,
        b'{"description": "' + b"y" * (3 << 20) + b'"}',
        "application/json",
        (413,),
    ),
    Case(
        "huge-description",
        "POST",
        REGS,
        (422,),
        {"json": {"name": "big", "description": "d" * 70_000}},
    ),
    Case("huge-path", "GET", f"{REGS}/{'p' * 20_000}", (404, 414, 422)),
    # Paging.
    listing("per-page-0", per_page=0),
    listing("per-page-1001", per_page=1001),
    listing("per-page-negative", per_page=-5),
    listing("per-page-huge", per_page=10**30),
    listing("per-page-text", per_page="ten"),
    listing("per-page-float", per_page="1.5"),
    listing("per-page-empty", per_page=""),
    listing("order-unknown", order="size"),
    listing("order-sql", order="name; DROP TABLE registries"),
    listing("order-long", order="n" * 100),
    listing("cursor-garbage", cursor="garbage!!"),
    listing("cursor-not-json", cursor=base64.urlsafe_b64encode(b"not json").decode()),
    listing("cursor-object", cursor=cursor_of({"a": 1})),
    listing("cursor-short", cursor=cursor_of(["a"])),
    listing("cursor-types", cursor=cursor_of([1, "a"])),
    listing("cursor-too-long", cursor="A" * 5000),
    listing("cursor-huge-id", cursor=cursor_of(["a", 2**70])),
    listing("cursor-bad-date", cursor=cursor_of(["yesterday", 1]), order="created_at"),
    listing("cursor-sql", cursor="' OR 1=1 --"),
    # Filters.
    bad_filter("not-json", "{"),
    bad_filter("query-syntax", "name=x"),
    bad_filter("list", []),
    bad_filter("number", 1),
    bad_filter("string", "x"),
    bad_filter("bool", True),
    bad_filter("unknown-op", {"name": {"$foo": 1}}),
    bad_filter("where", {"$where": "1 == 1"}),
    bad_filter("unknown-field", {"size": 1}),
    bad_filter("sql-field", {"name; DROP TABLE registries": "x"}),
    bad_filter("regex-long", {"name": {"$regex": "a" * 300}}),
    bad_filter("regex-invalid", {"name": {"$regex": "("}}),
    bad_filter("regex-number", {"name": {"$regex": 5}}),
    bad_filter("too-deep", nested(20)),
    bad_filter("too-large", {"$or": [{"name": str(i)} for i in range(200)]}),
    bad_filter("in-too-long", {"name": {"$in": ["x"] * 101}}),
    bad_filter("in-not-list", {"name": {"$in": "x"}}),
    bad_filter("and-empty", {"$and": []}),
    bad_filter("or-object", {"$or": {"name": "x"}}),
    bad_filter("date-not-iso", {"created_at": {"$gt": "last week"}}),
    bad_filter("date-number", {"updated_at": {"$lt": 1700000000}}),
    bad_filter("gt-null", {"name": {"$gt": None}}),
    bad_filter("string-number", {"name": 5}),
    bad_filter("too-long", '{"name": "' + "x" * 17_000 + '"}'),
    bad_filter("json-deep-array", "[" * 5000 + "]" * 5000),
    bad_filter("json-deep-object", '{"$not":' * 3000 + "{}" + "}" * 3000),
    bad_filter("date-year-1-with-offset", {"created_at": {"$gt": "0001-01-01T00:00:00+01:00"}}),
    bad_filter("date-year-9999-with-offset", {"updated_at": {"$lt": "9999-12-31T23:59:59-01:00"}}),
    bad_filter("regex-on-date", {"created_at": {"$regex": "2024"}}),
    # Routing and credentials.
    Case("route-unknown", "GET", "/nope", (404,)),
    Case("method-unknown", "PUT", REGS, (405,), {"json": {}}),
    Case("org-unknown", "GET", "/orgs/nowhere/registries", (404,)),
    Case("registry-slash", "GET", f"{REGS}/a%2Fb", (404,)),
    Case("registry-traversal", "GET", f"{REGS}/..%2F..%2Fetc%2Fpasswd", (404,)),
    Case("registry-unicode", "GET", f"{REGS}/{quote('☃' * 50)}", (404,)),
]
IDS = [c.id for c in CASES]
assert len(IDS) == len(set(IDS)), "case ids must be unique"


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


# --- a small seeded fuzz ----------------------------------------------------------------------

PIECES = [
    *"abcXYZ019 _-.",
    *"/\\#?%:",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x7f",
    "\u2028",
    "é",
    "e\u0301",
    "ß",
    "\u202e",
    "\ufeff",
    "🚀",
    "'",
    '"',
    "<",
    "&",
    "{",
    "}",
    "$",
    "*",
    "@",
    ";",
    "wandb-registry-",
    "Models",
    "admin",
    "bob",
    "..",
    "%2F",
]
REGEX_PIECES = [*"abcXYZ019 .*+^$|()?", "\\d", "\\w", "{2}"]
FIELDS = ["name", "description", "created_at", "updated_at", "id", "visibility", "", "$where"]
OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$not", "$foo"]
ROLES = ["restricted_viewer", "viewer", "member", "admin", "owner", "", "ADMIN"]


def fuzz_text(rng: random.Random, longest: int = 12) -> str:
    size = rng.choice([0, 1, 2, 3, 5, 8, longest, 129, 300])
    return "".join(rng.choice(PIECES) for _ in range(size))


def fuzz_date(rng: random.Random) -> str:
    year = rng.randint(1950, 2100)
    zone = rng.choice(["", "Z", "+00:00", "+05:30", "-08:00"])
    month, day, hour = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00{zone}"


def fuzz_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randint(-(2**40), 2**40)
    if kind == 1:
        return rng.random() * 1e6
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return fuzz_date(rng)
    return fuzz_text(rng)


def fuzz_value(rng: random.Random, depth: int = 0) -> Any:
    if depth < 2 and rng.random() < 0.25:
        if rng.random() < 0.5:
            return [fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {fuzz_text(rng, 5): fuzz_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return fuzz_scalar(rng)


def fuzz_condition(rng: random.Random, field: str, depth: int) -> Any:
    if rng.random() < 0.3:
        return fuzz_scalar(rng)
    cond: dict[str, Any] = {}
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(OPS)
        if op == "$regex":
            cond[op] = "".join(rng.choice(REGEX_PIECES) for _ in range(rng.randint(0, 8)))
        elif op in ("$in", "$nin"):
            cond[op] = [fuzz_scalar(rng) for _ in range(rng.randint(0, 4))]
        elif op == "$not":
            cond[op] = fuzz_condition(rng, field, depth + 1) if depth < 3 else "x"
        else:
            cond[op] = fuzz_scalar(rng)
    return cond


def fuzz_filter(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return fuzz_value(rng)
    doc: dict[str, Any] = {}
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*FIELDS, "$and", "$or", "$not"])
        if key in ("$and", "$or"):
            doc[key] = (
                [fuzz_filter(rng, depth + 1) for _ in range(rng.randint(0, 3))] if depth < 3 else []
            )
        elif key == "$not":
            doc[key] = fuzz_filter(rng, depth + 1) if depth < 3 else {}
        else:
            doc[key] = fuzz_condition(rng, key, depth)
    return doc


def fuzz_request(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    kind = rng.randrange(7)
    if kind == 0:
        body: dict[str, Any] = {"name": fuzz_text(rng)}
        for key in (
            "description",
            "visibility",
            "artifact_types",
            "owner_team",
            rng.choice(["role", "is_core", "x"]),
        ):
            if rng.random() < 0.4:
                body[key] = rng.choice(
                    [
                        fuzz_value(rng),
                        rng.choice(["restricted", "organization"]),
                        [fuzz_text(rng, 4)],
                    ]
                )
        return "POST", REGS, {"json": body}
    if kind == 1:
        params: dict[str, Any] = {}
        if rng.random() < 0.8:
            params["filter"] = (
                json.dumps(fuzz_filter(rng)) if rng.random() < 0.9 else fuzz_text(rng)
            )
        if rng.random() < 0.4:
            params["order"] = rng.choice(
                ["name", "-name", "created_at", "-updated_at", fuzz_text(rng, 4)]
            )
        if rng.random() < 0.3:
            params["per_page"] = rng.choice([1, 2, 1000, 0, -1, 10**6, fuzz_text(rng, 3)])
        if rng.random() < 0.3:
            params["cursor"] = rng.choice(
                [
                    fuzz_text(rng),
                    cursor_of([fuzz_text(rng, 4), rng.randint(-(2**31), 2**31)]),
                    cursor_of(fuzz_value(rng)),
                ]
            )
        return "GET", REGS, {"params": params}
    if kind == 2:
        specs = []
        for _ in range(rng.randint(0, 3)):
            spec: dict[str, Any] = {
                "member": rng.choice([fuzz_text(rng), "bob", "bob@example.com", "vision", "admin"])
            }
            if rng.random() < 0.5:
                spec["role"] = rng.choice([*ROLES, fuzz_value(rng)])
            if rng.random() < 0.3:
                spec["kind"] = rng.choice(["user", "team", fuzz_text(rng, 4)])
            specs.append(spec)
        members: Any = specs if rng.random() < 0.9 else fuzz_value(rng)
        return "POST", f"{REGS}/FuzzTarget/members", {"json": {"members": members}}
    if kind == 3:
        keys = [
            "description",
            "visibility",
            "artifact_types",
            "allow_all_artifact_types",
            "protected_aliases",
            "owner_team",
        ]
        patch = {k: fuzz_value(rng) for k in rng.sample(keys, rng.randint(1, 3))}
        if rng.random() < 0.1:
            patch["name"] = fuzz_text(rng)
        return "PATCH", f"{REGS}/FuzzTarget", {"json": patch}
    if kind == 4:
        kind_part = quote(rng.choice(["user", "team", fuzz_text(rng, 3)]), safe="")
        path = f"{REGS}/FuzzTarget/members/{kind_part}"
        who = quote(rng.choice(["bob", "vision", fuzz_text(rng, 6)]), safe="")
        return "PATCH", f"{path}/{who}", {"json": {"role": rng.choice([*ROLES, fuzz_value(rng)])}}
    if kind == 5:
        name = quote(fuzz_text(rng), safe="")
        return rng.choice(["GET", "DELETE"]), f"{REGS}/{name or 'x'}", {}
    body = {"name": fuzz_text(rng, 6), "description": fuzz_value(rng)}
    return "POST", f"{ORG}/teams", {"json": body}


def test_seeded_fuzz_never_fails_the_server(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob", email="bob@example.com")
    assert (
        call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}).status_code
        == 201
    )
    assert call(app_client, "POST", REGS, admin_key, json={"name": "FuzzTarget"}).status_code == 201
    rng = random.Random(1234)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for i in range(300):
        method, path, kw = fuzz_request(rng)
        resp = call(app_client, method, path, admin_key, **kw)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        try:
            if resp.status_code >= 400:
                check_error(resp)
            else:
                assert resp.status_code < 300
        except AssertionError as exc:
            shown = json.dumps(kw, default=str, ensure_ascii=False)[:1000]
            failures.append(f"#{i} {method} {path[:80]} {shown}: {exc}")
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:15])
    assert sum(n for s, n in statuses.items() if s < 300) >= 10, statuses
    assert sum(n for s, n in statuses.items() if s >= 400) >= 100, statuses
