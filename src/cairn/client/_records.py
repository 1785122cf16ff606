"""Builds the SDK's frozen record dataclasses from the API's JSON objects."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware ``datetime`` (naive ones are taken as UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@functools.cache
def _time_fields(cls: type[DataclassInstance]) -> frozenset[str]:
    """Names of the fields of ``cls`` annotated ``datetime`` or ``datetime | None``."""
    hints = typing.get_type_hints(cls)
    return frozenset(
        name for name, hint in hints.items() if datetime in (hint, *typing.get_args(hint))
    )


def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
    """``cls`` from ``data``: unknown keys are ignored, absent ones default (or are ``None``)."""
    times = _time_fields(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in data:
            value = data[field.name]
            kwargs[field.name] = parse_time(value) if field.name in times else value
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            kwargs[field.name] = None
    return cls(**kwargs)


def without_none(**fields: Any) -> dict[str, Any]:
    """``fields`` less the ``None`` ones: a request body's unset optional fields."""
    return {name: value for name, value in fields.items() if value is not None}
