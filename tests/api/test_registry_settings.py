"""DESIGN §2's rules on creating a registry and on its settings, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.registry_calls import (
    CORE,
    REGS,
    add,
    create,
    error,
    expect,
    get,
    listed,
    listed_names,
    members,
    patch,
    reg,
    role_of,
    team,
)
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

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
