"""The ``cairn`` CLI against the real in-process server, with tables and ``--json``."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

import cairn
from cairn.client.cli import cli
from cairn.client.cli._context import CliState
from tests.conftest import ADMIN_PASSWORD, MakeUser

Run = Callable[..., Result]


@pytest.fixture
def run(cli_state: Callable[[], CliState]) -> Run:
    """Invoke ``cairn ARGS`` on the in-process app; fails the test on an unexpected exit code."""

    def invoke(
        *args: str, key: str | None = None, code: int = 0, input: str | None = None
    ) -> Result:
        options = ["--api-key", key] if key else []
        result = CliRunner().invoke(cli, [*options, *args], obj=cli_state(), input=input)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_registry_create_show_list_edit_delete(run: Run, admin_key: str) -> None:
    create = "--json registry create Fine_Tuned_Models --visibility restricted --type model"
    data = as_json(run(*create.split(), "--description", "LoRA", key=admin_key))
    assert data["full_name"] == "default/Fine_Tuned_Models"
    assert data["role"] == "admin"
    assert data["artifact_types"] == ["model"]
    run("registry", "create", "Org Data", "--visibility", "organization", key=admin_key)

    table = run("registry", "list", key=admin_key).stdout
    assert "Fine_Tuned_Models" in table
    assert "Org Data" in table
    assert "restricted" in table
    listed = as_json(run("--json", "registry", "list", "--order", "-name", key=admin_key))
    names = [r["name"] for r in listed]
    assert names == sorted(names, reverse=True)
    assert {"Models", "Datasets", "Fine_Tuned_Models", "Org Data"} <= set(names)
    name_filter = '{"name": {"$regex": "^Fine"}}'
    filtered = run(
        "--json", "registry", "list", "--filter", name_filter, "--per-page", "1", key=admin_key
    )
    assert [r["name"] for r in as_json(filtered)] == ["Fine_Tuned_Models"]

    shown = run("registry", "show", "Fine_Tuned_Models", key=admin_key).stdout
    assert "default/Fine_Tuned_Models" in shown
    assert "LoRA" in shown

    edit = (
        "--json registry edit Fine_Tuned_Models --description New --visibility organization"
        " --add-type checkpoint --protect-alias production --rename Tuned"
    )
    edited = as_json(run(*edit.split(), key=admin_key))
    assert edited["name"] == "Tuned"
    assert edited["description"] == "New"
    assert edited["visibility"] == "organization"
    assert sorted(edited["artifact_types"]) == ["checkpoint", "model"]
    assert edited["protected_aliases"] == ["production"]

    deleted = run("registry", "delete", "Tuned", "--yes", key=admin_key)
    assert deleted.stdout == "Deleted registry default/Tuned.\n"
    gone = run("registry", "show", "Tuned", key=admin_key, code=1)
    assert gone.stderr.startswith("Error: ")
    assert gone.stderr.count("\n") == 1
    assert "Tuned" in gone.stderr


def test_registry_members(run: Run, admin_key: str, make_user: MakeUser) -> None:
    make_user("alice")
    make_user("bob", email="bob@example.com")
    run("team", "create", "ml-team", key=admin_key)
    run("registry", "create", "Members", key=admin_key)

    added = run("registry", "members", "add", "Members", "alice", "bob@example.com", key=admin_key)
    assert "alice" in added.stdout
    assert "restricted_viewer" in added.stdout
    run(
        "--json",
        "registry",
        "members",
        "add",
        "Members",
        "ml-team",
        "--role",
        "member",
        key=admin_key,
    )
    run("registry", "members", "set-role", "Members", "alice", "admin", key=admin_key)

    members = as_json(run("--json", "registry", "members", "list", "Members", key=admin_key))
    roles = {(m["kind"], m["name"]): m["role"] for m in members}
    assert roles == {
        ("user", "admin"): "admin",
        ("user", "alice"): "admin",
        ("user", "bob"): "restricted_viewer",
        ("team", "ml-team"): "member",
    }
    table = run("registry", "members", "list", "Members", key=admin_key).stdout
    assert "bob@example.com" in table

    removed = as_json(
        run("--json", "registry", "members", "remove", "Members", "bob", "ml-team", key=admin_key)
    )
    assert removed == {"removed": ["bob", "ml-team"]}
    members = as_json(run("--json", "registry", "members", "list", "Members", key=admin_key))
    assert {m["name"] for m in members} == {"admin", "alice"}

    bad_role = run(
        "registry", "members", "set-role", "Members", "alice", "owner", key=admin_key, code=1
    )
    assert bad_role.stderr.startswith("Error: unknown registry role 'owner'")


def test_a_failing_command_prints_one_line_and_no_traceback(run: Run, make_user: MakeUser) -> None:
    viewer_key = make_user("vera", role="viewer")
    result = run("registry", "create", "Nope", key=viewer_key, code=1)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    unauthenticated = run("registry", "list", code=1)
    assert "cairn login" in unauthenticated.stderr
    bad_key = run("whoami", key="cairn_not_a_key", code=1)
    assert bad_key.stderr.startswith("Error: ")


def test_login_writes_a_0600_file_and_later_commands_need_no_arguments(
    run: Run, config_dir: Path, app_client: httpx.Client
) -> None:
    logged_in = run("login", "--username", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert "Logged in" in logged_in.stdout
    assert "as admin" in logged_in.stdout
    path = config_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["base_url"] == "http://127.0.0.1:8080"
    assert stored["api_key"].startswith("cairn")
    assert stored["username"] == "admin"
    assert stored["api_key"] not in logged_in.output

    assert cairn.Api(client=app_client).viewer().username == "admin"  # the SDK reads it too
    me = as_json(run("--json", "whoami"))
    assert (me["username"], me["default_organization"]) == ("admin", "default")
    assert "admin" in run("whoami").stdout
    run("registry", "create", "After Login", "--type", "model")
    assert "After Login" in run("registry", "list").stdout
    key_ids = [k["id"] for k in as_json(run("--json", "key", "list"))]
    assert stored["key_id"] in key_ids

    logged_out = run("logout")
    assert "Logged out" in logged_out.stdout
    assert not path.exists()
    assert "cairn login" in run("registry", "list", code=1).stderr
    # The key was revoked on the server too.
    revoked = run("whoami", key=stored["api_key"], code=1)
    assert revoked.stderr.startswith("Error: ")
    assert run("logout").stdout == "Not logged in.\n"


def test_login_with_a_prompted_password_and_a_wrong_one(run: Run, config_dir: Path) -> None:
    run("login", input=f"admin\n{ADMIN_PASSWORD}\n")
    assert (config_dir / "credentials.json").exists()
    failed = run("login", "-u", "admin", "--password-stdin", input="wrong-password\n", code=1)
    assert failed.stderr.startswith("Error: ")
    assert "cairn login" not in failed.stderr


def test_users_teams_keys_and_orgs(run: Run, admin_key: str, make_user: MakeUser) -> None:
    created = as_json(
        run(
            "--json",
            "user",
            "create",
            "hank",
            "--email",
            "hank@example.com",
            "--password-stdin",
            key=admin_key,
            input="a-long-password-2\n",
        )
    )
    assert (created["username"], created["role"]) == ("hank", "member")
    run("user", "create", "svc-ci", "--service", key=admin_key)
    users = run("user", "list", key=admin_key).stdout
    assert "hank@example.com" in users
    assert "svc-ci" in users
    assert as_json(run("--json", "user", "deactivate", "hank", key=admin_key))["active"] is False

    run("team", "create", "ml-team", "--description", "Models", key=admin_key)
    make_user("ivy")
    run("team", "add-member", "ml-team", "ivy", key=admin_key)
    run("team", "set-role", "ml-team", "ivy", "admin", key=admin_key)
    shown = as_json(run("--json", "team", "show", "ml-team", key=admin_key))
    members = {(m["username"], m["role"]) for m in shown["members"]}
    assert members == {("admin", "admin"), ("ivy", "admin")}
    assert "ivy" in run("team", "show", "ml-team", key=admin_key).stdout
    run("team", "remove-member", "ml-team", "ivy", key=admin_key)
    assert "ml-team" in run("team", "list", key=admin_key).stdout
    run("team", "delete", "ml-team", "--yes", key=admin_key)
    assert as_json(run("--json", "team", "list", key=admin_key)) == []

    new_key = as_json(run("--json", "key", "create", "ci", "--for", "svc-ci", key=admin_key))
    assert new_key["key"].startswith("cairn")
    keys = as_json(run("--json", "key", "list", "--for", "svc-ci", key=admin_key))
    assert [k["id"] for k in keys] == [new_key["id"]]
    assert keys[0]["key"] is None
    assert as_json(run("--json", "whoami", key=new_key["key"]))["username"] == "svc-ci"
    run("key", "revoke", str(new_key["id"]), key=admin_key)
    run("whoami", key=new_key["key"], code=1)

    run("org", "create", "acme", key=admin_key)
    assert "acme" in run("org", "list", key=admin_key).stdout
    make_user("jack", role=None)
    run("--org", "acme", "org", "members", "add", "jack", "--role", "viewer", key=admin_key)
    run("--org", "acme", "org", "members", "set-role", "jack", "member", key=admin_key)
    members = as_json(run("--json", "--org", "acme", "org", "members", "list", key=admin_key))
    assert {(m["username"], m["role"]) for m in members} == {("admin", "admin"), ("jack", "member")}
    run("--org", "acme", "org", "members", "remove", "jack", key=admin_key)
    last_admin = run("--org", "acme", "org", "members", "remove", "admin", key=admin_key, code=1)
    assert last_admin.stderr.startswith("Error: ")
