"""``cairn org``: list and create organizations, and manage organization members."""

from __future__ import annotations

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_done, show_list, show_one

ORG_COLUMNS = ("name", "role", "created_at")
MEMBER_COLUMNS = ("username", "email", "role", "is_service", "active")
ROLE_HELP = "admin, member or viewer"


@click.group()
def org() -> None:
    """List and create organizations and manage their members.

    \b
    Example:
      cairn org members add bob --role member
    """


@org.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List the organizations you belong to, with your role in each.

    \b
    Example:
      cairn org list
    """
    show_list(state, state.api.organizations(), ORG_COLUMNS, "Organizations")


@org.command("create")
@click.argument("name")
@pass_state
def create(state: CliState, name: str) -> None:
    """Create organization NAME with its core registries (server superusers only).

    \b
    Example:
      cairn org create acme
    """
    show_one(state, state.api.create_organization(name))


@org.group("members")
def members() -> None:
    """List, add, re-role and remove members of the organization (see the global --org).

    \b
    Example:
      cairn --org acme org members list
    """


@members.command("list")
@pass_state
def members_list(state: CliState) -> None:
    """List the organization's members and their roles.

    \b
    Example:
      cairn org members list
    """
    show_list(state, state.api.org_members(), MEMBER_COLUMNS, "Members")


@members.command("add")
@click.argument("user")
@click.option("--role", help=f"Organization role: {ROLE_HELP} [default: member].")
@pass_state
def members_add(state: CliState, user: str, role: str | None) -> None:
    """Add an existing USER (username or email) to the organization.

    \b
    Example:
      cairn org members add bob@example.com --role viewer
    """
    show_one(state, state.api.add_org_member(user, role=role), MEMBER_COLUMNS)


@members.command("set-role")
@click.argument("user")
@click.argument("role")
@pass_state
def members_set_role(state: CliState, user: str, role: str) -> None:
    """Give USER the organization role ROLE (admin, member or viewer).

    \b
    Example:
      cairn org members set-role bob admin
    """
    show_one(state, state.api.set_org_role(user, role), MEMBER_COLUMNS)


@members.command("remove")
@click.argument("user")
@pass_state
def members_remove(state: CliState, user: str) -> None:
    """Remove USER from the organization.

    \b
    Example:
      cairn org members remove bob
    """
    state.api.remove_org_member(user)
    show_done(state, f"Removed {user} from the organization.", removed=user)
