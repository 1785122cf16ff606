"""Every registry rule of DESIGN §2, exercised through the JSON API on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import random
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from cairn.server.domain.names import name_key
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

ORG = "/orgs/default"
REGS = f"{ORG}/registries"
ROLES = ("restricted_viewer", "viewer", "member", "admin")
ORDERS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at")
CORE = {"Models", "Datasets"}


# --- helpers -------------------------------------------------------------------------------


def expect(resp: httpx.Response, status: int) -> Any:
    """The JSON body of `resp`, which must have `status`."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text}"
    )
    return resp.json() if resp.content else None


def error(resp: httpx.Response, status: int, code: str) -> str:
    """The message of an error answer with `status` and `code` in the standard shape."""
    body = expect(resp, status)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str)
    assert message
    return message


def reg(name: str) -> str:
    return f"{REGS}/{quote(name, safe='')}"


def create(client: httpx.Client, key: str, name: str, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = expect(
        call(client, "POST", REGS, key, json={"name": name, **body}), 201
    )
    return created


def get(client: httpx.Client, key: str, name: str) -> httpx.Response:
    return call(client, "GET", reg(name), key)


def patch(client: httpx.Client, key: str, registry: str, /, **body: Any) -> httpx.Response:
    return call(client, "PATCH", reg(registry), key, json=body)


def add(client: httpx.Client, key: str, name: str, *specs: dict[str, Any]) -> httpx.Response:
    return call(client, "POST", f"{reg(name)}/members", key, json={"members": list(specs)})


def members(client: httpx.Client, key: str, name: str) -> dict[tuple[str, str], str]:
    rows = expect(call(client, "GET", f"{reg(name)}/members", key), 200)
    return {(m["kind"], m["name"]): m["role"] for m in rows}


def role_of(client: httpx.Client, key: str, name: str) -> str | None:
    """The caller's effective role on registry `name`, or None when it answers 404."""
    resp = get(client, key, name)
    if resp.status_code == 404:
        error(resp, 404, "not_found")
        return None
    role: str = expect(resp, 200)["role"]
    return role


def page(client: httpx.Client, key: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = expect(call(client, "GET", REGS, key, params=params), 200)
    return body


def listed(client: httpx.Client, key: str, per_page: int = 1000, **params: Any) -> list[Any]:
    """Every registry the caller can see, following cursors."""
    items: list[Any] = []
    cursor = None
    for _ in range(1000):
        query = {**params, "per_page": per_page}
        if cursor:
            query["cursor"] = cursor
        body = page(client, key, **query)
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def listed_names(client: httpx.Client, key: str, **params: Any) -> set[str]:
    return {r["name"] for r in listed(client, key, **params)}


def team(client: httpx.Client, key: str, name: str, *people: tuple[str, str]) -> None:
    """Create team `name` as the holder of `key`, then add (username, role) members."""
    expect(call(client, "POST", f"{ORG}/teams", key, json={"name": name}), 201)
    for username, role in people:
        body = {"user": username, "role": role}
        expect(call(client, "POST", f"{ORG}/teams/{name}/members", key, json=body), 201)


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# --- creating -------------------------------------------------------------------------------


def test_create_like_the_wandb_docs_and_creator_becomes_admin(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    alice = make_user("alice")
    for visibility in ("restricted", "organization"):
        name = f"Fine-tuned {visibility}"
        body = {
            "name": name,
            "description": "Our best checkpoints",
            "visibility": visibility,
            "artifact_types": ["model", "checkpoint"],
        }
        made = expect(call(app_client, "POST", REGS, alice, json=body), 201)
        fetched = expect(get(app_client, alice, name), 200)
        for shown in (made, fetched):
            assert shown["name"] == name
            assert shown["full_name"] == f"default/{name}"
            assert shown["organization"] == "default"
            assert shown["description"] == "Our best checkpoints"
            assert shown["visibility"] == visibility
            assert shown["allow_all_artifact_types"] is False
            assert shown["artifact_types"] == ["checkpoint", "model"]
            assert shown["protected_aliases"] == []
            assert shown["owner_team"] is None
            assert shown["is_core"] is False
            assert shown["role"] == "admin"
        assert fetched["id"] == made["id"]
        assert name in listed_names(app_client, alice)
        # The creator is an explicit registry admin, whatever the visibility.
        assert members(app_client, alice, name) == {("user", "alice"): "admin"}
        assert members(app_client, admin_key, name) == {("user", "alice"): "admin"}
        expect(patch(app_client, alice, name, description="mine"), 200)
        expect(add(app_client, alice, name, {"member": "admin", "role": "viewer"}), 201)
    create(app_client, admin_key, "Ops", visibility="restricted")
    assert members(app_client, admin_key, "Ops") == {("user", "admin"): "admin"}


def test_no_or_empty_artifact_types_mean_all_types(
    app_client: httpx.Client, admin_key: str
) -> None:
    choices: list[Any] = ["absent", None, []]
    for i, types in enumerate(choices):
        body: dict[str, Any] = {"visibility": "organization"}
        if types != "absent":
            body["artifact_types"] = types
        made = create(app_client, admin_key, f"Anything {i}", **body)
        assert made["allow_all_artifact_types"] is True
        assert made["artifact_types"] == []
        assert made["description"] is None


def test_org_viewer_cannot_create_but_org_member_can(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    viewer = make_user("vic", role="viewer")
    member = make_user("mia", role="member")
    resp = call(app_client, "POST", REGS, viewer, json={"name": "Nope"})
    assert "viewer" in error(resp, 403, "permission_denied")
    assert "Nope" not in listed_names(app_client, admin_key)
    create(app_client, member, "Yes", visibility="restricted")
    assert "Yes" in listed_names(app_client, admin_key)


# --- visibility -----------------------------------------------------------------------------


def test_organization_visibility_lets_every_org_member_view_only(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    create(app_client, admin_key, "Shared", visibility="organization")
    member, viewer = make_user("bob"), make_user("vic", role="viewer")
    outsider = make_user("olga", role=None)
    for key in (member, viewer):
        assert role_of(app_client, key, "Shared") == "viewer"
        assert "Shared" in listed_names(app_client, key)
        assert members(app_client, key, "Shared") == {("user", "admin"): "admin"}
        error(patch(app_client, key, "Shared", description="x"), 403, "permission_denied")
        error(patch(app_client, key, "Shared", visibility="restricted"), 403, "permission_denied")
        error(add(app_client, key, "Shared", {"member": "bob"}), 403, "permission_denied")
        error(call(app_client, "DELETE", reg("Shared"), key), 403, "permission_denied")
    assert role_of(app_client, outsider, "Shared") is None
    after = expect(get(app_client, admin_key, "Shared"), 200)
    assert after["description"] is None
    assert after["visibility"] == "organization"


def test_restricted_visibility_only_members_and_org_admins(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    viewer = make_user("vic", role="viewer")
    create(app_client, alice, "Secret", visibility="restricted")
    for key in (bob, viewer):
        assert role_of(app_client, key, "Secret") is None
        assert "Secret" not in listed_names(app_client, key)
        error(call(app_client, "GET", f"{reg('Secret')}/members", key), 404, "not_found")
        error(patch(app_client, key, "Secret", visibility="organization"), 404, "not_found")
        error(call(app_client, "DELETE", reg("Secret"), key), 404, "not_found")
    assert role_of(app_client, admin_key, "Secret") == "admin"
    assert "Secret" in listed_names(app_client, admin_key)
    expect(add(app_client, alice, "Secret", {"member": "bob"}), 201)
    assert role_of(app_client, bob, "Secret") == "restricted_viewer"
    assert "Secret" in listed_names(app_client, bob)
    assert role_of(app_client, viewer, "Secret") is None


def test_who_may_change_visibility(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    create(app_client, alice, "Flip", visibility="restricted")
    assert role_of(app_client, bob, "Flip") is None
    flipped = expect(patch(app_client, alice, "Flip", visibility="organization"), 200)
    assert flipped["visibility"] == "organization"
    assert role_of(app_client, bob, "Flip") == "viewer"
    flipped = expect(patch(app_client, admin_key, "Flip", visibility="restricted"), 200)
    assert flipped["visibility"] == "restricted"
    assert role_of(app_client, bob, "Flip") is None
    expect(add(app_client, alice, "Flip", {"member": "bob"}), 201)
    for role in ("restricted_viewer", "viewer", "member"):
        body = {"role": role}
        expect(call(app_client, "PATCH", f"{reg('Flip')}/members/user/bob", alice, json=body), 200)
        resp = patch(app_client, bob, "Flip", visibility="organization")
        assert role in error(resp, 403, "permission_denied")
    assert expect(get(app_client, alice, "Flip"), 200)["visibility"] == "restricted"


def test_owning_team_admin_changes_visibility(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    alice, carol, dave = make_user("alice"), make_user("carol"), make_user("dave")
    team(app_client, carol, "vision", ("dave", "member"))
    create(app_client, alice, "Owned", visibility="restricted")
    assert role_of(app_client, carol, "Owned") is None
    error(patch(app_client, carol, "Owned", visibility="organization"), 404, "not_found")
    made = expect(patch(app_client, alice, "Owned", owner_team="vision"), 200)
    assert made["owner_team"] == "vision"
    assert role_of(app_client, carol, "Owned") == "admin"
    assert role_of(app_client, dave, "Owned") is None, "only the owning team's admins"
    changed = expect(patch(app_client, carol, "Owned", visibility="organization"), 200)
    assert changed["visibility"] == "organization"
    assert role_of(app_client, dave, "Owned") == "viewer"
    expect(patch(app_client, carol, "Owned", visibility="restricted"), 200)
    expect(patch(app_client, alice, "Owned", owner_team=None), 200)
    assert role_of(app_client, carol, "Owned") is None
    # The owning team can also be named at creation.
    made = create(app_client, alice, "Born owned", visibility="restricted", owner_team="VISION")
    assert made["owner_team"] == "vision"
    expect(patch(app_client, carol, "Born owned", visibility="organization"), 200)
    resp = call(app_client, "POST", REGS, alice, json={"name": "X", "owner_team": "nobody"})
    assert "nobody" in error(resp, 404, "not_found")


def test_unknown_visibility_is_422_listing_the_valid_values(
    app_client: httpx.Client, admin_key: str
) -> None:
    for bad in ("public", "private", "Restricted", ""):
        resp = call(app_client, "POST", REGS, admin_key, json={"name": "V", "visibility": bad})
        message = error(resp, 422, "validation_error")
        assert "restricted" in message
        assert "organization" in message
    create(app_client, admin_key, "V", visibility="restricted")
    message = error(patch(app_client, admin_key, "V", visibility="public"), 422, "validation_error")
    assert "restricted" in message
    assert "organization" in message
    assert expect(get(app_client, admin_key, "V"), 200)["visibility"] == "restricted"


# --- accepted types -------------------------------------------------------------------------


def test_accepted_types_are_append_only(app_client: httpx.Client, admin_key: str) -> None:
    create(app_client, admin_key, "Typed", artifact_types=["model"])
    grown = expect(patch(app_client, admin_key, "Typed", artifact_types=["model", "dataset"]), 200)
    assert grown["artifact_types"] == ["dataset", "model"]
    assert grown["allow_all_artifact_types"] is False
    for smaller in (["dataset"], ["dataset", "checkpoint"], []):
        resp = patch(app_client, admin_key, "Typed", artifact_types=smaller)
        message = error(resp, 409, "conflict")
        assert "model" in message
        assert "removed" in message.lower()
    resp = patch(app_client, admin_key, "Typed", artifact_types=["other"])
    message = error(resp, 409, "conflict")
    assert "dataset" in message
    assert "model" in message
    shown = expect(get(app_client, admin_key, "Typed"), 200)
    assert shown["artifact_types"] == ["dataset", "model"]
    # Switching "all types" on keeps the saved list; switching it off again limits the
    # registry to exactly that list, so no saved type is ever lost (docs/api.md).
    opened = expect(patch(app_client, admin_key, "Typed", allow_all_artifact_types=True), 200)
    assert opened["allow_all_artifact_types"] is True
    assert opened["artifact_types"] == ["dataset", "model"]
    limited = expect(patch(app_client, admin_key, "Typed", allow_all_artifact_types=False), 200)
    assert limited["allow_all_artifact_types"] is False
    assert limited["artifact_types"] == ["dataset", "model"]


def test_an_all_types_registry_is_limited_only_to_its_saved_types(
    app_client: httpx.Client, admin_key: str
) -> None:
    create(app_client, admin_key, "All")
    resp = patch(app_client, admin_key, "All", allow_all_artifact_types=False)
    assert "type" in error(resp, 409, "conflict")
    assert expect(get(app_client, admin_key, "All"), 200)["allow_all_artifact_types"] is True
    saved = expect(patch(app_client, admin_key, "All", artifact_types=["model"]), 200)
    assert saved["allow_all_artifact_types"] is True
    assert saved["artifact_types"] == ["model"]
    body = {"allow_all_artifact_types": False, "artifact_types": ["model", "dataset"]}
    limited = expect(call(app_client, "PATCH", reg("All"), admin_key, json=body), 200)
    assert limited["allow_all_artifact_types"] is False
    assert limited["artifact_types"] == ["dataset", "model"]
    resp = patch(app_client, admin_key, "All", artifact_types=["dataset"])
    assert "model" in error(resp, 409, "conflict")
    assert expect(get(app_client, admin_key, "All"), 200)["artifact_types"] == ["dataset", "model"]


# --- core registries ------------------------------------------------------------------------


def test_core_registries(app_client: httpx.Client, admin_key: str, make_user: MakeUser) -> None:
    bob = make_user("bob")
    for name, accepted in (("Models", "model"), ("Datasets", "dataset")):
        shown = expect(get(app_client, admin_key, name), 200)
        assert shown["is_core"] is True
        assert shown["visibility"] == "organization"
        assert shown["artifact_types"] == [accepted]
        assert role_of(app_client, bob, name) == "viewer"
        error(call(app_client, "DELETE", reg(name), admin_key), 409, "conflict")
        error(patch(app_client, admin_key, name, visibility="restricted"), 409, "conflict")
        wider = [accepted, "checkpoint"]
        grown = expect(patch(app_client, admin_key, name, artifact_types=wider), 200)
        assert grown["artifact_types"] == sorted(wider)
        after = expect(get(app_client, admin_key, name), 200)
        assert after["visibility"] == "organization"
        assert after["is_core"] is True
        assert after["artifact_types"] == sorted(wider)


# --- names ----------------------------------------------------------------------------------


def test_names_are_unique_ignoring_case_and_normalisation(
    app_client: httpx.Client, admin_key: str
) -> None:
    made = create(app_client, admin_key, "Café")
    for clash in ("Cafe\u0301", "CAFÉ", "CAFE\u0301", "café", "MODELS", "models", "DataSets"):
        resp = call(app_client, "POST", REGS, admin_key, json={"name": clash})
        assert "already exists" in error(resp, 409, "conflict")
    create(app_client, admin_key, "Other")
    error(patch(app_client, admin_key, "Other", name="cafe\u0301"), 409, "conflict")
    error(patch(app_client, admin_key, "Other", name="models"), 409, "conflict")
    assert expect(get(app_client, admin_key, "Cafe\u0301"), 200)["id"] == made["id"]
    assert expect(get(app_client, admin_key, "CAFÉ"), 200)["id"] == made["id"]
    names = [r["name"] for r in listed(app_client, admin_key)]
    assert sorted(names) == sorted(["Café", "Other", *CORE])
    nfd = create(app_client, admin_key, "Re\u0301sume\u0301 models")
    assert nfd["name"] == "Résumé models"
    assert nfd["full_name"] == "default/Résumé models"


def test_rename_and_delete(app_client: httpx.Client, admin_key: str, make_user: MakeUser) -> None:
    bob = make_user("bob")
    made = create(app_client, admin_key, "Old name", visibility="organization")
    renamed = expect(patch(app_client, admin_key, "Old name", name="New name"), 200)
    assert renamed["name"] == "New name"
    assert renamed["id"] == made["id"]
    error(get(app_client, admin_key, "Old name"), 404, "not_found")
    assert expect(get(app_client, bob, "New name"), 200)["id"] == made["id"]
    names = listed_names(app_client, admin_key)
    assert "New name" in names
    assert "Old name" not in names
    recased = expect(patch(app_client, admin_key, "New name", name="NEW NAME"), 200)
    assert recased["name"] == "NEW NAME"
    error(patch(app_client, admin_key, "NEW NAME", name="a/b"), 422, "validation_error")

    expect(call(app_client, "DELETE", reg("NEW NAME"), admin_key), 204)
    for key in (admin_key, bob):
        error(get(app_client, key, "NEW NAME"), 404, "not_found")
        assert "NEW NAME" not in listed_names(app_client, key)
    error(call(app_client, "GET", f"{reg('NEW NAME')}/members", admin_key), 404, "not_found")
    error(patch(app_client, admin_key, "NEW NAME", description="x"), 404, "not_found")
    error(add(app_client, admin_key, "NEW NAME", {"member": "bob"}), 404, "not_found")
    error(call(app_client, "DELETE", reg("NEW NAME"), admin_key), 404, "not_found")
    create(app_client, admin_key, "new name")
    assert members(app_client, admin_key, "New Name") == {("user", "admin"): "admin"}


def test_wandb_registry_prefix_resolves(app_client: httpx.Client, admin_key: str) -> None:
    models = expect(get(app_client, admin_key, "Models"), 200)
    prefixed = expect(get(app_client, admin_key, "wandb-registry-Models"), 200)
    assert prefixed == models
    expect(patch(app_client, admin_key, "wandb-registry-Models", description="via W&B path"), 200)
    assert expect(get(app_client, admin_key, "Models"), 200)["description"] == "via W&B path"
    assert members(app_client, admin_key, "wandb-registry-Models") == {}
    made = create(app_client, admin_key, "wandb-registry-Pasted")
    assert made["name"] == "Pasted"
    error(call(app_client, "POST", REGS, admin_key, json={"name": "Pasted"}), 409, "conflict")


# --- members --------------------------------------------------------------------------------


def test_members_by_username_email_and_team_with_default_roles(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice = make_user("alice")
    bob = make_user("bob")
    carol = make_user("carol", email="carol@example.com")
    svc = make_user("svc-bot", service=True)
    dave = make_user("dave")
    team(app_client, alice, "vision", ("dave", "member"))
    team(app_client, alice, "nlp")
    create(app_client, alice, "R", visibility="restricted")
    specs = [
        {"member": "bob"},
        {"member": "Carol@Example.com"},
        {"member": "vision"},
        {"member": "svc-bot"},
        {"member": "nlp", "kind": "team"},
    ]
    added = expect(add(app_client, alice, "R", *specs), 201)
    assert added == [
        {"kind": "user", "name": "bob", "email": None, "role": "restricted_viewer"},
        {
            "kind": "user",
            "name": "carol",
            "email": "carol@example.com",
            "role": "restricted_viewer",
        },
        {"kind": "team", "name": "vision", "email": None, "role": "restricted_viewer"},
        {"kind": "user", "name": "svc-bot", "email": None, "role": "member"},
        {"kind": "team", "name": "nlp", "email": None, "role": "restricted_viewer"},
    ]
    assert members(app_client, alice, "R") == {
        ("user", "alice"): "admin",
        ("user", "bob"): "restricted_viewer",
        ("user", "carol"): "restricted_viewer",
        ("user", "svc-bot"): "member",
        ("team", "vision"): "restricted_viewer",
        ("team", "nlp"): "restricted_viewer",
    }
    for key in (bob, carol, dave):
        assert role_of(app_client, key, "R") == "restricted_viewer"
    assert role_of(app_client, svc, "R") == "member"
    error(add(app_client, alice, "R", {"member": "dave", "kind": "team"}), 404, "not_found")
    error(add(app_client, alice, "R", {"member": "dave", "kind": "robot"}), 422, "validation_error")


def test_explicit_and_unknown_roles(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice = make_user("alice")
    create(app_client, alice, "R")
    for role in ROLES:
        key = make_user(f"user-{role}")
        added = expect(add(app_client, alice, "R", {"member": f"user-{role}", "role": role}), 201)
        assert added[0]["role"] == role
        assert role_of(app_client, key, "R") == role
        assert members(app_client, alice, "R")[("user", f"user-{role}")] == role
    make_user("bob")
    for bad in ("owner", "Admin", "superuser", ""):
        resp = add(app_client, alice, "R", {"member": "bob", "role": bad})
        message = error(resp, 422, "validation_error")
        if bad:
            assert all(r in message for r in ROLES), message
    assert ("user", "bob") not in members(app_client, alice, "R")
    expect(add(app_client, alice, "R", {"member": "bob"}), 201)
    resp = call(app_client, "PATCH", f"{reg('R')}/members/user/bob", alice, json={"role": "boss"})
    message = error(resp, 422, "validation_error")
    assert all(r in message for r in ROLES), message
    assert members(app_client, alice, "R")[("user", "bob")] == "restricted_viewer"


def test_unknown_and_duplicate_members(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice = make_user("alice")
    make_user("bob", email="bob@example.com")
    make_user("carol")
    team(app_client, alice, "vision")
    create(app_client, alice, "R")
    for ghost in ("nobody", "ghost@example.com", "no-such-team"):
        message = error(add(app_client, alice, "R", {"member": ghost}), 404, "not_found")
        assert ghost in message
    # One bad member fails the whole request: nobody is added.
    error(add(app_client, alice, "R", {"member": "carol"}, {"member": "nobody"}), 404, "not_found")
    assert members(app_client, alice, "R") == {("user", "alice"): "admin"}
    expect(add(app_client, alice, "R", {"member": "bob", "role": "viewer"}), 201)
    expect(add(app_client, alice, "R", {"member": "vision"}), 201)
    for again in ("bob", "BOB", "bob@example.com", "alice", "vision"):
        resp = add(app_client, alice, "R", {"member": again, "role": "admin"})
        assert "already" in error(resp, 409, "conflict")
    error(add(app_client, alice, "R", {"member": "carol"}, {"member": "carol"}), 409, "conflict")
    assert members(app_client, alice, "R") == {
        ("user", "alice"): "admin",
        ("user", "bob"): "viewer",
        ("team", "vision"): "restricted_viewer",
    }


def test_update_role_and_remove(app_client: httpx.Client, make_user: MakeUser) -> None:
    alice, bob, dave = make_user("alice"), make_user("bob"), make_user("dave")
    make_user("carol")
    team(app_client, alice, "vision", ("dave", "member"))
    create(app_client, alice, "R")
    expect(add(app_client, alice, "R", {"member": "bob"}, {"member": "vision"}), 201)
    path = f"{reg('R')}/members"
    resp = call(app_client, "PATCH", f"{path}/user/bob", alice, json={"role": "member"})
    assert expect(resp, 200) == {"kind": "user", "name": "bob", "email": None, "role": "member"}
    assert role_of(app_client, bob, "R") == "member"
    # A registry member below admin cannot manage members.
    error(add(app_client, bob, "R", {"member": "carol"}), 403, "permission_denied")
    resp = call(app_client, "PATCH", f"{path}/user/bob", bob, json={"role": "admin"})
    error(resp, 403, "permission_denied")
    error(call(app_client, "DELETE", f"{path}/user/alice", bob), 403, "permission_denied")
    expect(call(app_client, "PATCH", f"{path}/team/vision", alice, json={"role": "viewer"}), 200)
    assert role_of(app_client, dave, "R") == "viewer"
    expect(call(app_client, "DELETE", f"{path}/user/bob", alice), 204)
    assert role_of(app_client, bob, "R") is None
    expect(call(app_client, "DELETE", f"{path}/team/vision", alice), 204)
    assert role_of(app_client, dave, "R") is None
    assert members(app_client, alice, "R") == {("user", "alice"): "admin"}
    error(call(app_client, "DELETE", f"{path}/user/bob", alice), 404, "not_found")
    resp = call(app_client, "PATCH", f"{path}/user/bob", alice, json={"role": "viewer"})
    assert "bob" in error(resp, 404, "not_found")
    resp = call(app_client, "PATCH", f"{path}/user/nobody", alice, json={"role": "viewer"})
    error(resp, 404, "not_found")


def test_last_explicit_admin_cannot_be_removed_or_demoted(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    alice = make_user("alice")
    make_user("bob")
    create(app_client, alice, "R")
    path = f"{reg('R')}/members/user"
    for key in (alice, admin_key):
        assert "admin" in error(call(app_client, "DELETE", f"{path}/alice", key), 409, "conflict")
        for lower in ("member", "viewer", "restricted_viewer"):
            resp = call(app_client, "PATCH", f"{path}/alice", key, json={"role": lower})
            error(resp, 409, "conflict")
    assert members(app_client, admin_key, "R") == {("user", "alice"): "admin"}
    # The organization admin still manages the registry.
    expect(patch(app_client, admin_key, "R", description="managed"), 200)
    expect(add(app_client, admin_key, "R", {"member": "bob", "role": "admin"}), 201)
    expect(call(app_client, "PATCH", f"{path}/alice", admin_key, json={"role": "member"}), 200)
    expect(call(app_client, "DELETE", f"{path}/alice", admin_key), 204)
    error(call(app_client, "DELETE", f"{path}/bob", admin_key), 409, "conflict")
    assert members(app_client, admin_key, "R") == {("user", "bob"): "admin"}
    expect(call(app_client, "DELETE", reg("R"), admin_key), 204)


def test_user_of_another_org_cannot_be_added(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    eve = make_user("eve", org="acme", email="eve@acme.example")
    create(app_client, admin_key, "R", visibility="organization")
    for ref in ("eve", "eve@acme.example"):
        assert ref in error(add(app_client, admin_key, "R", {"member": ref}), 404, "not_found")
    assert ("user", "eve") not in members(app_client, admin_key, "R")
    assert role_of(app_client, eve, "R") is None
    error(call(app_client, "GET", REGS, eve), 404, "not_found")


def test_team_role_gives_access_to_its_members(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice, carol, dave = make_user("alice"), make_user("carol"), make_user("dave")
    team(app_client, carol, "vision", ("dave", "member"))
    create(app_client, alice, "R", visibility="restricted")
    assert role_of(app_client, dave, "R") is None
    expect(add(app_client, alice, "R", {"member": "vision", "role": "member"}), 201)
    assert role_of(app_client, dave, "R") == "member"
    assert role_of(app_client, carol, "R") == "member", "a team admin gets the team's role"
    assert "R" in listed_names(app_client, dave)
    expect(call(app_client, "DELETE", f"{ORG}/teams/vision/members/dave", carol), 204)
    assert role_of(app_client, dave, "R") is None
    assert "R" not in listed_names(app_client, dave)
    assert role_of(app_client, carol, "R") == "member"


def test_effective_role_is_the_highest_source(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    bob = make_user("bob")
    team(app_client, admin_key, "vision", ("bob", "member"))
    create(app_client, admin_key, "Org-wide", visibility="organization")
    assert role_of(app_client, bob, "Org-wide") == "viewer"
    # restricted_viewer is below the viewer role every org member has: the highest wins.
    expect(add(app_client, admin_key, "Org-wide", {"member": "bob"}), 201)
    assert role_of(app_client, bob, "Org-wide") == "viewer"
    expect(add(app_client, admin_key, "Org-wide", {"member": "vision", "role": "member"}), 201)
    assert role_of(app_client, bob, "Org-wide") == "member"
    path = f"{reg('Org-wide')}/members"
    expect(call(app_client, "PATCH", f"{path}/user/bob", admin_key, json={"role": "admin"}), 200)
    assert role_of(app_client, bob, "Org-wide") == "admin"
    expect(call(app_client, "PATCH", f"{path}/user/bob", admin_key, json={"role": "viewer"}), 200)
    assert role_of(app_client, bob, "Org-wide") == "member"
    roles = {r["name"]: r["role"] for r in listed(app_client, bob)}
    assert roles["Org-wide"] == "member"
    assert roles["Models"] == "viewer"


def test_removing_a_user_from_the_org_removes_registry_access(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    bob = make_user("bob")
    create(app_client, admin_key, "R", visibility="restricted")
    expect(add(app_client, admin_key, "R", {"member": "bob", "role": "admin"}), 201)
    assert role_of(app_client, bob, "R") == "admin"
    expect(call(app_client, "DELETE", f"{ORG}/members/bob", admin_key), 204)
    for name in ("R", "Models"):
        error(get(app_client, bob, name), 404, "not_found")
    error(call(app_client, "GET", REGS, bob), 404, "not_found")
    error(patch(app_client, bob, "R", visibility="organization"), 404, "not_found")
    assert expect(get(app_client, admin_key, "R"), 200)["visibility"] == "restricted"


def test_rejoining_the_org_does_not_restore_old_registry_grants(
    app_client: httpx.Client, make_user: MakeUser, admin_key: str
) -> None:
    bob = make_user("bob")
    create(app_client, admin_key, "R", visibility="restricted")
    expect(add(app_client, admin_key, "R", {"member": "bob", "role": "admin"}), 201)
    expect(call(app_client, "DELETE", f"{ORG}/members/bob", admin_key), 204)
    assert ("user", "bob") not in members(app_client, admin_key, "R"), (
        "a user removed from the organization is still listed as a registry member"
    )
    expect(call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": "bob"}), 201)
    assert role_of(app_client, bob, "R") is None, (
        "re-adding a user to the organization silently restored their old registry admin role"
    )


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
    failures = []
    for label, method, path, kw in attempts:
        resp = call(app_client, method, path, admin_key, **kw)
        if resp.status_code >= 500:
            failures.append(f"{label}: {method} {path} -> {resp.status_code}")
        elif resp.status_code >= 400:
            error(resp, resp.status_code, resp.json()["error"]["code"])
    assert not failures, "\n".join(failures)
    assert expect(get(app_client, admin_key, "R"), 200)["name"] == "R"
