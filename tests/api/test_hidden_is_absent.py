"""Hidden is absent: what a caller may not see answers exactly like what never existed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from tests.api import cast, registry_state, route_walk
from tests.api.hidden_registry import (
    ALIAS,
    ARTIFACT,
    COLLECTION,
    ENTITY,
    ORG,
    PROJECT,
    SECRET,
    add_member,
    create_registry,
    create_secret,
    create_team,
    link,
    registries_path,
    registry_route_values,
    route_id,
    same_answer,
    seed_source,
)
from tests.api.route_walk import Endpoint
from tests.conftest import MakeUser

pytestmark = pytest.mark.both_backends

REGISTRY_ROUTES = route_walk.registry_endpoints(route_walk.static_app())
ORG_ROUTES = [
    e for e in route_walk.endpoints(route_walk.static_app()) if e.path.startswith(cast.ORG_PATH)
]
# Ways to name the hidden registry: exact, other cases, W&B's project-style prefix.
NAME_FORMS = ("Secret", "secret", "SECRET", "wandb-registry-Secret")
LISTINGS: tuple[dict[str, str], ...] = (
    {},
    {"filter": json.dumps({"name": "Secret"})},
    {"filter": json.dumps({"name": {"$regex": "Sec"}})},
    {"filter": json.dumps({"name": {"$in": ["Secret", "Models"]}})},
    {"filter": json.dumps({"description": {"$regex": "top"}})},
    {"filter": json.dumps({"$or": [{"name": "Secret"}, {"name": {"$ne": "x"}}]})},
    {"order": "-name"},
    {"order": "created_at"},
    {"order": "-updated_at", "per_page": "1"},
    {"per_page": "1"},
    {"per_page": "2"},
)
FILTERS_THAT_MATCH_SECRET = LISTINGS[1:6]
VERSION_SEARCHES: tuple[dict[str, str], ...] = (
    {},
    {"filter": json.dumps({"registry": "Secret"})},
    {"filter": json.dumps({"collection": COLLECTION})},
    {"filter": json.dumps({"alias": ALIAS})},
    {"filter": json.dumps({"type": "model"})},
    {"per_page": "1"},
)
REFERENCES = (
    f"{ORG}/Secret/{COLLECTION}:v0",
    f"Secret/{COLLECTION}:{ALIAS}",
    f"Secret/{COLLECTION}",
)


# --- a hidden registry on every registry route ---


def test_hidden_registry_answers_exactly_like_one_that_never_existed(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    mallory = make_user("mallory")
    make_user("bob")
    seed_source(app_client, admin_key)
    assert len(REGISTRY_ROUTES) >= 7, "the walker found too few registry routes"

    def ask(route: Endpoint, name: str) -> httpx.Response:
        path = cast.fill(route.path, **registry_route_values(name))
        return cast.send(
            app_client, route.method, path, mallory, **route_walk.sample_request(route)
        )

    asked = [(route, form) for route in REGISTRY_ROUTES for form in NAME_FORMS]
    never = {(r.key, form): ask(r, form) for r, form in asked}
    problems = [
        f"{route_id(r)} as {form!r}: {never[r.key, form].status_code} {never[r.key, form].text}"
        for r, form in asked
        if never[r.key, form].status_code != 404
        or cast.error_code(never[r.key, form]) != "not_found"
    ]
    assert not problems, "\n".join(problems)

    create_secret(app_client, admin_key)
    before = registry_state.snapshot(app_client, admin_key, ORG, SECRET)
    for route, form in asked:
        problem = same_answer(ask(route, form), never[route.key, form])
        if problem:
            problems.append(f"{route_id(route)} as {form!r}: {problem}")
    # Against a name that never existed, the answers differ by the name and nothing else.
    absent_name = "Never-created registry"
    for route in REGISTRY_ROUTES:
        hidden, absent = ask(route, SECRET), ask(route, absent_name)
        if absent.text.replace(absent_name, SECRET) != hidden.text:
            problems.append(f"{route_id(route)}: {hidden.text} vs {absent.text}")
        for resp in (hidden, absent):
            assert resp.headers["content-length"] == str(len(resp.content))
        strip = {"content-length"}
        if {k: v for k, v in cast.comparable_headers(hidden).items() if k not in strip} != {
            k: v for k, v in cast.comparable_headers(absent).items() if k not in strip
        }:
            problems.append(f"{route_id(route)}: headers differ")
    assert not problems, "\n".join(problems)
    assert registry_state.snapshot(app_client, admin_key, ORG, SECRET) == before


# --- listings, filters, searches, references and pages ---


def all_pages(
    client: httpx.Client, key: str, query: dict[str, str], path: str | None = None
) -> list[Any]:
    """Every page of a listing, following next_cursor."""
    pages: list[Any] = []
    params = dict(query)
    while True:
        resp = cast.send(client, "GET", path or registries_path(), key, params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        pages.append(page)
        if page["next_cursor"] is None:
            return pages
        assert len(pages) < 20, "paging does not end"
        params = {**query, "cursor": page["next_cursor"]}


def names_in(pages: list[Any]) -> list[str]:
    return [r["name"] for page in pages for r in page["items"]]


def test_hidden_registry_is_never_listed_matched_or_counted(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    mallory = make_user("mallory")
    bob = make_user("bob")
    never = [all_pages(app_client, mallory, q) for q in LISTINGS]
    create_secret_without_links(app_client, admin_key)
    hidden = [all_pages(app_client, mallory, q) for q in LISTINGS]
    for query, before, after in zip(LISTINGS, never, hidden, strict=True):
        assert after == before, f"listing {query} changed when a hidden registry appeared"
        assert SECRET not in names_in(after)
    one_per_page = hidden[LISTINGS.index({"per_page": "1"})]
    assert names_in(one_per_page) == ["Datasets", "Models"]
    assert len(one_per_page) == 2
    two_per_page = hidden[LISTINGS.index({"per_page": "2"})]
    assert len(two_per_page) == 1, "the hidden registry counted towards a next page"
    # The control: the same queries find the registry for callers who may see it.
    for key in (admin_key, bob):
        for query in FILTERS_THAT_MATCH_SECRET:
            assert SECRET in names_in(all_pages(app_client, key, query)), query
        assert len(all_pages(app_client, key, {"per_page": "2"})) == 2


def create_secret_without_links(client: httpx.Client, admin_key: str) -> None:
    create_registry(client, admin_key, SECRET)
    add_member(client, admin_key, SECRET, "bob")


def test_hidden_versions_are_never_searched_or_resolved(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    mallory = make_user("mallory")
    bob = make_user("bob")
    seed_source(app_client, admin_key)
    versions = cast.fill(f"{cast.ORG_PATH}/versions", org=ORG)
    resolve = f"{API_PREFIX}/resolve"

    def look() -> tuple[list[list[Any]], list[httpx.Response]]:
        found = [all_pages(app_client, mallory, q, versions) for q in VERSION_SEARCHES]
        resolved = [
            cast.send(app_client, "GET", resolve, mallory, params={"ref": r, "org": ORG})
            for r in REFERENCES
        ]
        return found, resolved

    never_found, never_resolved = look()
    create_secret(app_client, admin_key)
    found, resolved = look()
    assert found == never_found, "a hidden registry's versions showed in a search"
    for ref, got, want in zip(REFERENCES, resolved, never_resolved, strict=True):
        assert got.status_code == 404, (ref, got.text)
        assert same_answer(got, want) is None, (ref, same_answer(got, want))
    # The control: a member finds and resolves them.
    assert [v["registry"] for v in all_pages(app_client, bob, {}, versions)[0]["items"]] == [SECRET]
    for ref in REFERENCES:
        got = cast.send(app_client, "GET", resolve, bob, params={"ref": ref, "org": ORG})
        assert got.status_code == 200, (ref, got.text)


# --- another organization: the org and everything in it ---


def org_route_values(org: str) -> dict[str, str]:
    return {
        **registry_route_values("Models"),
        "org": org,
        "team": f"{org}-team",
        "username": "admin",
        "name": "admin",
    }


def test_member_of_another_org_sees_nothing_of_the_org(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    outsider = make_user("outsider")  # a member of `default` only
    seed_source(app_client, admin_key)  # so the sample link body names a version they can read
    assert len(ORG_ROUTES) > 10, "the census walker found too few organization routes"

    def ask(route: Endpoint) -> httpx.Response:
        path = cast.fill(route.path, **org_route_values("acme"))
        return cast.send(
            app_client, route.method, path, outsider, **route_walk.sample_request(route)
        )

    never = {route: ask(route) for route in ORG_ROUTES}
    made = cast.send(app_client, "POST", f"{API_PREFIX}/orgs", admin_key, json={"name": "acme"})
    assert made.status_code == 201, made.text
    create_team(app_client, admin_key, "acme-team", org="acme")
    create_registry(app_client, admin_key, SECRET, org="acme")
    source = f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0"
    linked = link(app_client, admin_key, "Models", source, COLLECTION, (ALIAS,), org="acme")
    assert linked.status_code == 201, linked.text
    before = registry_state.snapshot(app_client, admin_key, "acme", "Models")
    team_path = cast.fill(f"{cast.ORG_PATH}/teams/{{team}}", org="acme", team="acme-team")
    team = cast.send(app_client, "GET", team_path, admin_key).json()

    problems = []
    for route in ORG_ROUTES:
        existing = ask(route)
        if never[route].status_code != 404 or cast.error_code(never[route]) != "not_found":
            problems.append(f"{route_id(route)}: {never[route].status_code} {never[route].text}")
        elif problem := same_answer(existing, never[route]):
            problems.append(f"{route_id(route)}: {problem}")
    assert not problems, "\n".join(problems)
    assert registry_state.snapshot(app_client, admin_key, "acme", "Models") == before
    assert cast.send(app_client, "GET", team_path, admin_key).json() == team
    orgs = cast.send(app_client, "GET", f"{API_PREFIX}/orgs", outsider).json()
    assert [o["name"] for o in orgs] == [ORG]
