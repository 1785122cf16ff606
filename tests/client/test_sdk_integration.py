"""The SDK against the real in-process server: registries, members, types, accounts, errors."""

from __future__ import annotations

import httpx
import pytest

import cairn
from tests.conftest import MakeUser


def test_create_registry_as_in_the_wandb_docs(api: cairn.Api) -> None:
    registry = api.create_registry(name="Fine_Tuned_Models", visibility="restricted")
    assert registry.name == "Fine_Tuned_Models"
    assert registry.full_name == "default/Fine_Tuned_Models"
    assert registry.organization == "default"
    assert registry.visibility == "restricted"
    assert registry.role == "admin"  # the creator becomes registry admin
    assert registry.allow_all_artifact_types is True
    assert list(registry.artifact_types) == []
    assert registry.is_core is False
    assert registry.created_at is not None
    assert registry.created_at.tzinfo is not None


def test_create_organization_registry_with_types_and_description(
    api: cairn.Api, app_client: httpx.Client, make_user: MakeUser
) -> None:
    registry = api.create_registry(
        name="Shared Datasets ü",
        visibility="organization",
        description="Curated data",
        artifact_types=["dataset", "model"],
    )
    assert registry.visibility == "organization"
    assert registry.description == "Curated data"
    assert sorted(registry.artifact_types) == ["dataset", "model"]
    assert registry.allow_all_artifact_types is False
    assert registry.role == "admin"
    # Every organization member sees it with the viewer role.
    with cairn.Api(client=app_client, api_key=make_user("olivia")) as member_api:
        seen = member_api.registry("Shared Datasets ü")
    assert seen.role == "viewer"


def test_registry_by_name_and_with_the_wandb_prefix(api: cairn.Api) -> None:
    api.create_registry(name="Fine Tuned", visibility="restricted", artifact_types=["model"])
    assert api.registry("Fine Tuned").full_name == "default/Fine Tuned"
    assert api.registry("wandb-registry-Fine Tuned").name == "Fine Tuned"
    assert api.registry("Models", organization="default").is_core


def test_registries_pages_filter_and_order(api: cairn.Api) -> None:
    for index in range(5):
        api.create_registry(name=f"Fine_{index}", visibility="restricted")
    everything = [r.name for r in api.registries(per_page=2, order="name")]
    assert everything == sorted(everything)
    assert {"Models", "Datasets", *(f"Fine_{i}" for i in range(5))} <= set(everything)
    fine = api.registries(filter={"name": {"$regex": "^Fine_"}}, order="-name", per_page=2)
    assert [r.name for r in fine] == [f"Fine_{i}" for i in (4, 3, 2, 1, 0)]
    assert fine.first() is not None


def test_save_description_and_visibility(api: cairn.Api) -> None:
    registry = api.create_registry(name="Tuned", visibility="restricted")
    registry.description = "LoRA fine-tunes"
    registry.visibility = "organization"
    registry.save()
    assert registry.description == "LoRA fine-tunes"
    fresh = api.registry("Tuned")
    assert (fresh.description, fresh.visibility) == ("LoRA fine-tunes", "organization")
    registry.description = None
    registry.save()
    registry.load()
    assert registry.description is None


def test_rename_and_protected_aliases(api: cairn.Api) -> None:
    registry = api.create_registry(name="Old Name", visibility="restricted")
    registry.name = "New Name"
    registry.protected_aliases.append("production")
    registry.save()
    assert api.registry("New Name").protected_aliases == ["production"]
    with pytest.raises(cairn.NotFoundError):
        api.registry("Old Name")


def test_artifact_types_are_add_only(api: cairn.Api) -> None:
    registry = api.create_registry(name="Typed", visibility="restricted", artifact_types=["model"])
    registry.artifact_types.append("dataset")
    registry.save()
    assert sorted(api.registry("Typed").artifact_types) == ["dataset", "model"]
    with pytest.raises(cairn.ArtifactTypeRemovalError, match=r"'dataset'.*cannot be removed"):
        registry.artifact_types.remove("dataset")
    registry.artifact_types = ["model"]
    with pytest.raises(cairn.ArtifactTypeRemovalError, match="'dataset'"):
        registry.save()
    registry.load()
    assert sorted(registry.artifact_types) == ["dataset", "model"]


def test_server_refuses_type_removal_with_its_message(api: cairn.Api) -> None:
    api.create_registry(name="Typed", visibility="restricted", artifact_types=["model"])
    with pytest.raises(cairn.ConflictError, match=r"model.*never be removed") as caught:
        api._session.request(
            "PATCH", "/api/v1/orgs/default/registries/Typed", json={"artifact_types": []}
        )
    assert caught.value.status == 409
    assert caught.value.code == "conflict"


def test_add_members_by_username_email_team_and_object(api: cairn.Api, make_user: MakeUser) -> None:
    for name in ("alice", "bob", "carol", "dave"):
        make_user(name, email=f"{name}@example.com")
    team = api.create_team("ml-team", description="Model training")
    registry = api.create_registry(name="Members", visibility="restricted")

    added = registry.add_members("alice", "bob@example.com", "ml-team")
    assert {(m.kind, m.name, m.role) for m in added} == {
        ("user", "alice", "restricted_viewer"),
        ("user", "bob", "restricted_viewer"),
        ("team", "ml-team", "restricted_viewer"),
    }
    carol = next(u for u in api.users() if u.username == "carol")
    other_team = api.create_team("eval-team")
    registry.add_members(carol, other_team, role="member")
    registry.add_members("dave", role="viewer")

    roles = {(m.kind, m.name): m.role for m in registry.members()}
    assert roles[("user", "carol")] == "member"
    assert roles[("team", "eval-team")] == "member"
    assert roles[("user", "dave")] == "viewer"
    assert roles[("user", "bob")] == "restricted_viewer"

    assert registry.update_member("bob@example.com", "member").role == "member"
    assert registry.update_member(team, "viewer").role == "viewer"
    registry.remove_members("alice", team, "carol@example.com")
    remaining = {m.name for m in registry.members()}
    assert {"alice", "ml-team", "carol"}.isdisjoint(remaining)
    assert {"bob", "dave", "eval-team"} <= remaining


