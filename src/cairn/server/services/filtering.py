"""Compile a parsed W&B-style filter into one SQL condition, and keyset paging cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, not_, or_, true

from cairn.server.domain.errors import ValidationError
from cairn.server.domain.filters import AllOf, AnyOf, Compare, Expr, Negation

Columns = Mapping[str, SQLColumnExpression[Any]]


def compile_filter(expr: Expr | None, columns: Columns) -> ColumnElement[bool]:
    """The SQL condition for `expr` over the named columns (no filter: TRUE)."""
    if expr is None:
        return true()
    if isinstance(expr, AllOf):
        return and_(*(compile_filter(p, columns) for p in expr.parts))
    if isinstance(expr, AnyOf):
        return or_(*(compile_filter(p, columns) for p in expr.parts))
    if isinstance(expr, Negation):
        return not_(compile_filter(expr.part, columns))
    return _compare(expr, columns[expr.field])


def _compare(c: Compare, col: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    v = c.value
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
        if not isinstance(value, str) or not isinstance(row_id, int):
            raise TypeError
        return (datetime.fromisoformat(value) if is_time else value), row_id
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
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
