"""``cairn alias``: add, move and remove the aliases of linked versions."""

from __future__ import annotations

import click

from cairn.client._versions import LinkedVersion
from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_done


@click.group()
def alias() -> None:
    """Add, move and remove aliases of linked versions in a collection.

    \b
    Example:
      cairn alias set Models/sentiment-classifier:v3 production
    """


@alias.command("set")
@click.argument("ref")
@click.argument("name", metavar="ALIAS")
@pass_state
def set_(state: CliState, ref: str, name: str) -> None:
    """Point ALIAS at the linked version REF ([ORG/]REGISTRY/COLLECTION:vN), moving it there.

    \b
    Example:
      cairn alias set Models/sentiment-classifier:v3 production
    """
    found = state.api.artifact(ref)
    if not isinstance(found, LinkedVersion):
        raise click.UsageError(f"{ref!r} is a logged version; aliases here are per collection")
    found.set_alias(name)
    show_done(
        state, f"{found.ref} now has alias {name!r} ({', '.join(found.aliases)}).",
        ref=found.ref, alias=name, aliases=found.aliases,
    )  # fmt: skip


@alias.command("rm")
@click.argument("collection", metavar="REGISTRY/COLLECTION")
@click.argument("name", metavar="ALIAS")
@pass_state
def rm(state: CliState, collection: str, name: str) -> None:
    """Remove ALIAS from the collection REGISTRY/COLLECTION (or ORG/REGISTRY/COLLECTION).

    \b
    Example:
      cairn alias rm Models/sentiment-classifier staging
    """
    found = state.api.collection(collection)
    found.remove_alias(name)
    show_done(state, f"Removed alias {name!r} from {found.ref}.", collection=found.ref, alias=name)
