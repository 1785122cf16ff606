"""Hidden is absent: what a caller may not see answers exactly like what never existed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from cairn.server.http.deps import AppState
from cairn.server.services import accounts
from tests.api import cast
from tests.api.cast import Endpoint, JsonBody
from tests.conftest import MakeUser

pytestmark = pytest.mark.both_backends

ORG = "default"
SECRET = "Secret"
REGISTRY_ROUTES = cast.registry_endpoints(cast.static_app())
ORG_ROUTES = [e for e in cast.endpoints(cast.static_app()) if e.path.startswith(cast.ORG_PATH)]
# The logged version the hidden registry links (readable by every org member), as the
# sample link body names it.
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
PAYLOAD = b"secret weights"
COLLECTION, ALIAS = "c", "staging"
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


def route_id(e: Endpoint) -> str:
    return f"{e.method} {e.path.removeprefix(API_PREFIX)}"


def registries_path(org: str = ORG) -> str:
    return cast.fill(f"{cast.ORG_PATH}/registries", org=org)


def create_registry(
    client: httpx.Client, key: str, name: str, org: str = ORG, visibility: str = "restricted"
) -> None:
    body = {"name": name, "visibility": visibility, "description": "top secret"}
    made = cast.send(client, "POST", registries_path(org), key, json=body)
    assert made.status_code == 201, made.text


def add_member(
    client: httpx.Client, key: str, registry: str, member: str, kind: str = "user", org: str = ORG
) -> None:
    path = cast.fill(f"{cast.REGISTRY_PATH}/members", org=org, registry=registry)
    body = {"members": [{"member": member, "kind": kind, "role": "viewer"}]}
    added = cast.send(client, "POST", path, key, json=body)
    assert added.status_code == 201, added.text


def create_team(client: httpx.Client, key: str, name: str, org: str = ORG) -> None:
    path = cast.fill(f"{cast.ORG_PATH}/teams", org=org)
    made = cast.send(client, "POST", path, key, json={"name": name})
    assert made.status_code == 201, made.text


def link(
    client: httpx.Client,
    key: str,
    registry: str,
    source: str,
    collection: str = COLLECTION,
    aliases: tuple[str, ...] = (),
    org: str = ORG,
) -> httpx.Response:
    path = cast.fill(
        f"{cast.REGISTRY_PATH}/collections/{{collection}}/versions",
        org=org,
        registry=registry,
        collection=collection,
    )
    return cast.send(client, "POST", path, key, json={"source": source, "aliases": list(aliases)})


def seed_source(client: httpx.Client, admin_key: str) -> None:
    """Team `ml` and its logged `models/clf:v0`, which every org member can read."""
    create_team(client, admin_key, ENTITY)
    cast.log_artifact(client, admin_key, ENTITY, PROJECT, ARTIFACT, PAYLOAD)


def create_secret(client: httpx.Client, admin_key: str) -> None:
    """The hidden registry: restricted, `bob` invited, collection `c` with v0 `staging`."""
    create_registry(client, admin_key, SECRET)
    add_member(client, admin_key, SECRET, "bob")
    made = link(client, admin_key, SECRET, f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0", aliases=(ALIAS,))
    assert made.status_code == 201, made.text


def registry_route_values(registry: str) -> dict[str, str]:
    return {
        "org": ORG,
        "registry": registry,
        "kind": "user",
        "name": "bob",
        "collection": COLLECTION,
        "version": "v0",
        "alias": ALIAS,
        "sha256": cast.sha256_of(PAYLOAD),
    }


def same_answer(got: httpx.Response, want: httpx.Response) -> str | None:
    """None when the two answers are identical (but for the date), else what differs."""
    if got.status_code != want.status_code:
        return f"status {got.status_code} != {want.status_code}: {got.text}"
    if got.content != want.content:
        return f"body {got.text} != {want.text}"
    if cast.comparable_headers(got) != cast.comparable_headers(want):
        return f"headers {cast.comparable_headers(got)} != {cast.comparable_headers(want)}"
    return None


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
        return cast.send(app_client, route.method, path, mallory, **cast.sample_request(route))

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
    before = cast.snapshot(app_client, admin_key, ORG, SECRET)
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
    assert cast.snapshot(app_client, admin_key, ORG, SECRET) == before


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
        return cast.send(app_client, route.method, path, outsider, **cast.sample_request(route))

    never = {route: ask(route) for route in ORG_ROUTES}
    made = cast.send(app_client, "POST", f"{API_PREFIX}/orgs", admin_key, json={"name": "acme"})
    assert made.status_code == 201, made.text
    create_team(app_client, admin_key, "acme-team", org="acme")
    create_registry(app_client, admin_key, SECRET, org="acme")
    source = f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0"
    linked = link(app_client, admin_key, "Models", source, COLLECTION, (ALIAS,), org="acme")
    assert linked.status_code == 201, linked.text
    before = cast.snapshot(app_client, admin_key, "acme", "Models")
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
    assert cast.snapshot(app_client, admin_key, "acme", "Models") == before
    assert cast.send(app_client, "GET", team_path, admin_key).json() == team
    orgs = cast.send(app_client, "GET", f"{API_PREFIX}/orgs", outsider).json()
    assert [o["name"] for o in orgs] == [ORG]


# --- IDOR: children addressed through the wrong parent ---


def member_path(registry: str, kind: str, name: str, org: str = ORG) -> str:
    return cast.fill(
        f"{cast.REGISTRY_PATH}/members/{{kind}}/{{name}}",
        org=org,
        registry=registry,
        kind=kind,
        name=name,
    )


@pytest.mark.parametrize(
    ("method", "body"), [("PATCH", {"role": "admin"}), ("DELETE", None)], ids=["PATCH", "DELETE"]
)
def test_registry_admin_cannot_touch_another_registrys_members_through_own_path(
    method: str,
    body: JsonBody | None,
    app_client: httpx.Client,
    admin_key: str,
    make_user: MakeUser,
) -> None:
    alice = make_user("alice")
    make_user("bob", email="bob@example.com")
    make_user("eve")  # a member of no registry; as long a name as bob
    create_registry(app_client, alice, "Alpha")  # alice is its admin
    create_registry(app_client, admin_key, "Beta")
    create_team(app_client, admin_key, "beta-team")
    create_team(app_client, admin_key, "idle-team")  # in no registry; as long as beta-team
    add_member(app_client, admin_key, "Beta", "bob")
    add_member(app_client, admin_key, "Beta", "beta-team", kind="team")
    alpha = cast.snapshot(app_client, admin_key, ORG, "Alpha")
    beta = cast.snapshot(app_client, admin_key, ORG, "Beta")
    assert beta.members is not None
    assert {m["name"] for m in beta.members} >= {"bob", "beta-team"}

    for kind, victim, nobody in (
        ("user", "bob", "eve"),
        ("user", "bob@example.com", "eve@example.com"),
        ("team", "beta-team", "idle-team"),
    ):
        resp = cast.send(app_client, method, member_path("Alpha", kind, victim), alice, json=body)
        assert resp.status_code == 404, (victim, resp.text)
        assert cast.error_code(resp) == "not_found"
        twin = cast.send(app_client, method, member_path("Alpha", kind, nobody), alice, json=body)
        assert twin.text.replace(nobody, victim) == resp.text
    assert cast.snapshot(app_client, admin_key, ORG, "Beta") == beta
    assert cast.snapshot(app_client, admin_key, ORG, "Alpha") == alpha


def test_registry_children_are_found_only_through_their_own_registry(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    seed_source(app_client, admin_key)
    other_bytes = b"only in beta"
    cast.log_artifact(app_client, admin_key, ENTITY, PROJECT, "beta-only", other_bytes)
    create_registry(app_client, alice, "Alpha")  # alice is its admin
    create_registry(app_client, admin_key, "Beta")
    source = f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0"
    assert link(app_client, alice, "Alpha", source, "shared-name").status_code == 201
    assert link(app_client, admin_key, "Beta", source, "beta-coll", (ALIAS,)).status_code == 201
    beta_only = f"{ENTITY}/{PROJECT}/beta-only:v0"
    assert link(app_client, admin_key, "Beta", beta_only, "shared-name").status_code == 201
    beta = cast.snapshot(app_client, admin_key, ORG, "Beta")

    def on_alpha(method: str, tail: str, body: JsonBody | None = None) -> httpx.Response:
        path = cast.fill(cast.REGISTRY_PATH, org=ORG, registry="Alpha") + tail
        return cast.send(app_client, method, path, alice, json=body)

    refused = {
        "Beta's collection by name": on_alpha("GET", "/collections/beta-coll"),
        "Beta's collection renamed": on_alpha(
            "PATCH", "/collections/beta-coll", {"name": "stolen"}
        ),
        "Beta's collection deleted": on_alpha("DELETE", "/collections/beta-coll"),
        "Beta's alias moved": on_alpha(
            "PUT", f"/collections/beta-coll/aliases/{ALIAS}", {"version": "v0"}
        ),
        "Beta's alias removed": on_alpha("DELETE", f"/collections/beta-coll/aliases/{ALIAS}"),
        "Beta's version unlinked": on_alpha("DELETE", "/collections/beta-coll/versions/v0"),
        "Beta's file by digest": on_alpha(
            "GET", f"/collections/shared-name/versions/v0/files/{cast.sha256_of(other_bytes)}"
        ),
        "Beta's file in a batch": on_alpha(
            "POST",
            "/collections/shared-name/versions/v0/files/batch",
            {"sha256": [cast.sha256_of(PAYLOAD), cast.sha256_of(other_bytes)]},
        ),
    }
    wrong = {k: f"{r.status_code} {r.text}" for k, r in refused.items() if r.status_code != 404}
    assert not wrong, f"reached through Alpha: {wrong}"
    assert cast.snapshot(app_client, admin_key, ORG, "Beta") == beta
    beta_versions = cast.fill(f"{cast.REGISTRY_PATH}/versions", org=ORG, registry="Beta")
    items = cast.send(app_client, "GET", beta_versions, admin_key).json()["items"]
    assert sorted((v["collection"], v["version"]) for v in items) == [
        ("beta-coll", "v0"),
        ("shared-name", "v0"),
    ]


def test_link_cannot_name_a_version_the_caller_cannot_read(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    cast.log_artifact(app_client, bob, "bob", "private", "secret-model", b"bob's own")
    create_registry(app_client, alice, "Alpha")  # alice is its admin
    before = cast.snapshot(app_client, admin_key, ORG, "Alpha")
    stolen = link(app_client, alice, "Alpha", "bob/private/secret-model:v0")
    missing = link(app_client, alice, "Alpha", "bob/private/never-logged:v0")
    assert stolen.status_code == 404, stolen.text
    assert stolen.text == missing.text.replace("never-logged", "secret-model")
    assert cast.snapshot(app_client, admin_key, ORG, "Alpha") == before
    versions = cast.fill(f"{cast.REGISTRY_PATH}/versions", org=ORG, registry="Alpha")
    assert cast.send(app_client, "GET", versions, admin_key).json()["items"] == []


def test_blob_presence_is_never_revealed_to_other_uploaders(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    payload = b"bob uploaded this first"
    digest = cast.sha256_of(payload)
    put = cast.send(app_client, "PUT", f"{API_PREFIX}/blobs/{digest}", bob, content=payload)
    assert put.status_code == 201, put.text
    ask = {"blobs": [{"sha256": digest, "size": len(payload)}]}
    missing = f"{API_PREFIX}/blobs/missing"
    assert cast.send(app_client, "POST", missing, bob, json=ask).json() == {"missing": []}
    assert cast.send(app_client, "POST", missing, alice, json=ask).json() == {"missing": [digest]}
    logged = cast.send(
        app_client,
        "POST",
        f"{API_PREFIX}/projects/alice/p/artifacts",
        alice,
        json={
            "name": "a",
            "type": "model",
            "files": [{"path": "f", "sha256": digest, "size": len(payload)}],
        },
    )
    assert logged.status_code == 409, f"alice committed bytes she never sent: {logged.text}"


def test_registry_names_resolve_only_inside_the_org_in_the_path(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser, state: AppState
) -> None:
    made = cast.send(app_client, "POST", f"{API_PREFIX}/orgs", admin_key, json={"name": "other"})
    assert made.status_code == 201, made.text
    alice = make_user("alice")
    make_user("carol", org="other")  # only in `other`
    with state.writers() as s, s.begin():
        user = accounts.get_user(s, "alice")
        cast.add_to_org(s, user, "other")
    create_registry(app_client, alice, "Alpha")  # default/Alpha, alice admin
    create_registry(app_client, alice, "Gamma", org="other")  # other/Gamma, alice admin
    create_team(app_client, admin_key, "other-team", org="other")
    alpha = cast.snapshot(app_client, admin_key, ORG, "Alpha")
    gamma = cast.snapshot(app_client, admin_key, "other", "Gamma")

    def get(org: str, name: str) -> httpx.Response:
        path = cast.fill(cast.REGISTRY_PATH, org=org, registry=name)
        return cast.send(app_client, "GET", path, alice)

    assert get("other", "Gamma").status_code == 200
    assert get(ORG, "Alpha").status_code == 200
    for org, name, nobody in ((ORG, "Gamma", "Delta"), ("other", "Alpha", "Omega")):
        resp = get(org, name)
        assert resp.status_code == 404, resp.text
        assert get(org, nobody).text.replace(nobody, name) == resp.text
    # Members are resolved inside the registry's organization, whoever adds them.
    members = cast.fill(f"{cast.REGISTRY_PATH}/members", org=ORG, registry="Alpha")
    for member, kind, nobody in (("carol", "user", "zorro"), ("other-team", "team", "noneteam-x")):
        body = {"members": [{"member": member, "kind": kind}]}
        resp = cast.send(app_client, "POST", members, alice, json=body)
        assert resp.status_code == 404, resp.text
        body = {"members": [{"member": nobody, "kind": kind}]}
        twin = cast.send(app_client, "POST", members, alice, json=body)
        assert twin.text.replace(nobody, member) == resp.text
    resp = cast.send(
        app_client, "PATCH", member_path("Gamma", "user", "alice"), alice, json={"role": "viewer"}
    )
    assert resp.status_code == 404, resp.text
    assert cast.snapshot(app_client, admin_key, ORG, "Alpha") == alpha
    assert cast.snapshot(app_client, admin_key, "other", "Gamma") == gamma


def test_a_deleted_registrys_history_never_shows_in_a_new_one(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    """Numbers are never reused: a new registry starts with its own history only."""
    mallory = make_user("mallory")
    make_user("bob")
    seed_source(app_client, admin_key)
    create_registry(app_client, admin_key, "Payroll")  # restricted; mallory is not invited
    add_member(app_client, admin_key, "Payroll", "bob")
    made = link(app_client, admin_key, "Payroll", f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0")
    assert made.status_code == 201, made.text
    payroll = cast.fill(cast.REGISTRY_PATH, org=ORG, registry="Payroll")
    gone = cast.send(app_client, "DELETE", payroll, admin_key)
    assert gone.status_code == 204, gone.text

    create_registry(app_client, mallory, "Mine")
    assert link(app_client, mallory, "Mine", f"{ENTITY}/{PROJECT}/{ARTIFACT}:v0").status_code == 201
    mine = cast.fill(cast.REGISTRY_PATH, org=ORG, registry="Mine")
    leaked = []
    for tail in ("/history", f"/collections/{COLLECTION}/history"):
        events = cast.send(app_client, "GET", mine + tail, mallory).json()
        leaked += [(tail, e["action"], e["target_name"]) for e in events if "Mine" not in str(e)]
    assert not leaked, f"a deleted registry's events in a new one's history: {leaked}"
