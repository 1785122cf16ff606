"""The SQL that listing and reading a registry run, captured from the engine, with its plan."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, registries


@dataclass(frozen=True)
class Plan:
    """One statement as the server sends it, and the database's plan for it."""

    title: str
    sql: str
    plan: list[str]
    sql_ms: float
    sql_min_ms: float


def captured(engine: Engine, call: Callable[[], object]) -> list[tuple[str, Any]]:
    """Every (statement, parameters) the engine sends to the database while `call` runs."""
    seen: list[tuple[str, Any]] = []

    def listener(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, _many = args
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def _principal(s: Session, username: str) -> Principal:
    return accounts.as_principal(accounts.get_user(s, username), "key")


def _pick(statements: list[tuple[str, Any]], marker: str) -> tuple[str, Any]:
    for statement, parameters in statements:
        if marker in statement:
            return statement, parameters
    raise RuntimeError(f"no statement containing {marker!r} was executed")


def listing_sql(
    state: AppState, username: str, org: str, per_page: int, cursor: str | None
) -> tuple[str, Any]:
    """The page query of list_visible (the one with LIMIT), as the server runs it."""
    with state.readers() as s:
        actor = _principal(s, username)
        statements = captured(
            state.engine,
            lambda: registries.list_visible(s, actor, org, per_page=per_page, cursor=cursor),
        )
    return _pick(statements, "LIMIT")


def role_sql(state: AppState, username: str, org: str, registry: str) -> tuple[str, Any]:
    """The effective-role query behind GET registry (the UNION ALL of role sources)."""
    with state.readers() as s:
        actor = _principal(s, username)
        statements = captured(state.engine, lambda: registries.get(s, actor, org, registry))
    return _pick(statements, "UNION ALL")


def _sqlite_tree(rows: list[Any]) -> list[str]:
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return lines


def _run_ms(engine: Engine, statement: str, parameters: Any, runs: int) -> tuple[float, float]:
    """Median and least milliseconds to execute `statement` and fetch its rows."""
    times = []
    with engine.connect() as conn:
        for _ in range(runs):
            start = time.perf_counter()
            conn.exec_driver_sql(statement, parameters).all()
            times.append(time.perf_counter() - start)
        conn.rollback()
    return round(statistics.median(times) * 1000, 2), round(min(times) * 1000, 2)


def _plan_lines(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            lines = _sqlite_tree(list(rows))
        else:
            prefix = "EXPLAIN (ANALYZE, BUFFERS) "
            lines = [str(r) for r in conn.exec_driver_sql(prefix + statement, parameters).scalars()]
        conn.rollback()
    return lines


def explain(engine: Engine, title: str, statement: str, parameters: Any, runs: int = 50) -> Plan:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (ANALYZE, BUFFERS), and the median run time."""
    median, least = _run_ms(engine, statement, parameters, runs)
    return Plan(title, statement, _plan_lines(engine, statement, parameters), median, least)
