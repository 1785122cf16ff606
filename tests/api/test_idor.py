"""IDOR: children addressed through the wrong parent answer like what never existed."""

from __future__ import annotations

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from cairn.server.http.deps import AppState
from cairn.server.services import accounts
from tests.api import cast, registry_state
from tests.api.cast import JsonBody
from tests.api.hidden_registry import (
    ALIAS,
    ARTIFACT,
    COLLECTION,
    ENTITY,
    ORG,
    PAYLOAD,
    PROJECT,
    add_member,
    create_registry,
    create_team,
    link,
    seed_source,
)
from tests.conftest import MakeUser

pytestmark = pytest.mark.both_backends


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
    alpha = registry_state.snapshot(app_client, admin_key, ORG, "Alpha")
    beta = registry_state.snapshot(app_client, admin_key, ORG, "Beta")
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
    assert registry_state.snapshot(app_client, admin_key, ORG, "Beta") == beta
    assert registry_state.snapshot(app_client, admin_key, ORG, "Alpha") == alpha


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
    beta = registry_state.snapshot(app_client, admin_key, ORG, "Beta")

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
    assert registry_state.snapshot(app_client, admin_key, ORG, "Beta") == beta
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
    before = registry_state.snapshot(app_client, admin_key, ORG, "Alpha")
    stolen = link(app_client, alice, "Alpha", "bob/private/secret-model:v0")
    missing = link(app_client, alice, "Alpha", "bob/private/never-logged:v0")
    assert stolen.status_code == 404, stolen.text
    assert stolen.text == missing.text.replace("never-logged", "secret-model")
    assert registry_state.snapshot(app_client, admin_key, ORG, "Alpha") == before
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
    alpha = registry_state.snapshot(app_client, admin_key, ORG, "Alpha")
    gamma = registry_state.snapshot(app_client, admin_key, "other", "Gamma")

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
    assert registry_state.snapshot(app_client, admin_key, ORG, "Alpha") == alpha
    assert registry_state.snapshot(app_client, admin_key, "other", "Gamma") == gamma


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
