"""Option parsers shared by the CLI's commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

Callback = Callable[[click.Context, click.Parameter, str | None], Any]


def json_object(example: str) -> Callback:
    """A click callback: the option's value as a JSON object, or a usage error citing `example`."""

    def parse(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise click.BadParameter(f"must be a JSON object, e.g. '{example}'")
        return parsed

    return parse


def merged_json_objects(example: str) -> Callback:
    """A click callback for a repeatable option: its JSON objects merged in order (a later
    one's keys win), None when not given; a usage error citing `example` for a bad one."""
    one = json_object(example)

    def parse(ctx: click.Context, param: click.Parameter, values: Any) -> Any:
        if not values:
            return None
        merged: dict[str, Any] = {}
        for value in values:
            merged.update(one(ctx, param, value))
        return merged

    return parse


# `--filter`: a W&B-style filter document.
parse_filter = json_object('{"name": {"$regex": "^Fine"}}')
