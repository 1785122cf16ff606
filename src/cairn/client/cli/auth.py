"""``cairn login``, ``cairn logout`` and ``cairn whoami``: the stored credentials."""

from __future__ import annotations

import socket
import sys

import click
import httpx

from cairn.client._config import (
    Credentials,
    credentials_path,
    delete_credentials,
    load_credentials,
    save_credentials,
)
from cairn.client._errors import CairnError
from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_done, show_one


def read_password(*, from_stdin: bool, confirm: bool = False) -> str:
    """A password: the first line of standard input, or a hidden prompt."""
    if not from_stdin:
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("--password-stdin: no password on standard input")
    return password


@click.command()
@click.option("--base-url", metavar="URL", help="Server to log in to (overrides the global one).")
@click.option("--username", "-u", help="Username or email (prompted for if omitted).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--key-name", metavar="NAME", help="Name of the API key to create.")
@pass_state
def login(
    state: CliState,
    base_url: str | None,
    username: str | None,
    password_stdin: bool,
    key_name: str | None,
) -> None:
    """Log in and store an API key for later commands.

    The key and server URL go to $CAIRN_CONFIG_DIR/credentials.json (default
    ~/.config/cairn/credentials.json), readable only by you.

    \b
    Examples:
      cairn login --base-url https://cairn.example.com --username alice
      echo "$PASSWORD" | cairn login -u alice --password-stdin
    """
    username = username or click.prompt("Username")
    password = read_password(from_stdin=password_stdin)
    api = state.connect(base_url=base_url)
    key = api.login(username, password, key_name=key_name or f"cairn-cli@{socket.gethostname()}")
    assert key.key is not None  # login always returns the new secret
    path = save_credentials(
        Credentials(base_url=api.base_url, api_key=key.key, key_id=key.id, username=key.username)
    )
    show_done(
        state,
        f"Logged in to {api.base_url} as {key.username}; credentials saved to {path}.",
        base_url=api.base_url,
        username=key.username,
        key_id=key.id,
        credentials_path=str(path),
    )


@click.command()
@pass_state
def logout(state: CliState) -> None:
    """Revoke the stored API key on the server (best effort) and delete it locally.

    \b
    Example:
      cairn logout
    """
    stored = load_credentials()
    if stored is None:
        show_done(state, "Not logged in.", logged_out=False)
        return
    if stored.key_id is not None:
        try:
            state.connect(base_url=stored.base_url, api_key=stored.api_key).revoke_api_key(
                stored.key_id
            )
        except (CairnError, httpx.HTTPError) as exc:
            click.echo(f"Warning: could not revoke the key on the server: {exc}", err=True)
    delete_credentials()
    show_done(
        state,
        f"Logged out of {stored.base_url}; removed {credentials_path()}.",
        logged_out=True,
        base_url=stored.base_url,
    )


@click.command()
@pass_state
def whoami(state: CliState) -> None:
    """Show who the configured API key belongs to, and their organizations.

    \b
    Example:
      cairn whoami
    """
    viewer = state.api.viewer()
    show_one(
        state,
        {"base_url": state.api.base_url, **vars(viewer)},
        ["base_url", "username", "email", "organizations", "default_organization"],
    )
