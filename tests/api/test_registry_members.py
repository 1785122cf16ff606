"""DESIGN §2's rules on a registry's members and the roles they give, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.api.registry_calls import (
    ORG,
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

ROLES = ("restricted_viewer", "viewer", "member", "admin")


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
