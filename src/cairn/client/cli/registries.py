"""``cairn registry``: create, list, show, edit and delete registries, and manage their members."""

from __future__ import annotations

from typing import Any

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._options import parse_filter
from cairn.client.cli._output import show_done, show_list, show_one

LIST_COLUMNS = ("name", "visibility", "artifact_types", "role", "description")
MEMBER_COLUMNS = ("kind", "name", "email", "role")
ORDERS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at")
ROLES_HELP = "restricted_viewer, viewer, member or admin"


@click.group()
def registry() -> None:
    """Create, list, show, edit and delete registries and manage their members.

    \b
    Example:
      cairn registry create Fine_Tuned_Models --visibility restricted --type model
    """


@registry.command("create")
@click.argument("name")
@click.option(
    "--visibility",
    type=click.Choice(["restricted", "organization"]),
    default="restricted",
    show_default=True,
    help="restricted: invited members only; organization: every org member can view.",
)
@click.option(
    "--type",
    "artifact_types",
    multiple=True,
    metavar="TYPE",
    help="Accepted artifact type (repeatable); none means all types.",
)
@click.option("--description", help="What the registry holds.")
@click.option("--owner-team", metavar="TEAM", help="Team whose admins administer the registry.")
@pass_state
def create(
    state: CliState,
    name: str,
    visibility: str,
    artifact_types: tuple[str, ...],
    description: str | None,
    owner_team: str | None,
) -> None:
    """Create registry NAME; you become its admin.

    \b
    Examples:
      cairn registry create Fine_Tuned_Models --visibility restricted --type model
      cairn registry create "Shared Datasets" --visibility organization --type dataset
    """
    created = state.api.create_registry(
        name=name,
        visibility=visibility,
        description=description,
        artifact_types=list(artifact_types) or None,
        owner_team=owner_team,
    )
    show_one(state, created)


@registry.command("list")
@click.option(
    "--filter",
    "filter_",
    metavar="JSON",
    callback=parse_filter,
    help='W&B-style filter, e.g. \'{"name": {"$regex": "^Fine"}}\'.',
)
@click.option("--order", type=click.Choice(ORDERS), help="Sort key; '-' for descending.")
@click.option(
    "--per-page",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Registries fetched per request.",
)
@pass_state
def list_(
    state: CliState, filter_: dict[str, Any] | None, order: str | None, per_page: int
) -> None:
    """List the registries you can see.

    \b
    Examples:
      cairn registry list
      cairn --json registry list --filter '{"name": {"$regex": "^Fine"}}' --order -created_at
    """
    found = state.api.registries(filter=filter_, order=order, per_page=per_page)
    show_list(state, list(found), LIST_COLUMNS, "Registries")


@registry.command("show")
@click.argument("name")
@pass_state
def show(state: CliState, name: str) -> None:
    """Show the settings of registry NAME.

    \b
    Example:
      cairn registry show Fine_Tuned_Models
    """
    show_one(state, state.api.registry(name))


@registry.command("edit")
@click.argument("name")
@click.option("--description", help="New description.")
@click.option("--visibility", type=click.Choice(["restricted", "organization"]))
@click.option("--add-type", "add_types", multiple=True, metavar="TYPE", help="Accept TYPE too.")
@click.option("--rename", metavar="NEW_NAME", help="Rename the registry.")
@click.option(
    "--protect-alias",
    "protect_aliases",
    multiple=True,
    metavar="ALIAS",
    help="Make ALIAS a protected alias (repeatable).",
)
@pass_state
def edit(
    state: CliState,
    name: str,
    description: str | None,
    visibility: str | None,
    add_types: tuple[str, ...],
    rename: str | None,
    protect_aliases: tuple[str, ...],
) -> None:
    """Change the settings of registry NAME (accepted types can only be added).

    \b
    Examples:
      cairn registry edit Fine_Tuned_Models --description "LoRA fine-tunes" --add-type checkpoint
      cairn registry edit Fine_Tuned_Models --visibility organization --protect-alias production
    """
    if not (description is not None or visibility or add_types or rename or protect_aliases):
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    target = state.api.registry(name)
    if description is not None:
        target.description = description
    if visibility:
        target.visibility = visibility
    if rename:
        target.name = rename
    target.artifact_types.extend(add_types)
    target.protected_aliases += [a for a in protect_aliases if a not in target.protected_aliases]
    target.save()
    show_one(state, target)


@registry.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete(state: CliState, name: str, yes: bool) -> None:
    """Delete registry NAME and everything linked in it.

    \b
    Example:
      cairn registry delete Old_Models --yes
    """
    if not yes:
        click.confirm(f"Delete registry {name!r}?", abort=True)
    target = state.api.registry(name)
    target.delete()
    show_done(state, f"Deleted registry {target.full_name}.", deleted=target.full_name)


@registry.group("members")
def members() -> None:
    """List, add, remove and re-role the members of a registry.

    \b
    Example:
      cairn registry members add Fine_Tuned_Models alice ml-team --role member
    """


@members.command("list")
@click.argument("registry_name", metavar="REGISTRY")
@pass_state
def members_list(state: CliState, registry_name: str) -> None:
    """List the users and teams that are members of REGISTRY.

    \b
    Example:
      cairn registry members list Fine_Tuned_Models
    """
    show_list(state, state.api.registry(registry_name).members(), MEMBER_COLUMNS, "Members")


@members.command("add")
@click.argument("registry_name", metavar="REGISTRY")
@click.argument("member_names", metavar="MEMBER...", nargs=-1, required=True)
@click.option("--role", help=f"Role to grant: {ROLES_HELP} [default: restricted_viewer].")
@pass_state
def members_add(
    state: CliState, registry_name: str, member_names: tuple[str, ...], role: str | None
) -> None:
    """Add users (by username or email) or teams (by name) to REGISTRY.

    \b
    Example:
      cairn registry members add Fine_Tuned_Models alice bob@example.com ml-team --role viewer
    """
    added = state.api.registry(registry_name).add_members(*member_names, role=role)
    show_list(state, added, MEMBER_COLUMNS, "Added members")


@members.command("remove")
@click.argument("registry_name", metavar="REGISTRY")
@click.argument("member_names", metavar="MEMBER...", nargs=-1, required=True)
@pass_state
def members_remove(state: CliState, registry_name: str, member_names: tuple[str, ...]) -> None:
    """Remove users or teams from REGISTRY.

    \b
    Example:
      cairn registry members remove Fine_Tuned_Models alice ml-team
    """
    state.api.registry(registry_name).remove_members(*member_names)
    show_done(
        state,
        f"Removed {', '.join(member_names)} from {registry_name}.",
        removed=list(member_names),
    )


@members.command("set-role")
@click.argument("registry_name", metavar="REGISTRY")
@click.argument("member_name", metavar="MEMBER")
@click.argument("role")
@pass_state
def members_set_role(state: CliState, registry_name: str, member_name: str, role: str) -> None:
    """Give MEMBER of REGISTRY the role ROLE (restricted_viewer, viewer, member or admin).

    \b
    Example:
      cairn registry members set-role Fine_Tuned_Models alice admin
    """
    updated = state.api.registry(registry_name).update_member(member_name, role)
    show_list(state, [updated], MEMBER_COLUMNS, "Member")
