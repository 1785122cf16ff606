"""``cairn artifact``: push, pull, link, show, list and unlink artifact versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.filesize import decimal

from cairn.client._artifacts import Artifact
from cairn.client._errors import NotFoundError
from cairn.client._refs import parse_ref
from cairn.client._versions import LinkedVersion, Version
from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._options import merged_json_objects
from cairn.client.cli._output import print_json, show_done, show_list, show_one

LOGGED_COLUMNS = ("ref", "type", "aliases", "files", "size", "created_by", "created_at")
LINKED_COLUMNS = ("ref", "type", "aliases", "source", "files", "size", "linked_by", "linked_at")
FILE_COLUMNS = ("path", "size", "sha256")
DETAILS = ("ref", "type", "aliases", "description", "metadata", "files", "size")
LOGGED_FIELDS = (*DETAILS, "digest", "created_by", "created_at")
LINKED_FIELDS = (*DETAILS, "source", "linked_by", "linked_at")


def progress_of(state: CliState) -> bool | None:
    """Progress bars: never with ``--json``, else when stderr is a terminal."""
    return False if state.json_output else None


def summary(found: Version | LinkedVersion) -> dict[str, Any]:
    """The table row of a version: sizes for people, the source as its reference."""
    source = found.source if isinstance(found, LinkedVersion) else found
    return {
        **found.to_dict(),
        "source": found.source.ref if isinstance(found, LinkedVersion) else None,
        "description": source.description,
        "metadata": json.dumps(source.metadata, ensure_ascii=False) if source.metadata else None,
        "files": source.file_count,
        "size": decimal(source.size),
    }


def show_version(state: CliState, found: Version | LinkedVersion) -> None:
    """One version: every field and its files with ``--json``, else a summary table."""
    if state.json_output:
        print_json({**found.to_dict(), "files": found.files})
    else:
        fields = LINKED_FIELDS if isinstance(found, LinkedVersion) else LOGGED_FIELDS
        show_one(state, summary(found), fields)


def show_versions(state: CliState, versions: list[Any], columns: tuple[str, ...]) -> None:
    """A list of versions: every field with ``--json``, else one summary row each."""
    rows = versions if state.json_output else [summary(v) for v in versions]
    show_list(state, rows, columns, "Versions")


@click.group()
def artifact() -> None:
    """Push, pull, link, show, list and unlink artifact versions.

    \b
    Example:
      cairn artifact push model.safetensors --project nlp-team/sentiment --name bert --type model
    """


@artifact.command("push")
@click.argument("paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--project", required=True, metavar="ENTITY/PROJECT", help="Project to log into.")
@click.option("--name", required=True, help="Artifact name.")
@click.option("--type", "type_", required=True, metavar="TYPE", help="Artifact type, e.g. model.")
@click.option("--alias", "aliases", multiple=True, metavar="ALIAS", help="Alias (repeatable).")
@click.option(
    "--metadata",
    metavar="JSON",
    multiple=True,
    callback=merged_json_objects('{"f1": 0.91}'),
    help="A JSON object (repeatable: merged in order, later keys win).",
)
@click.option("--description", help="What this version is.")
@pass_state
def push(
    state: CliState,
    paths: tuple[str, ...],
    project: str,
    name: str,
    type_: str,
    aliases: tuple[str, ...],
    metadata: dict[str, Any] | None,
    description: str | None,
) -> None:
    """Log files and folders as a new version of artifact NAME in ENTITY/PROJECT.

    A file keeps its file name; a folder's contents go to the artifact's root (links to
    files are read, links to folders are not followed). Only the files the server does not
    have yet are uploaded; identical content gives back the existing version (aliases still
    applied), and says so.

    \b
    Examples:
      cairn artifact push model.safetensors tokenizer/ --project nlp-team/sentiment \\
          --name sentiment-bert --type model --alias candidate --metadata '{"f1": 0.91}'
    """
    built = Artifact(name, type=type_, description=description, metadata=metadata)
    for path in map(Path, paths):
        if path.is_dir():
            built.add_dir(path)
        else:
            built.add_file(path)
    version = state.api.log_artifact(
        built, project=project, aliases=aliases, progress=progress_of(state)
    )
    if version.new is False and not state.json_output:
        click.echo(f"Nothing new to log: {version.ref} holds the same files.", err=True)
    show_version(state, version)


@artifact.command("pull")
@click.argument("ref")
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    help="Folder to download into [default: ./artifacts/<name>-<version>].",
)
@click.option("--no-cache", is_flag=True, help="Neither use nor fill the local blob cache.")
@pass_state
def pull(state: CliState, ref: str, output: str | None, no_cache: bool) -> None:
    """Download the files of REF, verified; files already there are kept.

    \b
    Examples:
      cairn artifact pull Models/sentiment-classifier:production -o ./model
      cairn artifact pull nlp-team/sentiment/sentiment-bert:v3
    """
    found = state.api.artifact(ref)
    path = found.download(output, cache=not no_cache, progress=progress_of(state))
    count = len(found.files)
    show_done(
        state, f"Downloaded {found.ref} ({count} file{'' if count == 1 else 's'}) to {path}.",
        ref=found.ref, path=str(path), files=count,
    )  # fmt: skip


@artifact.command("show")
@click.argument("ref")
@pass_state
def show(state: CliState, ref: str) -> None:
    """Show the metadata and files of REF.

    \b
    Examples:
      cairn artifact show Models/sentiment-classifier:production
      cairn --json artifact show nlp-team/sentiment/sentiment-bert
    """
    found = state.api.artifact(ref)
    show_version(state, found)
    if state.json_output:
        return
    rows = [{"path": f.path, "size": decimal(f.size), "sha256": f.sha256} for f in found.files]
    show_list(state, rows, FILE_COLUMNS, "Files")


@artifact.command("ls")
@click.argument("prefix", metavar="REF_PREFIX")
@pass_state
def ls(state: CliState, prefix: str) -> None:
    """List the versions of a collection or of a logged artifact.

    REF_PREFIX is [ORG/]REGISTRY/COLLECTION, or ENTITY/PROJECT/ARTIFACT.

    \b
    Examples:
      cairn artifact ls Models/sentiment-classifier
      cairn artifact ls nlp-team/sentiment/sentiment-bert
    """
    parsed = parse_ref(prefix)
    if parsed.selector is not None:
        raise click.UsageError(f"{prefix!r} names a version; give the path without ':'")
    organizations = {o.name for o in state.api.organizations()} if not parsed.is_short else set()
    if parsed.is_short or parsed.parts[0] in organizations:
        try:
            linked = list(state.api.collection(prefix).versions())
        except NotFoundError as exc:
            if not parsed.is_short:
                raise
            raise click.ClickException(
                f"{exc}; {prefix} is read as REGISTRY/COLLECTION (for the versions of a logged "
                "artifact, give ENTITY/PROJECT/ARTIFACT)"
            ) from exc
        show_versions(state, linked, LINKED_COLUMNS)
    else:
        show_versions(state, state.api.artifact_versions(prefix), LOGGED_COLUMNS)


@artifact.command("link")
@click.argument("ref")
@click.argument("target")
@click.option("--alias", "aliases", multiple=True, metavar="ALIAS", help="Alias (repeatable).")
@pass_state
def link(state: CliState, ref: str, target: str, aliases: tuple[str, ...]) -> None:
    """Link the logged version REF into collection TARGET (created on first link).

    TARGET is REGISTRY/COLLECTION or ORG/REGISTRY/COLLECTION.

    \b
    Example:
      cairn artifact link nlp-team/sentiment/sentiment-bert:v0 Models/sentiment-classifier \\
          --alias staging
    """
    found = state.api.artifact(ref)
    if not isinstance(found, Version):
        raise click.UsageError(f"{ref!r} is a linked version; link its source {found.source.ref}")
    linked = found.link(target, aliases=aliases)
    show_version(state, linked)


@artifact.command("unlink")
@click.argument("ref")
@pass_state
def unlink(state: CliState, ref: str) -> None:
    """Remove the linked version REF from its collection (the logged version stays).

    REF must name the version: ``:vN``, an alias, or ``:latest`` written out; a bare
    collection is refused, so a typo cannot unlink whatever is newest.

    \b
    Example:
      cairn artifact unlink Models/sentiment-classifier:v2
    """
    found = state.api.artifact(ref)
    if not isinstance(found, LinkedVersion):
        raise click.UsageError(f"{ref!r} is a logged version, not a linked one")
    if parse_ref(ref).selector is None:
        raise click.ClickException(
            f"{ref} names no version; name the version to unlink, e.g. {ref}:{found.version}"
        )
    found.unlink()
    show_done(state, f"Unlinked {found.ref}.", unlinked=found.ref)
