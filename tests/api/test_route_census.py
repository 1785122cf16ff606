"""Route census: every route is declared public or guarded, and guarded ones refuse strangers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cairn.server.api.routing import API_PREFIX, PUBLIC_ROUTES
from cairn.server.db.models import ApiKey, WebSession
from cairn.server.http.identity import SESSION_COOKIE, principal
from cairn.server.services import accounts, keys, web_sessions
from tests.api import cast, route_walk
from tests.api.module_world import World, open_world
from tests.api.route_walk import Endpoint

ENDPOINTS = route_walk.endpoints(route_walk.static_app())
PRIVATE = [e for e in ENDPOINTS if e.key not in PUBLIC_ROUTES]
# API routes answer strangers 401; web pages (guarded by the session) send them to sign in.
GUARDED = [e for e in PRIVATE if not route_walk.depends_on_session(e.dependant)]
WEB_GUARDED = [e for e in PRIVATE if route_walk.depends_on_session(e.dependant)]
TEAM, PROJECT, ARTIFACT, COLLECTION, ALIAS = "census-team", "p", "a", "c", "staging"
PAYLOAD = b"census bytes"
# What a stranger presents: nothing, a key never issued, junk, and malformed headers.
CREDENTIALS: dict[str, dict[str, str]] = {
    "anonymous": {},
    "unknown_key": {"Authorization": f"Bearer {cast.UNKNOWN_KEY}"},
    "garbage_key": {"Authorization": f"Bearer {cast.GARBAGE_KEY}"},
    "empty_bearer": {"Authorization": "Bearer "},
    "basic_scheme": {"Authorization": "Basic YWRtaW46Y29ycmVjdC1ob3JzZS1iYXR0ZXJ5"},
}


def describe(e: Endpoint) -> str:
    return f"{e.method} {e.path}"


def test_every_route_is_declared_public_or_depends_on_the_principal(app: FastAPI) -> None:
    found = route_walk.endpoints(app)
    unclassified = [
        describe(e)
        for e in found
        if e.key not in PUBLIC_ROUTES and not route_walk.depends_on_principal(e.dependant)
    ]
    assert not unclassified, f"routes neither public nor guarded: {unclassified}"


def test_public_routes_has_no_stale_or_guarded_entry(app: FastAPI) -> None:
    found = {e.key: e for e in route_walk.endpoints(app)}
    stale = sorted(PUBLIC_ROUTES - set(found))
    assert not stale, f"PUBLIC_ROUTES names routes the app does not have: {stale}"
    both = sorted(k for k in PUBLIC_ROUTES if route_walk.depends_on_principal(found[k].dependant))
    assert not both, f"declared public but guarded (classify once): {both}"


def test_census_sees_every_mount_and_every_documented_operation(app: FastAPI) -> None:
    found = {e.key for e in route_walk.endpoints(app)}
    assert {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", f"{API_PREFIX}/health")} <= found
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented, "the OpenAPI document lists no operation"
    missing = sorted(documented - found)
    assert not missing, f"operations the census walker missed: {missing}"
    assert {e.key for e in ENDPOINTS} == found, "collected parameters differ from the app"


def test_every_route_with_a_body_has_a_valid_sample() -> None:
    for e in ENDPOINTS:
        if e.path.startswith(API_PREFIX):  # web pages take forms, sampled by their own test
            route_walk.sample_request(e)  # fails naming a JSON route without a sample body


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, dict[str, str]]]:
    """One database for the module, holding a real object for every path parameter."""
    folder = tmp_path_factory.mktemp("census")
    with open_world("sqlite", folder, request) as w:
        with w.state.writers() as s, s.begin():
            cast.new_team(s, TEAM, {})  # `admin` creates it and is its admin
            spare, _ = keys.create(s, None, accounts.get_user(s, "admin"), "spare")
        cast.log_artifact(w.client, w.admin_key, TEAM, PROJECT, ARTIFACT, PAYLOAD)
        path = cast.fill(
            f"{cast.REGISTRY_PATH}/collections/{{collection}}/versions",
            org="default",
            registry="Models",
            collection=COLLECTION,
        )
        body = {"source": f"{TEAM}/{PROJECT}/{ARTIFACT}:v0", "aliases": [ALIAS]}
        linked = cast.send(w.client, "POST", path, w.admin_key, json=body)
        assert linked.status_code == 201, linked.text
        values = {
            "org": "default",
            "registry": "Models",
            "team": TEAM,
            "username": "admin",
            "key_id": str(spare.id),
            "kind": "user",
            "collection": COLLECTION,
            "version": "v0",
            "alias": ALIAS,
            "sha256": cast.sha256_of(PAYLOAD),
            "entity": TEAM,
            "project": PROJECT,
            "upload": "0" * 32,
        }
        yield w, values


def plausible_path(route: Endpoint, values: dict[str, str]) -> str:
    """The route's path naming real objects, so a 401 cannot come from a missing one."""
    name = ARTIFACT if "/artifacts/{name}" in route.path else "admin"
    return cast.fill(route.path, **values, name=name)


