"""``cairn collection``: create, list, show, edit and delete collections, and read their history."""

from __future__ import annotations

import itertools
from typing import Any

import click

from cairn.client._refs import collection_path
from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._options import parse_filter
from cairn.client.cli._output import show_done, show_list, show_one

LIST_COLUMNS = ("name", "type", "version_count", "aliases", "tags", "description")
EVENT_COLUMNS = ("at", "actor", "action", "target_name", "after")


@click.group()
def collection() -> None:
    """Create, list, show, edit and delete the collections of a registry.

    \b
    Example:
      cairn collection create Models/sentiment-classifier --type model
    """


@collection.command("create")
@click.argument("path", metavar="REGISTRY/COLLECTION")
@click.option("--type", "type_", required=True, metavar="TYPE", help="Artifact type (fixed).")
@click.option("--description", help="What the collection holds.")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag (repeatable).")
@pass_state
def create(
    state: CliState, path: str, type_: str, description: str | None, tags: tuple[str, ...]
) -> None:
    """Create a collection of TYPE artifacts in a registry ([ORG/]REGISTRY/COLLECTION).

    \b
    Example:
      cairn collection create Models/sentiment-classifier --type model --tag nlp
    """
    place = collection_path(path, lambda: state.api.default_organization)
    registry = state.api.registry(place.registry, organization=place.organization)
    created = registry.create_collection(
        place.collection, type=type_, description=description, tags=list(tags)
    )
    show_one(state, created)


@collection.command("list")
@click.argument("registry_name", metavar="REGISTRY")
@click.option(
    "--filter",
    "filter_",
    metavar="JSON",
    callback=parse_filter,
    help='W&B-style filter over name, description, type, tag, e.g. \'{"tag": "nlp"}\'.',
)
@click.option(
    "--per-page",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Collections fetched per request.",
)
@pass_state
def list_(
    state: CliState, registry_name: str, filter_: dict[str, Any] | None, per_page: int
) -> None:
    """List the collections of REGISTRY.

    \b
    Examples:
      cairn collection list Models
      cairn --json collection list Models --filter '{"name": {"$regex": "^sentiment"}}'
    """
    found = state.api.registry(registry_name).collections(filter=filter_, per_page=per_page)
    show_list(state, list(found), LIST_COLUMNS, "Collections")


@collection.command("show")
@click.argument("path", metavar="REGISTRY/COLLECTION")
@pass_state
def show(state: CliState, path: str) -> None:
    """Show a collection: type, description, tags, aliases and number of versions.

    \b
    Example:
      cairn collection show Models/sentiment-classifier
    """
    show_one(state, state.api.collection(path))


@collection.command("edit")
@click.argument("path", metavar="REGISTRY/COLLECTION")
@click.option("--rename", metavar="NEW_NAME", help="Rename the collection.")
@click.option("--description", help="New description.")
@click.option("--add-tag", "add_tags", multiple=True, metavar="TAG", help="Add TAG.")
@click.option(
    "--remove-tag",
    "remove_tags",
    multiple=True,
    metavar="TAG",
    help="Remove TAG (a warning says so if the collection does not have it).",
)
@pass_state
def edit(
    state: CliState,
    path: str,
    rename: str | None,
    description: str | None,
    add_tags: tuple[str, ...],
    remove_tags: tuple[str, ...],
) -> None:
    """Rename a collection or change its description or tags (its type is fixed).

    \b
    Example:
      cairn collection edit Models/sentiment-classifier --description "Prod models" --add-tag nlp
    """
    if not (rename or description is not None or add_tags or remove_tags):
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    target = state.api.collection(path)
    if rename:
        target.name = rename
    if description is not None:
        target.description = description
    for absent in dict.fromkeys(t for t in remove_tags if t not in target.tags):
        click.echo(f"Warning: {target.ref} has no tag {absent!r}; nothing to remove", err=True)
    kept = [t for t in target.tags if t not in remove_tags]
    target.tags = kept + [t for t in dict.fromkeys(add_tags) if t not in kept]
    target.save()
    show_one(state, target)


@collection.command("delete")
@click.argument("path", metavar="REGISTRY/COLLECTION")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete(state: CliState, path: str, yes: bool) -> None:
    """Delete a collection and unlink its versions (the logged versions stay).

    \b
    Example:
      cairn collection delete Models/old-classifier --yes
    """
    if not yes:
        click.confirm(f"Delete collection {path!r}?", abort=True)
    target = state.api.collection(path)
    target.delete()
    show_done(state, f"Deleted collection {target.ref}.", deleted=target.ref)


@collection.command("history")
@click.argument("path", metavar="REGISTRY/COLLECTION")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="Events to show."
)
@pass_state
def history(state: CliState, path: str, limit: int) -> None:
    """Show who linked, unlinked, moved aliases or changed a collection, newest first.

    \b
    Example:
      cairn collection history Models/sentiment-classifier --limit 20
    """
    events = state.api.collection(path).history(per_page=min(limit, 1000))
    show_list(state, list(itertools.islice(events, limit)), EVENT_COLUMNS, "History")
