"""The ``cairn`` command: global options, one place for error reporting, and plugin commands."""

from __future__ import annotations

from typing import Any

import click
import httpx

from cairn.client._errors import CairnError
from cairn.client.cli import (
    aliases,
    artifacts,
    auth,
    collections,
    keys,
    org,
    projects,
    registries,
    teams,
    users,
)
from cairn.client.cli._context import CliState
from cairn.client.cli._plugins import load_plugin, plugin_entry_points


class CairnGroup(click.Group):
    """The root group: reports failures as one ``Error:`` line and adds plugin commands."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CairnError, httpx.HTTPError, OSError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise click.ClickException(message) from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *plugin_entry_points()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            entry_point = plugin_entry_points().get(cmd_name)
            if entry_point is not None:
                command = load_plugin(cmd_name, entry_point)
                if command is not None:
                    accept_json_after(command)
        return command


def _json_requested(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliState).json_output = True


def accept_json_after(command: click.Command) -> None:
    """Give every command under ``command`` its own ``--json`` flag, the same as the global
    one, so that ``cairn artifact ls --json`` works as ``cairn --json artifact ls`` does
    (a command with a ``--json`` of its own keeps it)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_json_after(sub)
        return
    if any("--json" in getattr(param, "opts", ()) for param in command.params):
        return
    command.params.append(
        click.Option(
            ["--json"],
            is_flag=True,
            expose_value=False,
            callback=_json_requested,
            help="Print machine-readable JSON (as `cairn --json ...`).",
        )
    )


@click.group(cls=CairnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--base-url",
    metavar="URL",
    help="Server URL [default: $CAIRN_BASE_URL, the logged-in server, or http://127.0.0.1:8080].",
)
@click.option(
    "--api-key",
    metavar="KEY",
    help="API key [default: $CAIRN_API_KEY or the key stored by `cairn login`].",
)
@click.option(
    "--org",
    "organization",
    metavar="ORG",
    help="Organization [default: $CAIRN_ORG or your default organization].",
)
@click.option("--json", "json_output", is_flag=True, help="Print machine-readable JSON.")
@click.version_option(package_name="cairn-registry", prog_name="cairn")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str | None,
    api_key: str | None,
    organization: str | None,
    json_output: bool,
) -> None:
    """Cairn: manage artifacts, registries, collections, members, users, teams and API keys.

    \b
    Examples:
      cairn login --base-url https://cairn.example.com --username alice
      cairn registry create Fine_Tuned_Models --visibility restricted --type model
      cairn artifact pull Models/sentiment-classifier:production -o ./model
      cairn --json registry list
    """
    state = ctx.ensure_object(CliState)
    state.base_url = base_url or state.base_url
    state.api_key = api_key or state.api_key
    state.organization = organization or state.organization
    state.json_output = json_output or state.json_output
    ctx.call_on_close(state.close)


for _command in (
    auth.login,
    auth.logout,
    auth.whoami,
    registries.registry,
    collections.collection,
    artifacts.artifact,
    projects.project,
    aliases.alias,
    users.user,
    teams.team,
    keys.key,
    org.org,
):
    accept_json_after(_command)
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``cairn`` console script."""
    cli(prog_name="cairn")