def test_service_accounts_default_to_member(api: cairn.Api, make_user: MakeUser) -> None:
    make_user("ci-bot", service=True)
    registry = api.create_registry(name="Bots", visibility="restricted")
    (added,) = registry.add_members("ci-bot")
    assert added.role == "member"


def test_typed_errors_carry_the_server_message(
    api: cairn.Api, app_client: httpx.Client, make_user: MakeUser
) -> None:
    with pytest.raises(cairn.NotFoundError, match="Nope") as missing:
        api.registry("Nope")
    assert missing.value.status == 404
    assert isinstance(missing.value, ValueError)

    api.create_registry(name="Dup", visibility="organization")
    with pytest.raises(cairn.ConflictError) as duplicate:
        api.create_registry(name="dup", visibility="restricted")
    assert str(duplicate.value)

    with pytest.raises(cairn.ValidationError, match=r"visibility|public"):
        api.create_registry(name="Bad", visibility="public")

    viewer_api = cairn.Api(client=app_client, api_key=make_user("vic"))
    registry = viewer_api.registry("Dup")
    registry.description = "not allowed"
    with pytest.raises(cairn.PermissionDeniedError) as denied:
        registry.save()
    assert denied.value.status == 403

    with pytest.raises(cairn.AuthenticationError):
        cairn.Api(client=app_client, api_key="cairn_bogus").viewer()


def test_registry_delete(api: cairn.Api) -> None:
    api.create_registry(name="Doomed", visibility="restricted").delete()
    with pytest.raises(cairn.NotFoundError):
        api.registry("Doomed")
    with pytest.raises(cairn.ConflictError, match="core"):
        api.registry("Models").delete()


def test_viewer_and_organizations(api: cairn.Api) -> None:
    viewer = api.viewer()
    assert viewer.username == "admin"
    assert viewer.is_superuser
    assert viewer.default_organization == "default"
    assert viewer.organizations == {"default": "admin"}
    assert [(o.name, o.role) for o in api.organizations()] == [("default", "admin")]
    assert api.default_organization == "default"


def test_organizations_and_their_members(api: cairn.Api, make_user: MakeUser) -> None:
    acme = api.create_organization("acme")
    assert acme.name == "acme"
    assert {r.name for r in api.registries(organization="acme")} >= {"Models", "Datasets"}
    make_user("erin", role=None)
    added = api.add_org_member("erin", organization="acme")
    assert (added.username, added.role) == ("erin", "member")
    assert api.set_org_role("erin", "admin", organization="acme").role == "admin"
    assert {m.username for m in api.org_members("acme")} == {"admin", "erin"}
    api.remove_org_member("erin", organization="acme")
    assert {m.username for m in api.org_members("acme")} == {"admin"}


def test_users_passwords_login_and_deactivation(api: cairn.Api, app_client: httpx.Client) -> None:
    created = api.create_user("frank", email="frank@example.com", password="a-long-password-1")
    assert (created.username, created.email, created.role) == (
        "frank",
        "frank@example.com",
        "member",
    )
    assert "frank" in {u.username for u in api.users()}
    service = api.create_user("svc-bot", service=True)
    assert service.is_service

    frank = cairn.Api(client=app_client)
    key = frank.login("frank@example.com", "a-long-password-1", key_name="laptop")
    assert key.key is not None
    assert key.username == "frank"
    assert frank.viewer().username == "frank"

    assert api.deactivate_user("frank").active is False
    with pytest.raises(cairn.AuthenticationError):
        frank.viewer()
    with pytest.raises(cairn.AuthenticationError):
        cairn.Api(client=app_client).login("frank", "wrong-password-here")


def test_teams(api: cairn.Api, make_user: MakeUser) -> None:
    make_user("gina")
    team = api.create_team("vision", description="Vision models")
    assert (team.name, team.description, team.organization) == (
        "vision",
        "Vision models",
        "default",
    )
    assert api.team("vision").name == "vision"
    assert [t.name for t in api.teams()] == ["vision"]
    assert team.add_member("gina").role == "member"
    assert team.update_member("gina", "admin").role == "admin"
    assert {(m.username, m.role) for m in team.members()} == {("admin", "admin"), ("gina", "admin")}
    team.remove_member("gina")
    assert [m.username for m in team.members()] == ["admin"]
    team.delete()
    with pytest.raises(cairn.NotFoundError):
        api.team("vision")


def test_api_keys(api: cairn.Api, app_client: httpx.Client) -> None:
    api.create_user("deploy-bot", service=True)
    created = api.create_api_key("ci", user="deploy-bot")
    assert created.key is not None
    assert created.username == "deploy-bot"
    listed = api.api_keys(user="deploy-bot")
    assert [(k.id, k.name) for k in listed] == [(created.id, "ci")]
    assert all(k.key is None for k in listed)

    bot = cairn.Api(client=app_client, api_key=created.key)
    assert bot.viewer().username == "deploy-bot"
    api.revoke_api_key(created)
    with pytest.raises(cairn.AuthenticationError):
        bot.viewer()

    own = api.create_api_key("mine")
    assert own.id in {k.id for k in api.api_keys()}
    api.revoke_api_key(own.id)
    assert own.id not in {k.id for k in api.api_keys()}
