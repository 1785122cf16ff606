"""Bad requests, each with the statuses that answer it correctly: names, members, bodies, types."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.api.registry_calls import ORG, REGS

TARGET = f"{REGS}/Target"


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
