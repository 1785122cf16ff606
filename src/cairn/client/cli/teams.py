"""``cairn team``: create, list, show and delete teams, and manage their members."""

from __future__ import annotations

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_done, show_list, show_one

TEAM_COLUMNS = ("name", "description", "created_at")
MEMBER_COLUMNS = ("username", "role")


@click.group()
def team() -> None:
    """Create, list, show and delete teams and manage their members.

    \b
    Example:
      cairn team create ml-team --description "Model training"
    """


@team.command("create")
@click.argument("name")
@click.option("--description", help="What the team does.")
@pass_state
def create(state: CliState, name: str, description: str | None) -> None:
    """Create team NAME; you become its admin.

    \b
    Example:
      cairn team create ml-team --description "Model training"
    """
    show_one(state, state.api.create_team(name, description=description))


@team.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List the organization's teams.

    \b
    Example:
      cairn team list
    """
    show_list(state, state.api.teams(), TEAM_COLUMNS, "Teams")


@team.command("show")
@click.argument("name")
@pass_state
def show(state: CliState, name: str) -> None:
    """Show team NAME and its members.

    \b
    Example:
      cairn team show ml-team
    """
    found = state.api.team(name)
    details = {**found.to_dict(), "members": found.members()}
    if state.json_output:
        show_one(state, details)
        return
    show_one(state, found)
    show_list(state, details["members"], MEMBER_COLUMNS, "Members")


@team.command("add-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
@click.option("--role", help="Team role: admin or member [default: member].")
@pass_state
def add_member(state: CliState, team_name: str, username: str, role: str | None) -> None:
    """Add USER (username or email) to TEAM.

    \b
    Example:
      cairn team add-member ml-team alice --role admin
    """
    show_one(state, state.api.team(team_name).add_member(username, role=role))


@team.command("set-role")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
@click.argument("role")
@pass_state
def set_role(state: CliState, team_name: str, username: str, role: str) -> None:
    """Give USER the team role ROLE (admin or member).

    \b
    Example:
      cairn team set-role ml-team alice admin
    """
    show_one(state, state.api.team(team_name).update_member(username, role))


@team.command("remove-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
@pass_state
def remove_member(state: CliState, team_name: str, username: str) -> None:
    """Remove USER from TEAM.

    \b
    Example:
      cairn team remove-member ml-team alice
    """
    state.api.team(team_name).remove_member(username)
    show_done(state, f"Removed {username} from team {team_name}.", removed=username)


@team.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete(state: CliState, name: str, yes: bool) -> None:
    """Delete team NAME.

    \b
    Example:
      cairn team delete ml-team --yes
    """
    if not yes:
        click.confirm(f"Delete team {name!r}?", abort=True)
    state.api.team(name).delete()
    show_done(state, f"Deleted team {name}.", deleted=name)
