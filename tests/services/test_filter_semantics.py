"""Filters on many-valued fields, `$exists` and the implicit `latest` alias, evaluated in SQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from tests.api.cast import send, sha256_of
from tests.conftest import call

pytestmark = pytest.mark.both_backends

ORG = "/orgs/default"
REG = f"{ORG}/registries/Filters"
# collection: (tags, description, [(aliases, metadata) per linked version, oldest first])
WORLD: dict[str, tuple[list[str], str | None, list[tuple[list[str], dict[str, Any]]]]] = {
    "a": (["nlp", "prod"], "about a", [(["production"], {"f1": 0.9}), ([], {"f1": None})]),
    "b": ([], None, [(["staging"], {}), ([], {"f1": 0.5}), (["candidate"], {"f2": "x"})]),
    "c": (["prod"], None, [([], {"f1": 0.7})]),
    "d": (["nlp"], None, []),
}
COLLECTIONS = set(WORLD)
VERSIONS = {"a:v0", "a:v1", "b:v0", "b:v1", "b:v2", "c:v0"}
NEWEST = {"a:v1", "b:v2", "c:v0"}


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json() if resp.content else None


def _log(client: httpx.Client, key: str, name: str, metadata: dict[str, Any]) -> str:
    """Log a one-file version holding `metadata`; its reference."""
    payload = name.encode()
    _ok(send(client, "PUT", f"{API_PREFIX}/blobs/{sha256_of(payload)}", key, content=payload), 201)
    body = {
        "name": name,
        "type": "model",
        "metadata": metadata,
        "files": [{"path": "model.bin", "sha256": sha256_of(payload), "size": len(payload)}],
    }
    logged = call(client, "POST", "/projects/admin/filters/artifacts", key, json=body)
    assert logged.status_code in (200, 201), logged.text
    ref: str = logged.json()["ref"]
    return ref


@pytest.fixture
def world(app_client: httpx.Client, admin_key: str) -> tuple[httpx.Client, str]:
    """Registry `Filters` holding WORLD."""
    _ok(call(app_client, "POST", f"{ORG}/registries", admin_key, json={"name": "Filters"}), 201)
    for name, (tags, description, versions) in WORLD.items():
        body = {"name": name, "type": "model", "tags": tags, "description": description}
        _ok(call(app_client, "POST", f"{REG}/collections", admin_key, json=body), 201)
        for index, (aliases, metadata) in enumerate(versions):
            source = _log(app_client, admin_key, f"{name}-{index}", metadata)
            body = {"source": source, "aliases": aliases}
            path = f"{REG}/collections/{name}/versions"
            _ok(call(app_client, "POST", path, admin_key, json=body), 201)
    return app_client, admin_key


def _every(client: httpx.Client, key: str, path: str, doc: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"filter": json.dumps(doc), "per_page": 2}
    while True:
        body = _ok(call(client, "GET", path, key, params=params))
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]


def collections(world: tuple[httpx.Client, str], doc: Any) -> set[str]:
    """Names of the collections of `Filters` that `doc` matches."""
    return {c["name"] for c in _every(*world, f"{REG}/collections", doc)}


def versions(world: tuple[httpx.Client, str], doc: Any, path: str = f"{REG}/versions") -> set[str]:
    """`collection:vN` of the linked versions under `path` that `doc` matches."""
    return {f"{v['collection']}:{v['version']}" for v in _every(*world, path, doc)}


COLLECTION_CASES: list[tuple[Any, set[str]]] = [
    ({"tag": "nlp"}, {"a", "d"}),
    ({"tag": {"$ne": "nlp"}}, {"b", "c"}),
    ({"tag": {"$nin": ["nlp"]}}, {"b", "c"}),
    ({"tag": {"$nin": ["nlp", "prod"]}}, {"b"}),
    ({"tag": {"$not": {"$eq": "nlp"}}}, {"b", "c"}),
    ({"tag": {"$not": {"$ne": "nlp"}}}, {"a", "d"}),
    ({"tag": {"$not": {"$nin": ["prod"]}}}, {"a", "c"}),
    ({"$not": {"tag": {"$ne": "nlp"}}}, {"a", "d"}),
    ({"tag": {"$ne": "nlp", "$in": ["prod"]}}, {"c"}),
    ({"tag": {"$not": {"$regex": "^n"}}}, {"b", "c"}),
    ({"tag": {"$ne": None}}, COLLECTIONS),
    ({"tag": {"$nin": [None]}}, COLLECTIONS),
    ({"tag": {"$exists": True}}, {"a", "c", "d"}),
    ({"tag": {"$exists": False}}, {"b"}),
    ({"tag": {"$not": {"$exists": True}}}, {"b"}),
    ({"description": {"$exists": True}}, {"a"}),
    ({"description": {"$exists": False}}, {"b", "c", "d"}),
    ({"name": {"$exists": True}}, COLLECTIONS),
    ({"$or": [{"tag": {"$exists": False}}, {"tag": "nlp", "name": {"$ne": "a"}}]}, {"b", "d"}),
]
VERSION_CASES: list[tuple[Any, set[str]]] = [
    ({"tag": {"$ne": "nlp"}}, {"b:v0", "b:v1", "b:v2", "c:v0"}),
    ({"tag": {"$nin": ["prod"]}}, {"b:v0", "b:v1", "b:v2"}),
    ({"tag": {"$exists": False}}, {"b:v0", "b:v1", "b:v2"}),
    ({"alias": "latest"}, NEWEST),
    ({"alias": {"$eq": "latest"}}, NEWEST),
    ({"alias": "production"}, {"a:v0"}),
    ({"alias": {"$ne": "latest"}}, {"a:v0", "b:v0", "b:v1"}),
    ({"alias": {"$ne": "production"}}, VERSIONS - {"a:v0"}),
    ({"alias": {"$in": ["latest", "staging"]}}, NEWEST | {"b:v0"}),
    ({"alias": {"$nin": ["latest", "candidate"]}}, {"a:v0", "b:v0", "b:v1"}),
    ({"alias": {"$nin": ["production", "staging"]}}, {"a:v1", "b:v1", "b:v2", "c:v0"}),
    ({"alias": {"$regex": "^lat"}}, NEWEST),
    ({"alias": {"$regex": "a"}}, NEWEST | {"b:v0"}),
    ({"alias": {"$regex": "^(prod|stag)"}}, {"a:v0", "b:v0"}),
    ({"alias": {"$not": {"$regex": "^lat"}}}, {"a:v0", "b:v0", "b:v1"}),
    ({"alias": {"$not": {"$eq": "latest"}}}, {"a:v0", "b:v0", "b:v1"}),
    ({"alias": {"$not": {"$ne": "latest"}}}, NEWEST),
    ({"alias": {"$not": {"$nin": ["candidate"]}}}, {"b:v2"}),
    ({"alias": {"$exists": True}}, VERSIONS - {"b:v1"}),
    ({"alias": {"$exists": False}}, {"b:v1"}),
    ({"alias": {"$ne": None}}, VERSIONS),
    ({"metadata.f1": {"$exists": True}}, {"a:v0", "a:v1", "b:v1", "c:v0"}),
    ({"metadata.f1": {"$exists": False}}, {"b:v0", "b:v2"}),
    ({"metadata.f1": {"$not": {"$exists": True}}}, {"b:v0", "b:v2"}),
    ({"metadata.f2": {"$exists": True}}, {"b:v2"}),
    ({"metadata.nope": {"$exists": True}}, set()),
    ({"metadata.f1": {"$exists": True}, "alias": "latest"}, {"a:v1", "c:v0"}),
    ({"metadata.f1": {"$exists": True, "$gt": 0.6}}, {"a:v0", "c:v0"}),
]


def _mismatch(doc: Any, expected: set[str], got: set[str]) -> list[str]:
    return [] if got == expected else [f"{json.dumps(doc)}: {sorted(expected)} != {sorted(got)}"]


def test_collection_filters_on_tags_and_exists(world: tuple[httpx.Client, str]) -> None:
    wrong = [m for d, e in COLLECTION_CASES for m in _mismatch(d, e, collections(world, d))]
    assert not wrong, "\n".join(wrong)


def test_version_filters_on_aliases_tags_and_metadata(world: tuple[httpx.Client, str]) -> None:
    wrong = []
    for doc, expected in VERSION_CASES:
        wrong += _mismatch(doc, expected, versions(world, doc))
        wrong += _mismatch(doc, expected, versions(world, doc, f"{ORG}/versions"))
        in_b = {v for v in expected if v.startswith("b:")}
        wrong += _mismatch(doc, in_b, versions(world, doc, f"{REG}/collections/b/versions"))
    assert not wrong, "\n".join(wrong)


def test_latest_follows_the_newest_link(world: tuple[httpx.Client, str]) -> None:
    assert versions(world, {"alias": "latest"}, f"{REG}/collections/b/versions") == {"b:v2"}
    _ok(call(world[0], "DELETE", f"{REG}/collections/b/versions/v2", world[1]), 204)
    assert versions(world, {"alias": "latest"}) == {"a:v1", "b:v1", "c:v0"}
    assert versions(world, {"alias": {"$exists": False}}) == set()
    assert versions(world, {"alias": {"$nin": ["latest"]}}) == {"a:v0", "b:v0"}


def test_exists_takes_only_a_boolean(world: tuple[httpx.Client, str]) -> None:
    wheres = [
        (f"{REG}/collections", "tag"),
        (f"{REG}/versions", "metadata.f1"),
        (f"{REG}/collections/a/versions", "alias"),
    ]
    for operand in ["yes", "true", 1, 0, None, [True], {"$eq": True}]:
        for path, field in wheres:
            doc = json.dumps({field: {"$exists": operand}})
            refused = call(world[0], "GET", path, world[1], params={"filter": doc})
            assert refused.status_code == 422, refused.text
            message = refused.json()["error"]["message"]
            assert message == f"$exists on {field!r} takes true or false"


def test_registry_types_follow_the_same_rules(world: tuple[httpx.Client, str]) -> None:
    for name, types in (("ft-model", ["model", "dataset"]), ("ft-data", ["dataset"])):
        body = {"name": name, "artifact_types": types}
        _ok(call(world[0], "POST", f"{ORG}/registries", world[1], json=body), 201)

    def registries(doc: Any) -> set[str]:
        ours = {"name": {"$in": ["ft-model", "ft-data"]}}
        found = _every(*world, f"{ORG}/registries", {"$and": [doc, ours]})
        return {r["name"] for r in found}

    assert registries({"type": "model"}) == {"ft-model"}
    assert registries({"type": {"$ne": "model"}}) == {"ft-data"}
    assert registries({"type": {"$nin": ["model", "x"]}}) == {"ft-data"}
    assert registries({"type": {"$nin": ["dataset"]}}) == set()
    assert registries({"type": {"$not": {"$ne": "dataset"}}}) == {"ft-model", "ft-data"}
