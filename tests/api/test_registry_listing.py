"""DESIGN §2's rules on listing registries: filters, order and cursors, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from cairn.server.domain.names import name_key
from tests.api.bad_requests import cursor_of
from tests.api.registry_calls import (
    CORE,
    REGS,
    add,
    assert_no_server_errors,
    create,
    error,
    expect,
    get,
    listed,
    listed_names,
    page,
    patch,
    reg,
)
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

ORDERS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at")


# --- listing --------------------------------------------------------------------------------


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _field(registry: dict[str, Any], field: str) -> Any:
    value = registry[field]
    return _when(value) if field in ("created_at", "updated_at") and value else value


def _operand(field: str, value: Any) -> Any:
    if field in ("created_at", "updated_at") and isinstance(value, str):
        return _when(value)
    return value


def _compare(registry: dict[str, Any], field: str, op: str, arg: Any) -> bool:
    """MongoDB semantics, the reference W&B's filters follow."""
    value = _field(registry, field)
    if op == "$not":
        return not _condition(registry, field, arg)
    if op in ("$in", "$nin"):
        found = value in [_operand(field, a) for a in arg]
        return found if op == "$in" else not found
    if op == "$regex":
        return isinstance(value, str) and re.search(arg, value) is not None
    operand = _operand(field, arg)
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if value is None or operand is None:
        return False
    ordered: dict[str, bool] = {
        "$gt": value > operand,
        "$gte": value >= operand,
        "$lt": value < operand,
        "$lte": value <= operand,
    }
    return ordered[op]


def _condition(registry: dict[str, Any], field: str, cond: Any) -> bool:
    if not isinstance(cond, dict):
        return _compare(registry, field, "$eq", cond)
    return all(_compare(registry, field, op, arg) for op, arg in cond.items())


