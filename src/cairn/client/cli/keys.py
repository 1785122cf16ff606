"""``cairn key``: create, list and revoke API keys (your own or a service account's)."""

from __future__ import annotations

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_done, show_list, show_one

KEY_COLUMNS = ("id", "name", "prefix", "username", "created_at", "last_used_at")
FOR_OPTION_HELP = "A service account to act for (its organization admins only)."


@click.group()
def key() -> None:
    """Create, list and revoke API keys.

    \b
    Example:
      cairn key create ci --for ci-bot
    """


@key.command("create")
@click.argument("name")
@click.option("--for", "for_user", metavar="SERVICE_ACCOUNT", help=FOR_OPTION_HELP)
@pass_state
def create(state: CliState, name: str, for_user: str | None) -> None:
    """Create API key NAME; its secret is printed once and never again.

    \b
    Examples:
      cairn key create laptop
      cairn --json key create ci --for ci-bot
    """
    created = state.api.create_api_key(name, user=for_user)
    show_one(state, created, (*KEY_COLUMNS[:4], "key"))
    if not state.json_output:
        click.echo("Copy the key now: it cannot be shown again.", err=True)


@key.command("list")
@click.option("--for", "for_user", metavar="SERVICE_ACCOUNT", help=FOR_OPTION_HELP)
@pass_state
def list_(state: CliState, for_user: str | None) -> None:
    """List API keys (never their secrets).

    \b
    Examples:
      cairn key list
      cairn key list --for ci-bot
    """
    show_list(state, state.api.api_keys(user=for_user), KEY_COLUMNS, "API keys")


@key.command("revoke")
@click.argument("key_id", metavar="KEY_ID", type=int)
@pass_state
def revoke(state: CliState, key_id: int) -> None:
    """Revoke the API key with id KEY_ID (see `cairn key list`).

    \b
    Example:
      cairn key revoke 42
    """
    state.api.revoke_api_key(key_id)
    show_done(state, f"Revoked API key {key_id}.", revoked=key_id)
