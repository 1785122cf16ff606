"""Teams through the JSON API: their admins, members, roles and names, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.api.account_calls import team_members
from tests.api.registry_calls import ORG, error, expect
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

# --- teams ----------------------------------------------------------------------------------


def test_team_creator_is_team_admin(app_client: httpx.Client, make_user: MakeUser) -> None:
    bob = make_user("bob")
    body = {"name": "vision", "description": "Computer vision"}
    made = expect(call(app_client, "POST", f"{ORG}/teams", bob, json=body), 201)
    assert made["name"] == "vision"
    assert made["organization"] == "default"
    assert made["description"] == "Computer vision"
    assert made["members_count"] == 1
    assert team_members(app_client, bob, "vision") == {"bob": "admin"}
    listed = expect(call(app_client, "GET", f"{ORG}/teams", bob), 200)
    assert [(t["name"], t["members_count"]) for t in listed] == [("vision", 1)]
    assert team_members(app_client, bob, "VISION") == {"bob": "admin"}


def test_team_members_and_roles(app_client: httpx.Client, make_user: MakeUser) -> None:
    bob = make_user("bob")
    make_user("carol", email="carol@example.com")
    make_user("dave")
    make_user("eve", role=None)
    expect(call(app_client, "POST", f"{ORG}/teams", bob, json={"name": "vision"}), 201)
    path = f"{ORG}/teams/vision/members"
    added = expect(call(app_client, "POST", path, bob, json={"user": "carol"}), 201)
    assert added == {"username": "carol", "role": "member"}
    body = {"user": "dave", "role": "admin"}
    assert expect(call(app_client, "POST", path, bob, json=body), 201)["role"] == "admin"
    assert team_members(app_client, bob, "vision") == {
        "bob": "admin",
        "carol": "member",
        "dave": "admin",
    }
    changed = expect(call(app_client, "PATCH", f"{path}/carol", bob, json={"role": "admin"}), 200)
    assert changed == {"username": "carol", "role": "admin"}
    expect(call(app_client, "PATCH", f"{path}/dave", bob, json={"role": "member"}), 200)
    expect(call(app_client, "DELETE", f"{path}/carol", bob), 204)
    assert team_members(app_client, bob, "vision") == {"bob": "admin", "dave": "member"}
    for again in ("dave", "DAVE"):
        error(call(app_client, "POST", path, bob, json={"user": again}), 409, "conflict")
    error(call(app_client, "POST", path, bob, json={"user": "eve"}), 404, "not_found")
    error(call(app_client, "POST", path, bob, json={"user": "nobody"}), 404, "not_found")
    resp = call(app_client, "POST", path, bob, json={"user": "carol", "role": "owner"})
    message = error(resp, 422, "validation_error")
    assert "admin" in message
    assert "member" in message
    error(
        call(app_client, "PATCH", f"{path}/dave", bob, json={"role": "boss"}),
        422,
        "validation_error",
    )
    error(call(app_client, "PATCH", f"{path}/carol", bob, json={"role": "admin"}), 404, "not_found")
    error(call(app_client, "DELETE", f"{path}/carol", bob), 404, "not_found")
    expect(call(app_client, "POST", path, bob, json={"user": "carol@example.com"}), 201)
    assert team_members(app_client, bob, "vision")["carol"] == "member"


def test_only_team_admins_and_org_admins_change_a_team(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob, carol, outsider = make_user("bob"), make_user("carol"), make_user("olga")
    make_user("dave")
    expect(call(app_client, "POST", f"{ORG}/teams", bob, json={"name": "vision"}), 201)
    path = f"{ORG}/teams/vision"
    expect(call(app_client, "POST", f"{path}/members", bob, json={"user": "carol"}), 201)
    for key in (carol, outsider):
        attempts = [
            call(app_client, "POST", f"{path}/members", key, json={"user": "dave"}),
            call(app_client, "PATCH", f"{path}/members/carol", key, json={"role": "admin"}),
            call(app_client, "PATCH", f"{path}/members/bob", key, json={"role": "member"}),
            call(app_client, "DELETE", f"{path}/members/bob", key),
            call(app_client, "DELETE", path, key),
        ]
        for resp in attempts:
            error(resp, 403, "permission_denied")
    assert team_members(app_client, bob, "vision") == {"bob": "admin", "carol": "member"}
    expect(call(app_client, "POST", f"{path}/members", admin_key, json={"user": "dave"}), 201)
    expect(
        call(app_client, "PATCH", f"{path}/members/bob", admin_key, json={"role": "member"}), 200
    )
    error(call(app_client, "DELETE", path, bob), 403, "permission_denied")
    expect(call(app_client, "DELETE", path, admin_key), 204)
    error(call(app_client, "GET", path, bob), 404, "not_found")
    # The name is free again.
    expect(call(app_client, "POST", f"{ORG}/teams", carol, json={"name": "vision"}), 201)


def test_org_viewer_cannot_create_a_team(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    viewer = make_user("vic", role="viewer")
    resp = call(app_client, "POST", f"{ORG}/teams", viewer, json={"name": "vision"})
    assert "viewer" in error(resp, 403, "permission_denied")
    assert expect(call(app_client, "GET", f"{ORG}/teams", admin_key), 200) == []


def test_team_names_share_the_entity_namespace(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    make_user("bob")
    expect(call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": "vision"}), 201)
    for taken in ("vision", "VISION", "bob", "admin", "default"):
        resp = call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": taken})
        assert "taken" in error(resp, 409, "conflict")
    for bad in ("a b", "-x", "x" * 65):
        resp = call(app_client, "POST", f"{ORG}/teams", admin_key, json={"name": bad})
        error(resp, 422, "validation_error")
    names = [t["name"] for t in expect(call(app_client, "GET", f"{ORG}/teams", admin_key), 200)]
    assert names == ["vision"]
