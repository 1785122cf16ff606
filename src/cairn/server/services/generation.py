"""The catalogue's generation number: bumped by every committed change, read per request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, text, update
from sqlalchemy.orm import Session, sessionmaker

from cairn.server.db.models import ServerState

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
_READ = text("SELECT generation FROM server_state WHERE id = 1")


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
