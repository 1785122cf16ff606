"""Engines and sessions: SQLite with WAL and foreign keys, or a pooled PostgreSQL."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    import psycopg

# A writer waits this long for SQLite's write lock, then the request answers 503: a database
# locked by something else must not hang requests (SECURITY.md: no hang over 5 s).
SQLITE_BUSY_TIMEOUT_MS = 4_000
READER_BUSY_TIMEOUT_S = 0.05
# libpq's connect_timeout (its minimum): an unreachable or hung PostgreSQL answers 503 promptly.
POSTGRES_CONNECT_TIMEOUT_S = 2


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """Build the engine for `url` with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is disabled so BEGIN IMMEDIATE below takes effect.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # A writing transaction takes the write lock up front: one that read first and then
    # upgraded would fail with SQLITE_BUSY instead of waiting when two requests write at once.
    # Readers begin deferred, so WAL lets them run beside a writer.
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


WRITE_OPTION = "cairn_writes"


def make_sessionmakers(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(readers, writers): sessions that keep loaded values after commit."""
    writer = engine.execution_options(**{WRITE_OPTION: True})
    return (
        sessionmaker(engine, expire_on_commit=False),
        sessionmaker(writer, expire_on_commit=False),
    )


def sqlite_reader(engine: Engine) -> sqlite3.Connection:
    """A connection of its own to the engine's SQLite file for one-statement reads in
    autocommit; it gives up on a lock after 50 ms instead of holding its caller."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    return sqlite3.connect(
        args[0],
        timeout=READER_BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
        uri=bool(kwargs.get("uri", False)),
    )


async def postgres_reader(engine: Engine) -> psycopg.AsyncConnection[Any]:
    """An asynchronous connection of its own to the engine's PostgreSQL, in autocommit."""
    import psycopg  # here: a server on SQLite need not load it (~9 MiB)

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs.pop("context", None)  # SQLAlchemy's adapters are for its own connections
    return await psycopg.AsyncConnection.connect(*args, autocommit=True, **kwargs)
