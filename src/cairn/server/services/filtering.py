"""Compile a parsed W&B-style filter into one SQL condition, and keyset paging cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    SQLColumnExpression,
    String,
    and_,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BinaryExpression
from sqlalchemy.sql.functions import FunctionElement

from cairn.server.domain.errors import ValidationError
from cairn.server.domain.filters import JSON_PREFIX, AllOf, AnyOf, Compare, Expr, Negation


@dataclass(frozen=True)
class AnyRow:
    """A many-valued field (tags, aliases, types): the `column` of the rows `link` relates,
    plus `implied`, a value no row stores that every item meeting its condition holds."""

    column: SQLColumnExpression[Any]
    link: ColumnElement[bool]
    implied: tuple[str, ColumnElement[bool]] | None = None


Columns = Mapping[str, "SQLColumnExpression[Any] | AnyRow"]


def compile_filter(
    expr: Expr | None, columns: Columns, metadata: SQLColumnExpression[Any] | None = None
) -> ColumnElement[bool]:
    """The SQL condition for `expr` over the named columns (no filter: TRUE).

    `metadata` is the JSON column that `metadata.<key>` fields read.
    """
    if expr is None:
        return true()
    if isinstance(expr, AllOf):
        return and_(*(compile_filter(p, columns, metadata) for p in expr.parts))
    if isinstance(expr, AnyOf):
        return or_(*(compile_filter(p, columns, metadata) for p in expr.parts))
    if isinstance(expr, Negation):
        # SQL's NOT(NULL) is NULL; a filter's complement must match where it did not.
        return not_(func.coalesce(compile_filter(expr.part, columns, metadata), false()))
    if expr.field.startswith(JSON_PREFIX):
        assert metadata is not None, "metadata filters need the metadata column"
        return _compare_json(expr, metadata, expr.field.removeprefix(JSON_PREFIX))
    target = columns[expr.field]
    if isinstance(target, AnyRow):
        return _compare_rows(expr, target)
    return _compare(expr, target)


def _compare_rows(c: Compare, rows: AnyRow) -> ColumnElement[bool]:
    """MongoDB's array semantics: $ne/$nin hold when NO value matches, the others when any does."""
    if c.op == "$exists":
        return _exists(c, _any_value(rows, None))
    if c.op in ("$ne", "$nin"):
        return not_(_any_value(rows, Compare(c.field, "$eq" if c.op == "$ne" else "$in", c.value)))
    return _any_value(rows, c)


def _exists(c: Compare, present: ColumnElement[bool]) -> ColumnElement[bool]:
    """`$exists: true` as the condition that the field is `present`, `false` as its complement."""
    return present if c.value else not_(present)


def _any_value(rows: AnyRow, c: Compare | None) -> ColumnElement[bool]:
    """Whether some value of `rows` satisfies `c` (None: whether there is any value)."""
    stored = exists().where(rows.link, *([] if c is None else [_compare(c, rows.column)]))
    if rows.implied is None:
        return stored
    value, holds = rows.implied
    return or_(stored, holds if c is None else and_(holds, _compare(c, literal(value, String))))


class _HasKey(FunctionElement[bool]):
    """Whether a JSON item `column[key]` is present, even when its value is null."""

    type = Boolean()
    inherit_cache = True


@compiles(_HasKey)
def _has_key_default(element: _HasKey, compiler: SQLCompiler, **kw: Any) -> str:
    # PostgreSQL's `->` answers a JSON null for a null value and SQL NULL for a missing key.
    return f"({compiler.process(element.clauses, **kw)}) IS NOT NULL"


@compiles(_HasKey, "sqlite")
def _has_key_sqlite(element: _HasKey, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's JSON_EXTRACT gives SQL NULL for both; JSON_TYPE tells them apart ('null').
    (item,) = element.clauses
    assert isinstance(item, BinaryExpression)
    column, key = compiler.process(item.left, **kw), compiler.process(item.right, **kw)
    return f"JSON_TYPE({column}, {key}) IS NOT NULL"


def _compare_json(c: Compare, column: SQLColumnExpression[Any], key: str) -> ColumnElement[bool]:
    """Compare one top-level metadata value, as a number, a boolean or a string by its operand."""
    element = column[key]
    if c.op == "$exists":
        return _exists(c, _HasKey(element))
    sample = c.value[0] if isinstance(c.value, tuple) and c.value else c.value
    if isinstance(sample, bool):
        typed = element.as_boolean()
    elif isinstance(sample, float):
        typed = element.as_float()
    else:
        typed = element.as_string()
    return _compare(c, typed)


def _compare(c: Compare, col: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    v = c.value
    if c.op == "$exists":
        return _exists(c, col.is_not(None))
    if c.op == "$regex":
        return col.regexp_match(str(v))
    if c.op in ("$in", "$nin"):
        listed = v if isinstance(v, tuple) else ()
        values = [x for x in listed if x is not None]
        matches_null = None in listed
        in_values = col.in_(values) if values else false()
        if c.op == "$in":
            return or_(in_values, col.is_(None)) if matches_null else in_values
        # Like MongoDB, a null field is "not in" any list that does not name null.
        if matches_null:
            return and_(not_(in_values), col.is_not(None))
        return or_(not_(in_values), col.is_(None))
    if v is None:
        if c.op == "$eq":
            return col.is_(None)
        if c.op == "$ne":
            return col.is_not(None)
        raise ValidationError(f"{c.op} cannot compare with null")
    ops = {
        "$eq": col == v,
        "$ne": or_(col != v, col.is_(None)),
        "$gt": col > v,
        "$gte": col >= v,
        "$lt": col < v,
        "$lte": col <= v,
    }
    return ops[c.op]


def encode_cursor(value: str | datetime, row_id: int) -> str:
    """An opaque cursor pointing just after (value, id)."""
    raw = value.isoformat() if isinstance(value, datetime) else value
    data = json.dumps([raw, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cursor(cursor: str, is_time: bool) -> tuple[str | datetime, int]:
    """The (value, id) inside a cursor from encode_cursor; 422 when it is not one."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, row_id = data
        if not isinstance(value, str) or type(row_id) is not int or not 0 < row_id < 2**63:
            raise TypeError
        if "\0" in value or len(value) > 1024:
            raise TypeError
        return (datetime.fromisoformat(value) if is_time else value), row_id
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise ValidationError("invalid cursor; pass the next_cursor of a previous page") from None


def parse_filter_json(raw: str | None) -> Any:
    """The filter document from its JSON text (query parameter)."""
    if raw is None or raw == "":
        return None
    if len(raw) > 16_384:
        raise ValidationError("filter is too long (at most 16 KiB of JSON)")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"filter is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValidationError("filter is nested too deeply") from None
