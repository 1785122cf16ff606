"""The ``cairn`` CLI without a server: help texts, error reporting, JSON output and plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from cairn.client.cli import _plugins as plugins
from cairn.client.cli import accept_json_after, cli
from cairn.client.cli._context import CliState
from tests.client.conftest import Handler, error, mock_client
from tests.client.test_session import REGISTRY


def _walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


ALL_COMMANDS = list(_walk(cli))


def run(handler: Handler, *args: str, input: str | None = None) -> Result:
    state = CliState(client=mock_client(handler))
    return CliRunner().invoke(cli, list(args), obj=state, input=input)


def test_the_expected_commands_exist() -> None:
    expected = {
        ("login",), ("logout",), ("whoami",),
        ("registry", "create"), ("registry", "list"), ("registry", "show"),
        ("registry", "edit"), ("registry", "delete"),
        ("registry", "members", "list"), ("registry", "members", "add"),
        ("registry", "members", "remove"), ("registry", "members", "set-role"),
        ("user", "create"), ("user", "list"), ("user", "deactivate"),
        ("team", "create"), ("team", "add-member"), ("team", "remove-member"),
        ("team", "list"), ("team", "show"), ("team", "delete"),
        ("key", "create"), ("key", "list"), ("key", "revoke"),
        ("org", "list"), ("org", "create"),
        ("org", "members", "list"), ("org", "members", "add"),
        ("org", "members", "set-role"), ("org", "members", "remove"),
    }  # fmt: skip
    assert expected <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "cairn")
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    assert "Example" in result.output
    assert "cairn " in result.output.split("Example", 1)[1]


def test_registry_create_help_documents_its_options() -> None:
    result = CliRunner().invoke(cli, ["registry", "create", "--help"])
    for option in ("--visibility [restricted|organization]", "--type TYPE", "--description"):
        assert option in result.output


def test_api_error_is_one_line_on_stderr_with_exit_1() -> None:
    answer = error(404, "not_found", "registry 'Nope' not found")
    result = run(lambda r: answer, "--org", "o", "registry", "show", "Nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: registry 'Nope' not found\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_network_error_is_reported_not_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = run(refuse, "--org", "o", "registry", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach the Cairn server at http://cairn.test")
    assert result.stderr.count("\n") == 1


def test_usage_errors_exit_2() -> None:
    result = run(lambda r: httpx.Response(500), "registry", "list", "--filter", "{bad")
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    result = run(lambda r: httpx.Response(500), "registry", "edit", "X")
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_json_output_is_machine_readable() -> None:
    page = {"items": [REGISTRY], "next_cursor": None}
    result = run(
        lambda r: httpx.Response(200, json=page), "--org", "o", "--json", "registry", "list"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [REGISTRY | {"created_at": "2024-05-01T12:00:00+00:00"}]


def test_json_after_the_command_is_the_global_flag() -> None:
    page = {"items": [REGISTRY], "next_cursor": None}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page)

    before = run(answer, "--org", "o", "--json", "registry", "list")
    after = run(answer, "--org", "o", "registry", "list", "--json")
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    plain = run(answer, "--org", "o", "registry", "list")
    assert plain.stdout != after.stdout, "without --json the output is a table"


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if not isinstance(command, click.Group):
        yield path
        return
    for name, sub in command.commands.items():
        yield from _leaves(sub, (*path, name))


@pytest.mark.parametrize("path", list(_leaves(cli)), ids=" ".join)
def test_every_command_takes_json_after_it(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "--json" in result.output


def test_a_command_with_its_own_json_keeps_it() -> None:
    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    def own(as_json: bool) -> None:
        click.echo(f"own {as_json}")

    accept_json_after(own)
    assert [p.name for p in own.params] == ["as_json"]
    assert CliRunner().invoke(own, ["--json"]).stdout == "own True\n"


def test_table_output_does_not_interpret_markup() -> None:
    page = {"items": [{**REGISTRY, "description": "[bold]x[/bold]"}], "next_cursor": None}
    result = run(lambda r: httpx.Response(200, json=page), "--org", "o", "registry", "list")
    assert result.exit_code == 0, result.output
    assert "[bold]x[/bold]" in result.stdout
    assert "Fine Tuned ü" in result.stdout


def test_delete_asks_for_confirmation() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return (
            httpx.Response(200, json=REGISTRY) if request.method == "GET" else httpx.Response(204)
        )

    result = run(handler, "--org", "o", "registry", "delete", "X", input="n\n")
    assert result.exit_code == 1
    assert seen == []
    result = run(handler, "--org", "o", "registry", "delete", "X", input="y\n")
    assert result.exit_code == 0, result.output
    assert seen == ["GET", "DELETE"]


class FakeEntryPoint:
    """Stands in for an installed ``cairn.commands`` entry point."""

    def __init__(self, name: str, loaded: object) -> None:
        self.name = name
        self.value = f"fake.module:{name}"
        self.loaded = loaded

    def load(self) -> object:
        if isinstance(self.loaded, Exception):
            raise self.loaded
        return self.loaded


@click.command()
def hello() -> None:
    """Say hello."""
    click.echo("hello from a plugin")


@pytest.fixture
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [
        FakeEntryPoint("hello", hello),
        FakeEntryPoint("broken", ImportError("No module named 'fastapi'")),
        FakeEntryPoint("weird", 42),
        FakeEntryPoint("registry", hello),  # a built-in name is never shadowed
    ]

    def fake_entry_points(group: str) -> list[FakeEntryPoint]:
        assert group == "cairn.commands"
        return found

    monkeypatch.setattr(plugins, "entry_points", fake_entry_points)


@pytest.mark.usefixtures("fake_plugins")
def test_plugin_commands_are_added() -> None:
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0
    assert result.output == "hello from a plugin\n"
    result = CliRunner().invoke(cli, ["registry", "--help"])
    assert "Create, list, show, edit and delete registries" in result.output


@pytest.mark.usefixtures("fake_plugins")
def test_a_plugin_command_takes_json_after_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    @click.command()
    def tell() -> None:
        seen.append(click.get_current_context().ensure_object(CliState).json_output)

    monkeypatch.setattr(hello, "callback", tell.callback)
    assert CliRunner().invoke(cli, ["hello", "--json"]).exit_code == 0
    assert CliRunner().invoke(cli, ["hello"]).exit_code == 0
    assert seen == [True, False]


@pytest.mark.usefixtures("fake_plugins")
def test_a_broken_plugin_does_not_break_the_cli() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "hello" in result.output
    assert "broken" in result.output
    assert "unavailable" in result.output
    result = CliRunner().invoke(cli, ["broken", "--some", "args"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: command 'broken' is unavailable")
    assert "No module named 'fastapi'" in result.stderr
    result = CliRunner().invoke(cli, ["weird"])
    assert result.exit_code == 1
    assert "not a click command" in result.stderr


def test_real_entry_points_are_read_from_the_group() -> None:
    assert all(isinstance(ep, EntryPoint) for ep in plugins.plugin_entry_points().values())


def test_the_client_never_imports_the_server() -> None:
    code = (
        "import sys, cairn, cairn.client.cli; "
        "print([m for m in sys.modules if m.startswith('cairn.server')])"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