@pytest.mark.parametrize("route", GUARDED, ids=describe)
def test_guarded_route_refuses_strangers_with_401(
    route: Endpoint, world: tuple[World, dict[str, str]]
) -> None:
    w, values = world
    path = plausible_path(route, values)
    sample = route_walk.sample_request(route)
    attempts = [(label, headers, sample) for label, headers in CREDENTIALS.items()]
    if "json" in sample:  # authentication comes before the body is looked at
        attempts.append(("anonymous_empty_body", {}, {"json": {}}))
    for label, headers, kwargs in attempts:
        if "content" in kwargs:
            headers = {**headers, "Content-Type": kwargs["content_type"]}
            kwargs = {"content": kwargs["content"]}
        resp = w.client.request(route.method, path, headers=headers, **kwargs)
        assert resp.status_code == 401, f"{label}: {resp.status_code} {resp.text}"
        assert cast.error_code(resp) == "authentication_error", label
        assert resp.headers.get("www-authenticate") == "Bearer", label
        assert resp.headers.get("content-type") == "application/json", label
    # The same request with a valid key is not refused, so the 401s above are about the key.
    resp = cast.send(w.client, route.method, path, w.admin_key, **sample)
    assert resp.status_code != 401, resp.text


def test_every_guarded_route_has_plausible_path_values(
    world: tuple[World, dict[str, str]],
) -> None:
    known = {*world[1], "name"}
    unknown = sorted({p for e in PRIVATE for p in cast.path_params(e.path)} - known)
    assert not unknown, f"add plausible values for path parameters {unknown}"


def test_spare_key_is_the_one_in_the_paths(world: tuple[World, dict[str, str]]) -> None:
    w, values = world
    with w.state.readers() as s:
        name = s.scalar(select(ApiKey.name).where(ApiKey.id == int(values["key_id"])))
    assert name == "spare", "the key_id path value must not be the admin's working key"


def test_web_pages_are_guarded_by_the_session_only() -> None:
    assert WEB_GUARDED, "the census finds the web pages"
    both = [describe(e) for e in WEB_GUARDED if route_walk.depends_on(e.dependant, principal)]
    assert not both, f"web pages must not accept API keys: {both}"


def open_session(w: World) -> tuple[str, str]:
    """(cookie token, CSRF token) of a fresh web session of `admin`."""
    with w.state.writers() as s, s.begin():
        token = web_sessions.open_session(s, accounts.get_user(s, "admin"), None)
    with w.state.readers() as s:
        csrf = s.scalar(select(WebSession.csrf_secret).order_by(WebSession.id.desc()).limit(1))
    assert csrf is not None
    return token, csrf


@pytest.mark.parametrize("route", WEB_GUARDED, ids=describe)
def test_web_page_sends_strangers_to_sign_in(
    route: Endpoint, world: tuple[World, dict[str, str]]
) -> None:
    w, values = world
    path = plausible_path(route, values)
    strangers = {
        "anonymous": {},
        "unknown_session": {"Cookie": f"{SESSION_COOKIE}={'s' * 43}"},
        "api_key_as_bearer": {"Authorization": f"Bearer {w.admin_key}"},
        "api_key_as_cookie": {"Cookie": f"{SESSION_COOKIE}={w.admin_key}"},
    }
    w.client.cookies.clear()
    for label, headers in strangers.items():
        resp = w.client.request(route.method, path, headers=headers, follow_redirects=False)
        assert resp.status_code == 303, f"{label}: {resp.status_code} {resp.text[:300]}"
        location = resp.headers["location"]
        assert location.startswith("/login"), label
        if route.method == "GET":
            assert location.startswith("/login?next=%2F"), label
    token, csrf = open_session(w)
    signed_in = {"Cookie": f"{SESSION_COOKIE}={token}"}
    if route.method == "POST":  # a state-changing page: the CSRF token and the origin count
        refused = [
            ("no_token", signed_in, {}),
            ("wrong_token", signed_in, {"csrf_token": "x" * 43}),
            ("cross_site", {**signed_in, "Sec-Fetch-Site": "cross-site"}, {"csrf_token": csrf}),
            ("foreign_origin", {**signed_in, "Origin": "http://evil.test"}, {"csrf_token": csrf}),
        ]
        for label, headers, form in refused:
            resp = w.client.post(path, headers=headers, data=form, follow_redirects=False)
            assert resp.status_code == 403, f"{label}: {resp.status_code} {resp.text[:300]}"
    data = {"csrf_token": csrf} if route.method == "POST" else None
    resp = w.client.request(
        route.method, path, headers=signed_in, data=data, follow_redirects=False
    )
    assert resp.status_code < 500, resp.text[:500]
    if route.path == "/logout":  # the one page whose success is going to sign in
        assert f'{SESSION_COOKIE}=""' in resp.headers["set-cookie"]
    else:
        assert not resp.headers.get("location", "").startswith("/login"), "a live session counts"