def matches(registry: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Whether `registry` (as the API shows it) satisfies the filter document `doc`."""
    for key, value in doc.items():
        if key == "$and":
            ok = all(matches(registry, d) for d in value)
        elif key == "$or":
            ok = any(matches(registry, d) for d in value)
        elif key == "$not":
            ok = not matches(registry, value)
        else:
            ok = _condition(registry, key, value)
        if not ok:
            return False
    return True


FILTER_DATA = [
    ("alpha", "first model"),
    ("beta", None),
    ("gamma", "vision set"),
    ("delta", "first dataset"),
    ("epsilon", None),
    ("zeta 2", "zeta things"),
    ("eta", ""),
    ("theta9", "vision"),
]
# Keeps every comparison independent of the database's collation (core names are capitalised).
OURS = {"name": {"$nin": sorted(CORE)}}


def _populate_for_filters(client: httpx.Client, key: str) -> list[dict[str, Any]]:
    for i, (name, description) in enumerate(FILTER_DATA):
        vis = "organization" if i % 2 else "restricted"
        create(client, key, name, description=description, visibility=vis)
    expect(patch(client, key, "beta", visibility="restricted"), 200)
    expect(patch(client, key, "eta", visibility="organization"), 200)
    return [r for r in listed(client, key) if r["name"] not in CORE]


def _filters(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = sorted(r["created_at"] for r in rows)
    updated = sorted(r["updated_at"] for r in rows)
    mid, last = created[3], created[-1]
    mid_plus = mid.replace("Z", "+00:00") if mid.endswith("Z") else mid
    return [
        {"name": "alpha"},
        {"name": {"$eq": "beta"}},
        {"name": {"$ne": "beta"}},
        {"name": {"$gt": "delta"}},
        {"name": {"$gte": "delta"}},
        {"name": {"$lt": "delta"}},
        {"name": {"$lte": "delta"}},
        {"name": {"$gt": "b", "$lt": "g"}},
        {"name": {"$in": ["alpha", "gamma", "nope"]}},
        {"name": {"$nin": ["alpha", "gamma"]}},
        {"name": {"$regex": "^[a-e]"}},
        {"name": {"$regex": "ta"}},
        {"name": {"$regex": "[0-9]$"}},
        {"name": {"$regex": "^(alpha|beta)$"}},
        {"name": {"$not": {"$regex": "^[a-e]"}}},
        {"name": {"$not": {"$in": ["alpha", "beta"]}}},
        {"$not": {"name": {"$gte": "eta"}}},
        {"description": None},
        {"description": {"$eq": None}},
        {"description": {"$ne": None}},
        {"description": ""},
        {"description": "vision"},
        {"description": {"$ne": "vision"}},
        {"description": {"$gt": "first model"}},
        {"description": {"$gte": "first model"}},
        {"description": {"$lt": "first model"}},
        {"description": {"$lte": "first model"}},
        {"description": {"$in": ["vision", "first model"]}},
        {"description": {"$in": ["vision", None]}},
        {"description": {"$nin": ["vision"]}},
        {"description": {"$nin": ["vision", None]}},
        {"description": {"$regex": "^first"}},
        {"description": {"$regex": "s(et|on)$"}},
        {"created_at": mid},
        {"created_at": {"$eq": mid_plus}},
        {"created_at": {"$ne": mid}},
        {"created_at": {"$gt": mid}},
        {"created_at": {"$gte": mid}},
        {"created_at": {"$lt": mid_plus}},
        {"created_at": {"$lte": mid}},
        {"created_at": {"$in": [created[0], created[5]]}},
        {"created_at": {"$nin": [created[0], created[5]]}},
        {"created_at": {"$gte": created[2], "$lt": created[6]}},
        {"$not": {"created_at": {"$lt": mid}}},
        {"updated_at": {"$gt": last}},
        {"updated_at": {"$lte": last}},
        {"updated_at": {"$gte": updated[-1]}},
        {"updated_at": {"$lt": updated[0]}},
        {"updated_at": {"$ne": updated[-1]}},
        {"updated_at": {"$in": updated[-2:]}},
        {"updated_at": {"$nin": updated[:3]}},
        {"updated_at": {"$eq": updated[0]}},
        {"$and": [{"description": {"$ne": None}}, {"name": {"$regex": "a$"}}]},
        {"$or": [{"name": "alpha"}, {"description": {"$regex": "vision"}}]},
        {"$or": [{"updated_at": {"$gt": last}}, {"name": "alpha"}]},
        {"$not": {"$or": [{"name": "alpha"}, {"name": "beta"}]}},
        {"$and": [{"$or": [{"name": "alpha"}, {"name": "zeta 2"}]}, {"description": {"$ne": ""}}]},
        {"name": {"$regex": "a"}, "description": {"$regex": "i"}},
    ]


def test_listing_filters_agree_with_mongodb_semantics(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    rows = _populate_for_filters(app_client, admin_key)
    assert len(rows) == len(FILTER_DATA)
    assert len({r["updated_at"] for r in rows}) > 2
    mismatches = []
    filters = _filters(rows)
    for doc in filters:
        expected = {r["name"] for r in rows if matches(r, doc)}
        got = listed_names(app_client, admin_key, filter=json.dumps({"$and": [doc, OURS]}))
        if got != expected:
            mismatches.append(f"{json.dumps(doc)}: expected {sorted(expected)}, got {sorted(got)}")
    assert not mismatches, "\n".join(mismatches)
    non_trivial = [d for d in filters if 0 < sum(matches(r, d) for r in rows) < len(rows)]
    assert len(non_trivial) > len(filters) * 2 // 3, "the data must tell the operators apart"
    # A filter narrows what the caller can see; it never widens it.
    seen = {r["name"] for r in listed(app_client, bob)}
    assert seen == {r["name"] for r in rows if r["visibility"] == "organization"} | CORE
    doc = {"description": {"$regex": "i"}}
    expected = {r["name"] for r in rows if r["name"] in seen and matches(r, doc)}
    assert listed_names(app_client, bob, filter=json.dumps({"$and": [doc, OURS]})) == expected


def test_not_is_the_complement_of_its_filter(app_client: httpx.Client, admin_key: str) -> None:
    rows = _populate_for_filters(app_client, admin_key)
    everyone = {r["name"] for r in rows}
    problems = []
    for doc in (
        {"description": "vision"},
        {"description": {"$regex": "vision"}},
        {"description": {"$gt": "m"}},
        {"description": {"$in": ["vision", "first model"]}},
        {"name": {"$regex": "^[a-e]"}},
    ):
        kept = listed_names(app_client, admin_key, filter=json.dumps({"$and": [doc, OURS]}))
        dropped = listed_names(
            app_client, admin_key, filter=json.dumps({"$and": [{"$not": doc}, OURS]})
        )
        if kept | dropped != everyone or kept & dropped:
            missing = sorted(everyone - kept - dropped)
            problems.append(f"{json.dumps(doc)}: neither it nor its $not matches {missing}")
    ne = listed_names(app_client, admin_key, filter=json.dumps({"description": {"$ne": "vision"}}))
    not_eq = listed_names(
        app_client, admin_key, filter=json.dumps({"description": {"$not": {"$eq": "vision"}}})
    )
    if ne != not_eq:
        problems.append(f"$ne gives {sorted(ne)} but $not/$eq gives {sorted(not_eq)}")
    assert not problems, "\n".join(problems)


def _sort_key(registry: dict[str, Any], order: str) -> tuple[Any, int]:
    field = order.lstrip("-")
    value = name_key(registry["name"]) if field == "name" else _when(registry[field])
    return value, registry["id"]


def test_order_and_cursor_pagination(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    count = 13
    names = [f"reg{n:02d}{chr(97 + n % 26)}" for n in range(count)]
    random.Random(7).shuffle(names)
    for i, name in enumerate(names):
        vis = "restricted" if i % 3 == 0 else "organization"
        create(app_client, admin_key, name, visibility=vis)
        if i % 4 == 0:
            expect(add(app_client, admin_key, name, {"member": "bob"}), 201)
    for name in names[::5]:
        expect(patch(app_client, admin_key, name, description="touched"), 200)
    bob_sees = len(CORE) + sum(1 for i in range(count) if i % 3 or i % 4 == 0)
    for key, visible in ((admin_key, len(CORE) + count), (bob, bob_sees)):
        for order in ORDERS:
            full = page(app_client, key, order=order, per_page=1000)
            assert full["next_cursor"] is None
            keys = [_sort_key(r, order) for r in full["items"]]
            assert keys == sorted(keys, reverse=order.startswith("-")), order
            paged = listed(app_client, key, per_page=4, order=order)
            ids = [r["id"] for r in paged]
            assert len(ids) == len(set(ids)), f"duplicates when paging by {order}"
            assert ids == [r["id"] for r in full["items"]], f"gaps or reordering by {order}"
            assert len(ids) == visible
        query = {"order": "-name", "filter": '{"name": {"$regex": "1"}}'}
        filtered = listed(app_client, key, per_page=2, **query)
        expected = [r for r in listed(app_client, key, order="-name") if "1" in r["name"]]
        assert [r["id"] for r in filtered] == [r["id"] for r in expected]
        assert len(expected) > 2


def test_page_size_cursor_and_order_validation(app_client: httpx.Client, admin_key: str) -> None:
    for i in range(3):
        create(app_client, admin_key, f"r{i}")
    first = page(app_client, admin_key, per_page=2)
    assert len(first["items"]) == 2
    assert isinstance(first["next_cursor"], str)
    second = page(app_client, admin_key, per_page=2, cursor=first["next_cursor"])
    assert len(second["items"]) == 2
    third = page(app_client, admin_key, per_page=2, cursor=second["next_cursor"])
    assert len(third["items"]) == 1
    assert third["next_cursor"] is None
    exact = page(app_client, admin_key, per_page=5)
    assert len(exact["items"]) == 5
    assert exact["next_cursor"] is None
    assert len(page(app_client, admin_key)["items"]) == 5
    assert len(page(app_client, admin_key, per_page=1000)["items"]) == 5
    assert len(page(app_client, admin_key, per_page=1)["items"]) == 1
    bad_params: list[dict[str, Any]] = [
        {"cursor": "garbage!"},
        {"cursor": "e30"},  # {}
        {"cursor": cursor_of([1])},
        {"cursor": cursor_of(["a", "b"])},
        {"cursor": cursor_of([None, 1])},
        {"cursor": cursor_of(["a", 1.5])},
        {"cursor": first["next_cursor"], "order": "created_at"},
        {"cursor": "x" * 3000},
        {"per_page": 0},
        {"per_page": 1001},
        {"per_page": -1},
        {"per_page": "ten"},
        {"per_page": 10**30},
        {"order": "size"},
        {"order": "name,created_at"},
        {"order": "visibility"},
    ]
    for params in bad_params:
        resp = call(app_client, "GET", REGS, admin_key, params=params)
        message = error(resp, 422, "validation_error")
        if "cursor" in params and "order" not in params and len(params["cursor"]) < 100:
            assert "cursor" in message
        if params.get("order") in ("size", "visibility"):
            assert all(o in message for o in ("name", "created_at", "updated_at"))


def test_cursors_the_server_never_issues_are_422(app_client: httpx.Client, admin_key: str) -> None:
    create(app_client, admin_key, "r0")
    failures = []
    for raw in (["a", True], ["a", 2**70], ["a", -(2**70)], ["2024-01-01", 2**63]):
        for order in ("name", "created_at"):
            resp = call(
                app_client,
                "GET",
                REGS,
                admin_key,
                params={"cursor": cursor_of(raw), "order": order},
            )
            if resp.status_code != 422:
                failures.append(
                    f"cursor {raw!r} order={order}: {resp.status_code} {resp.text[:80]}"
                )
    assert not failures, "\n".join(failures)


def test_nul_bytes_and_dialect_specific_input_never_fail_the_server(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob")
    create(app_client, admin_key, "R")
    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "create with NUL in description",
            "POST",
            REGS,
            {"json": {"name": "N", "description": "a\x00b"}},
        ),
        ("rename with NUL", "PATCH", reg("R"), {"json": {"name": "a\x00b"}}),
        ("describe with NUL", "PATCH", reg("R"), {"json": {"description": "a\x00b"}}),
        ("registry path with NUL", "GET", f"{REGS}/a%00b", {}),
        ("org path with NUL", "GET", "/orgs/de%00fault/registries", {}),
        (
            "member with NUL",
            "POST",
            f"{reg('R')}/members",
            {"json": {"members": [{"member": "bob\x00"}]}},
        ),
        (
            "member email with NUL",
            "POST",
            f"{reg('R')}/members",
            {"json": {"members": [{"member": "b\x00@x.org"}]}},
        ),
        ("member path with NUL", "DELETE", f"{reg('R')}/members/user/bob%00", {}),
        ("owner team with NUL", "PATCH", reg("R"), {"json": {"owner_team": "t\x00"}}),
        ("type with NUL", "PATCH", reg("R"), {"json": {"artifact_types": ["m\x00"]}}),
        (
            "filter value with NUL",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"name": "a\x00"})}},
        ),
        (
            "filter $in with NUL",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"description": {"$in": ["\x00"]}})}},
        ),
        (
            "filter regex with NUL",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"name": {"$regex": "a\x00"}})}},
        ),
        (
            "Python-only regex syntax",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"name": {"$regex": "(?P<n>a)"}})}},
        ),
        (
            "regex lookbehind",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"name": {"$regex": "(?<!x)R"}})}},
        ),
        (
            "regex on a date field",
            "GET",
            REGS,
            {"params": {"filter": json.dumps({"created_at": {"$regex": "20"}})}},
        ),
        ("cursor with NUL", "GET", REGS, {"params": {"cursor": cursor_of(["a\x00", 1])}}),
        ("cursor with boolean id", "GET", REGS, {"params": {"cursor": cursor_of(["a", True])}}),
    ]
    assert_no_server_errors(app_client, attempts, admin_key)
    assert expect(get(app_client, admin_key, "R"), 200)["name"] == "R"
