"""W&B-style filter documents parsed into a small, bounded expression tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cairn.server.domain.errors import ValidationError

COMPARISONS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex"})
OPERATORS = COMPARISONS | {"$exists", "$not", "$and", "$or"}
MAX_NODES = 100
MAX_DEPTH = 8
MAX_LIST = 100
MAX_PATTERN = 256

Scalar = str | datetime | float | bool | None
JSON_PREFIX = "metadata."


@dataclass(frozen=True)
class Compare:
    """`field op value`; for $in/$nin the value is a tuple, for $exists a bool."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class AllOf:
    """Every part holds."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Negation:
    """The part does not hold."""

    part: Expr


Expr = Compare | AllOf | AnyOf | Negation


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0

    def spend(self, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValidationError(f"filter is too large (at most {MAX_NODES} conditions)")
        if depth > MAX_DEPTH:
            raise ValidationError(f"filter is nested too deeply (at most {MAX_DEPTH} levels)")


def parse_filter(doc: Any, fields: dict[str, type]) -> Expr | None:
    """Parse a filter over `fields` (name → str, datetime, or object for `metadata.<key>`).

    None means no filter. When `fields` has "metadata", keys `metadata.<key>` compare JSON values.
    """
    if doc is None or doc == {}:
        return None
    return _parse_doc(doc, fields, _Budget(), 0)


def _parse_doc(doc: Any, fields: dict[str, type], budget: _Budget, depth: int) -> Expr:
    budget.spend(depth)
    if not isinstance(doc, dict) or not doc:
        raise ValidationError("a filter must be a non-empty JSON object")
    parts: list[Expr] = []
    for key, value in doc.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise ValidationError(f"{key} takes a non-empty list of filters")
            subs = tuple(_parse_doc(v, fields, budget, depth + 1) for v in value)
            parts.append(AllOf(subs) if key == "$and" else AnyOf(subs))
        elif key == "$not":
            parts.append(Negation(_parse_doc(value, fields, budget, depth + 1)))
        elif key in fields:
            parts.append(_parse_field(key, value, fields[key], budget, depth + 1))
        elif key.startswith(JSON_PREFIX) and "metadata" in fields and len(key) > len(JSON_PREFIX):
            if len(key) > 256:
                raise ValidationError("metadata keys in filters are at most 247 characters")
            parts.append(_parse_field(key, value, object, budget, depth + 1))
        else:
            known = ", ".join(sorted(fields))
            if key.startswith("$"):
                raise ValidationError(
                    f"unknown filter operator {key!r}; valid operators: {_operators()}; "
                    f"filterable fields: {known}"
                )
            raise ValidationError(f"cannot filter on {key!r}; filterable fields: {known}")
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _parse_field(field: str, value: Any, kind: type, budget: _Budget, depth: int) -> Expr:
    budget.spend(depth)
    if not isinstance(value, dict):
        return Compare(field, "$eq", _scalar(field, value, kind))
    if not value:
        raise ValidationError(f"the condition on {field!r} is empty")
    parts: list[Expr] = []
    for op, operand in value.items():
        if op == "$not":
            parts.append(Negation(_parse_field(field, operand, kind, budget, depth + 1)))
        elif op in ("$and", "$or"):
            raise ValidationError(f"{op} combines whole filters, not conditions on {field!r}")
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise ValidationError(f"$exists on {field!r} takes true or false")
            parts.append(Compare(field, op, operand))
        elif op not in COMPARISONS:
            raise ValidationError(
                f"unknown filter operator {op!r}; valid operators: {_operators()}"
            )
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list) or len(operand) > MAX_LIST:
                raise ValidationError(f"{op} takes a list of at most {MAX_LIST} values")
            parts.append(Compare(field, op, tuple(_scalar(field, v, kind) for v in operand)))
        elif op == "$regex":
            if kind is datetime:
                raise ValidationError(f"$regex does not apply to the date-time field {field!r}")
            parts.append(Compare(field, op, _pattern(operand)))
        else:
            parts.append(Compare(field, op, _scalar(field, operand, kind)))
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _operators() -> str:
    return " ".join(sorted(OPERATORS))


def _scalar(field: str, value: Any, kind: type) -> Scalar:
    if value is None:
        return None
    if kind is object:  # a metadata value: any JSON scalar
        if isinstance(value, bool | str) or (isinstance(value, int | float) and abs(value) < 1e300):
            if isinstance(value, str):
                return _text(value)
            return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        raise ValidationError(f"{field!r} is compared with a string, number, boolean or null")
    if kind is datetime:
        if not isinstance(value, str):
            raise ValidationError(f"{field!r} is compared with an ISO 8601 date-time string")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            return aware.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ValidationError(f"{value[:40]!r} is not an ISO 8601 date-time in range") from None
    if not isinstance(value, str) or len(value) > 4096:
        raise ValidationError(f"{field!r} is compared with a string")
    return _text(value)


def _text(value: str) -> str:
    if "\0" in value:
        raise ValidationError("filter values must not contain NUL characters")
    return value


def _pattern(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_PATTERN:
        raise ValidationError(f"$regex takes a pattern string of at most {MAX_PATTERN} characters")
    _text(value)
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"invalid regular expression: {exc}") from None
    return value
