"""How commands print results: rich tables for people, ``--json`` for machines, on stdout."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cairn.client.cli._context import CliState


def fields_of(value: Any) -> Any:
    """A record's or SDK object's fields as a dict; any other value as it is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def jsonable(value: Any) -> Any:
    """``value`` with records, SDK objects and datetimes turned into plain JSON values."""
    value = fields_of(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> Text:
    """One table cell; user text is never read as rich markup."""
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, Mapping):
        return Text(", ".join(f"{key} ({item})" for key, item in value.items()) or "-")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(item) for item in value) or "-")
    if isinstance(value, datetime):
        return Text(value.strftime("%Y-%m-%d %H:%M:%S"))
    return Text(str(value))


def _console() -> Console:
    """A console on the current stdout; unwrapped (wide) when stdout is not a terminal."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=240)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def show_list(state: CliState, items: Sequence[Any], columns: Sequence[str], title: str) -> None:
    """A list: a table of ``columns`` (one row per item), or every field with ``--json``."""
    if state.json_output:
        print_json(items)
        return
    rows = [fields_of(item) for item in items]
    if not rows:
        click.echo(f"No {title.lower()}.")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    _console().print(table)


def show_one(state: CliState, item: Any, fields: Sequence[str] | None = None) -> None:
    """One object: a field/value table (of ``fields``, if given), or all of it with ``--json``."""
    if state.json_output:
        print_json(item)
        return
    record = fields_of(item)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name in fields or list(record):
        table.add_row(name.replace("_", " "), _cell(record.get(name)))
    _console().print(table)


def show_done(state: CliState, message: str, **data: Any) -> None:
    """The outcome of an action: ``message``, or ``data`` as JSON with ``--json``."""
    if state.json_output:
        print_json(data)
    else:
        click.echo(message)
