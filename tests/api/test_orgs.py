"""Organizations through the JSON API: creation, members, roles and audit log, on both databases."""

from __future__ import annotations

import httpx
import pytest

from tests.api.account_calls import new_user, org_members
from tests.api.registry_calls import ORG, error, expect
from tests.conftest import MakeUser, call

pytestmark = pytest.mark.both_backends

# --- organizations --------------------------------------------------------------------------


def test_superuser_creates_an_org_with_core_registries(
    app_client: httpx.Client, admin_key: str
) -> None:
    made = expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    assert made["name"] == "acme"
    assert made["role"] == "admin"
    assert expect(call(app_client, "GET", "/orgs/acme", admin_key), 200)["id"] == made["id"]
    assert org_members(app_client, admin_key, "acme") == {"admin": "admin"}
    regs = expect(call(app_client, "GET", "/orgs/acme/registries", admin_key), 200)["items"]
    assert {(r["name"], tuple(r["artifact_types"])) for r in regs} == {
        ("Models", ("model",)),
        ("Datasets", ("dataset",)),
    }
    assert all(r["is_core"] and r["visibility"] == "organization" for r in regs)
    assert all(r["organization"] == "acme" for r in regs)
    orgs = expect(call(app_client, "GET", "/orgs", admin_key), 200)
    assert {(o["name"], o["role"]) for o in orgs} == {("acme", "admin"), ("default", "admin")}


def test_only_superusers_create_orgs(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    for key in (make_user("bob"), make_user("olga", role="admin")):
        resp = call(app_client, "POST", "/orgs", key, json={"name": "acme"})
        error(resp, 403, "permission_denied")
    error(call(app_client, "GET", "/orgs/acme", admin_key), 404, "not_found")
    expect(call(app_client, "POST", "/orgs", admin_key, json={"name": "acme"}), 201)
    for taken in ("ACME", "default", "bob", "admin"):
        resp = call(app_client, "POST", "/orgs", admin_key, json={"name": taken})
        assert "taken" in error(resp, 409, "conflict")
    resp = call(app_client, "POST", "/orgs", admin_key, json={"name": "bad name"})
    error(resp, 422, "validation_error")


def test_org_members_are_added_by_username_or_email(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob", role=None, email="bob@example.com")
    make_user("carol", role=None, email="carol@example.com")
    error(call(app_client, "GET", ORG, bob), 404, "not_found")
    added = expect(call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": "bob"}), 201)
    assert added == {
        "username": "bob",
        "email": "bob@example.com",
        "role": "member",
        "is_service": False,
        "active": True,
    }
    body = {"user": "CAROL@example.com", "role": "viewer"}
    assert expect(call(app_client, "POST", f"{ORG}/members", admin_key, json=body), 201)[
        "role"
    ] == ("viewer")
    assert org_members(app_client, admin_key) == {
        "admin": "admin",
        "bob": "member",
        "carol": "viewer",
    }
    assert expect(call(app_client, "GET", ORG, bob), 200)["role"] == "member"
    for again in ("bob", "BOB", "bob@example.com"):
        resp = call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": again})
        error(resp, 409, "conflict")
    resp = call(app_client, "POST", f"{ORG}/members", admin_key, json={"user": "nobody"})
    assert "nobody" in error(resp, 404, "not_found")
    make_user("dave", role=None)
    resp = call(
        app_client, "POST", f"{ORG}/members", admin_key, json={"user": "dave", "role": "owner"}
    )
    message = error(resp, 422, "validation_error")
    assert all(r in message for r in ("admin", "member", "viewer"))
    resp = call(app_client, "POST", f"{ORG}/members", bob, json={"user": "dave"})
    error(resp, 403, "permission_denied")
    assert "dave" not in org_members(app_client, admin_key)


def test_org_roles_change_and_members_leave(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    carol = make_user("carol")
    path = f"{ORG}/members/bob"
    error(call(app_client, "PATCH", path, carol, json={"role": "admin"}), 403, "permission_denied")
    resp = call(app_client, "PATCH", path, admin_key, json={"role": "admin"})
    assert expect(resp, 200)["role"] == "admin"
    expect(new_user(app_client, bob, "made-by-bob"), 201)
    assert expect(call(app_client, "PATCH", path, admin_key, json={"role": "viewer"}), 200)[
        "role"
    ] == ("viewer")
    resp = call(app_client, "POST", f"{ORG}/registries", bob, json={"name": "R"})
    error(resp, 403, "permission_denied")
    message = error(
        call(app_client, "PATCH", path, admin_key, json={"role": "boss"}), 422, "validation_error"
    )
    assert all(r in message for r in ("admin", "member", "viewer"))
    error(
        call(app_client, "PATCH", f"{ORG}/members/nobody", admin_key, json={"role": "member"}),
        404,
        "not_found",
    )
    error(call(app_client, "DELETE", path, carol), 403, "permission_denied")
    expect(call(app_client, "DELETE", path, admin_key), 204)
    assert "bob" not in org_members(app_client, admin_key)
    error(call(app_client, "GET", ORG, bob), 404, "not_found")
    error(call(app_client, "GET", f"{ORG}/members", bob), 404, "not_found")
    assert [o["name"] for o in expect(call(app_client, "GET", "/orgs", bob), 200)] == []
    error(call(app_client, "DELETE", path, admin_key), 404, "not_found")


def test_last_org_admin_cannot_be_demoted_or_removed(
    app_client: httpx.Client, admin_key: str, make_user: MakeUser
) -> None:
    bob = make_user("bob")
    for role in ("member", "viewer"):
        resp = call(app_client, "PATCH", f"{ORG}/members/admin", admin_key, json={"role": role})
        assert "admin" in error(resp, 409, "conflict")
    error(call(app_client, "DELETE", f"{ORG}/members/admin", admin_key), 409, "conflict")
    assert org_members(app_client, admin_key)["admin"] == "admin"
    expect(call(app_client, "PATCH", f"{ORG}/members/bob", admin_key, json={"role": "admin"}), 200)
    expect(call(app_client, "PATCH", f"{ORG}/members/admin", bob, json={"role": "member"}), 200)
    error(
        call(app_client, "PATCH", f"{ORG}/members/bob", bob, json={"role": "member"}),
        409,
        "conflict",
    )
    error(call(app_client, "DELETE", f"{ORG}/members/bob", bob), 409, "conflict")
    assert org_members(app_client, bob) == {"admin": "member", "bob": "admin"}


# --- the organization's audit log ----------------------------------------------------------


def test_users_created_through_the_api_are_in_their_organizations_audit_log(
    app_client: httpx.Client, admin_key: str
) -> None:
    created = call(
        app_client, "POST", "/orgs/default/users", admin_key, json={"username": "audited"}
    )
    assert created.status_code == 201, created.text
    events = call(
        app_client, "GET", "/orgs/default/audit", admin_key, params={"action": "user.create"}
    ).json()
    assert [e["action"] for e in events] == ["user.create"]
    assert "audited" in str(events[0])


@pytest.mark.parametrize("since", ["1700000000", "1.5e-215", "yesterday"])
def test_audit_times_must_be_iso_8601_not_numbers(
    app_client: httpx.Client, admin_key: str, since: str
) -> None:
    refused = call(app_client, "GET", "/orgs/default/audit", admin_key, params={"since": since})
    assert refused.status_code == 422, refused.text
    assert "ISO 8601" in refused.json()["error"]["message"]
    fine = call(
        app_client, "GET", "/orgs/default/audit", admin_key, params={"since": "2026-01-01T00:00Z"}
    )
    assert fine.status_code == 200, fine.text
