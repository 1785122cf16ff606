"""``cairn user``: create, list and deactivate users and service accounts."""

from __future__ import annotations

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_list, show_one
from cairn.client.cli.auth import read_password

USER_COLUMNS = ("username", "email", "role", "is_service", "active")


@click.group()
def user() -> None:
    """Create, list and deactivate users of an organization.

    \b
    Example:
      cairn user create bob --email bob@example.com --ask-password
    """


@user.command("create")
@click.argument("username")
@click.option("--email", help="The user's email address.")
@click.option("--service", is_flag=True, help="A service account: API keys only, no password.")
@click.option("--role", help="Organization role: admin, member or viewer [default: member].")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--ask-password", is_flag=True, help="Prompt for the password (hidden).")
@pass_state
def create(
    state: CliState,
    username: str,
    email: str | None,
    service: bool,
    role: str | None,
    password_stdin: bool,
    ask_password: bool,
) -> None:
    """Create user USERNAME and add them to the organization (org admins).

    \b
    Examples:
      cairn user create bob --email bob@example.com --ask-password
      cairn user create ci-bot --service
    """
    if service and (password_stdin or ask_password):
        raise click.UsageError("service accounts have no password")
    password = None
    if password_stdin or ask_password:
        password = read_password(from_stdin=password_stdin, confirm=True)
    created = state.api.create_user(
        username, email=email, password=password, service=service, role=role
    )
    show_one(state, created, USER_COLUMNS)


@user.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List the users of the organization.

    \b
    Example:
      cairn --org acme user list
    """
    show_list(state, state.api.users(), USER_COLUMNS, "Users")


@user.command("deactivate")
@click.argument("username")
@pass_state
def deactivate(state: CliState, username: str) -> None:
    """Deactivate USERNAME: their API keys and sessions stop working.

    \b
    Example:
      cairn user deactivate bob
    """
    show_one(state, state.api.deactivate_user(username), USER_COLUMNS)
