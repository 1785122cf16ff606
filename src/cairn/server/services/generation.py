"""The catalogue's generation number: bumped by every committed change, read per request."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, event, text, update
from sqlalchemy.orm import Session, sessionmaker

from cairn.server.db import engine as db_engine
from cairn.server.db.models import ServerState

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("cairn.server")
MEMORY = (None, "", ":memory:")  # an in-memory SQLite database is private to one connection
READ_TIMEOUT_S = 1.0  # the read takes well under a millisecond; past this, fall back

DIRTY = "cairn_dirty"
# Writes that change nothing a cached answer depends on: usage stamps, the audit trail and
# blob bookkeeping (blobs are immutable; which versions name them is what counts).
_IGNORED = (
    "update api_keys set last_used_at",
    "insert into audit_events",
    "insert into blob_uploads",
    "update blob_uploads",
    "insert into blobs",
    "delete from blobs",
    "update server_state",
    "insert into server_state",
)
_BUMP = update(ServerState).where(ServerState.id == 1).values(generation=ServerState.generation + 1)
READ_SQL = "SELECT generation FROM server_state WHERE id = 1"
_READ = text(READ_SQL)


def current(s: Session) -> int:
    """The generation now (0 before the first change)."""
    value = s.execute(_READ).scalar()
    return int(value or 0)


def ensure(s: Session) -> None:
    """Create the generation row once."""
    if s.get(ServerState, 1) is None:
        s.add(ServerState(id=1, generation=0))


def install(engine: Engine, writers: sessionmaker[Session]) -> None:
    """Bump the generation in the same transaction as any change that affects answers."""

    @event.listens_for(engine, "before_cursor_execute")
    def _mark(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = " ".join(statement[:60].lower().replace('"', "").split())
        if head.startswith(("insert", "update", "delete")) and not head.startswith(_IGNORED):
            conn.info[DIRTY] = True

    @event.listens_for(writers, "before_commit")
    def _bump(session: Session) -> None:
        session.flush()  # pending ORM changes count too
        transaction = session.get_transaction()
        if transaction is None:
            return
        dirty = [conn for conn in transaction.connections if conn.info.pop(DIRTY, False)]
        if dirty:
            session.execute(_BUMP)
            for conn in dirty:
                conn.info.pop(DIRTY, None)


class Live:
    """The generation read by the event loop on a connection of its own, in autocommit: one
    statement per read, no transaction, no pool.

    Every read is sent after its caller asked, so it sees every change committed before the
    request arrived. On PostgreSQL, callers that ask while a read is in flight share the next
    one. `now()` answers None when the database cannot be reached this way (the caller then
    reads through a session); the connection is opened again on the next call. Each thread's
    event loop has its own connection (a server process has one loop; tests may run several).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()

    async def now(self) -> int | None:
        """The generation as of a read sent after this call began, or None."""
        if self._engine.dialect.name == "sqlite" and self._engine.url.database in MEMORY:
            return None
        return await self._reader().now()

    async def close(self) -> None:
        """Close this event loop's connection (application shutdown)."""
        reader: _LoopReader | None = getattr(self._local, "reader", None)
        self._local.reader = None
        if reader is not None:
            await reader.close()

    def _reader(self) -> _LoopReader:
        loop = asyncio.get_running_loop()
        reader: _LoopReader | None = getattr(self._local, "reader", None)
        if reader is None or reader.loop is not loop:
            if reader is not None:
                reader.forget()  # its loop is gone, and with it the connection's use
            reader = self._local.reader = _LoopReader(self._engine, loop)
        return reader


class _LoopReader:
    """One event loop's generation connection and the read its callers share."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._engine = engine
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: psycopg.AsyncConnection[Any] | None = None
        self._next: asyncio.Future[int | None] | None = None
        self._task: asyncio.Task[None] | None = None  # the loop holds tasks only weakly

    async def now(self) -> int | None:
        if self._engine.dialect.name == "sqlite":
            return self._read_sqlite()
        if self._next is None:
            self._next = self.loop.create_future()
        waiting = self._next
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._read_postgres_batches())
        return await asyncio.shield(waiting)

    async def close(self) -> None:
        if self._postgres is not None:
            await self._postgres.close()  # politely, on the loop; forget() does the rest
            self._postgres = None
        self.forget()

    def forget(self) -> None:
        """Close the connections without the event loop."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._postgres is not None:
            self._postgres.pgconn.finish()
            self._postgres = None

    def _read_sqlite(self) -> int | None:
        # A one-row indexed read in WAL mode takes microseconds and never waits for a writer,
        # so it runs on the event loop without a thread.
        try:
            if self._sqlite is None:
                self._sqlite = db_engine.sqlite_reader(self._engine)
            rows = self._sqlite.execute(READ_SQL).fetchall()  # fetchall ends the read at once
        except sqlite3.Error:
            log.warning("could not read the catalogue generation", exc_info=True)
            self.forget()
            return None
        return int(rows[0][0]) if rows else 0

    async def _read_postgres_batches(self) -> None:
        while self._next is not None:
            batch, self._next = self._next, None  # later callers wait for the next read
            value = None
            try:
                value = await asyncio.wait_for(self._read_postgres(), READ_TIMEOUT_S)
            except TimeoutError:  # a hung database: the session path has its own bounds
                log.warning("reading the catalogue generation took over %s s", READ_TIMEOUT_S)
                self.forget()
            finally:
                if not batch.done():
                    batch.set_result(value)

    async def _read_postgres(self) -> int | None:
        import psycopg  # loaded already by SQLAlchemy's PostgreSQL dialect; never on SQLite

        try:
            if self._postgres is None:
                self._postgres = await db_engine.postgres_reader(self._engine)
            cursor = await self._postgres.execute(READ_SQL)
            row = await cursor.fetchone()
        except (psycopg.Error, OSError):
            log.warning("could not read the catalogue generation", exc_info=True)
            self.forget()
            return None
        return int(row[0]) if row else 0
