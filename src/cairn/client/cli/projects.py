"""``cairn project``: create, show and list the projects artifacts are logged into."""

from __future__ import annotations

import click

from cairn.client.cli._context import CliState, pass_state
from cairn.client.cli._output import show_list, show_one

PROJECT_COLUMNS = ("name", "description", "created_at")


@click.group()
def project() -> None:
    """Create, show and list projects (ENTITY/PROJECT: a team's or your own).

    \b
    Example:
      cairn project create nlp-team/sentiment --description "Sentiment models"
    """


@project.command("create")
@click.argument("path", metavar="ENTITY/PROJECT")
@click.option("--description", help="What the project holds.")
@pass_state
def create(state: CliState, path: str, description: str | None) -> None:
    """Create project ENTITY/PROJECT (a team you belong to, or your user name).

    Fails if it exists. Pushing an artifact creates a missing project too.

    \b
    Example:
      cairn project create nlp-team/sentiment --description "Sentiment models"
    """
    show_one(state, state.api.create_project(path, description=description))


@project.command("show")
@click.argument("path", metavar="ENTITY/PROJECT")
@pass_state
def show(state: CliState, path: str) -> None:
    """Show project ENTITY/PROJECT.

    \b
    Example:
      cairn project show nlp-team/sentiment
    """
    show_one(state, state.api.project(path))


@project.command("list")
@click.argument("entity")
@pass_state
def list_(state: CliState, entity: str) -> None:
    """List the projects of team or user ENTITY.

    \b
    Example:
      cairn project list nlp-team
    """
    show_list(state, state.api.projects(entity), PROJECT_COLUMNS, "Projects")
