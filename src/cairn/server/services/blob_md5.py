"""The md5 of large blobs in a local folder: taken once they are stored, at idle priority."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import random
import threading
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cairn.server.blobs.base import BlobStore
from cairn.server.db.models import Blob

log = logging.getLogger("cairn.server")

# A file of at least this many bytes, bound for a local folder, is acknowledged once it is
# durable and matches its sha256; its md5 (DESIGN §5) is taken right after. One md5 is a
# single sequential stream at 0.5-0.9 GB/s, slower than a fast disk writes: taken on the way
# in, it set the pace of large uploads (a 1 GiB push on a 2-core VM: 308 -> 523 MB/s, medians
# of 3; bench/README.md, session 22). Smaller files keep it inline: a blob stream takes their
# md5s side by side in lanes, and a few MiB cost less to hash than to read back and record
# in a transaction of their own.
MD5_LATER_FROM = 64 << 20
# Read back in pieces this small, so that the server's memory stays as it was (8 MiB pieces
# raised a 1 GiB upload's peak RSS from 150 to 166 MiB).
READ_PIECE = 1 << 20
# The lowest scheduling priority (Linux applies it to the one thread): uploads and
# downloads in progress come first, the md5 uses what CPU they leave.
IDLE_NICE = 19
# The blobs still waiting for their md5, read from their own index (ix_blobs_md5_pending).
PENDING = select(Blob.sha256).where(Blob.md5.is_(None))


def takes_later(store: BlobStore, size: int) -> bool:
    """Whether a blob of ``size`` bytes sent to ``store`` gets its md5 after it is stored: a
    large one in a local folder, read back from the page cache (from a bucket, taking it
    later would cost a second transfer)."""
    return size >= MD5_LATER_FROM and store.holds_files


class LaterMd5s:
    """Takes the md5 of blobs recorded without one and records it, on one thread of its own
    at idle priority, started by the first blob handed to it.

    A blob already given its md5 (by another server process) or gone (collected) is skipped.
    Blobs left without an md5 by a server that stopped first are found by ``sweep()`` at the
    next start.
    """

    def __init__(
        self, store: BlobStore, readers: sessionmaker[Session], writers: sessionmaker[Session]
    ) -> None:
        self._store = store
        self._readers = readers
        self._writers = writers
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._changed = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def add(self, digests: Iterable[str]) -> None:
        """Take the md5 of these blobs (recorded without one) in the background."""
        with self._changed:
            for sha256 in digests:
                self._pending += 1
                self._queue.put(sha256)
            if self._pending and self._thread is None:
                self._stopping = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._stopping,), name="cairn-md5", daemon=True
                )
                self._thread.start()

    def sweep(self) -> int:
        """Hand over every blob recorded without an md5; how many there were. They are taken
        in random order, so that server processes started together (``--workers``) mostly
        take different ones, each skipping those another has recorded."""
        with self._readers() as s:
            found = list(s.scalars(PENDING))
        random.shuffle(found)
        self.add(found)
        return len(found)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every blob handed over so far is done with; whether that happened
        within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """End the thread within ``timeout`` seconds, leaving the md5s not taken yet to the
        next sweep(); a later add() starts it again."""
        with self._changed:
            thread, self._thread = self._thread, None
            self._stopping.set()
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self, stopping: threading.Event) -> None:
        _lower_priority()
        while not stopping.is_set():
            sha256 = self._queue.get()
            if sha256 is None:
                continue
            try:
                self._take(sha256, stopping)
            except Exception:  # the next sweep tries again
                log.exception("could not take the md5 of blob %s", sha256)
            finally:
                with self._changed:
                    self._pending -= 1
                    self._changed.notify_all()

    def _take(self, sha256: str, stopping: threading.Event) -> None:
        """Hash the blob's bytes and record their md5, unless it has one or is gone."""
        with self._readers() as s:
            row = s.execute(select(Blob.md5).where(Blob.sha256 == sha256)).first()
        if row is None or row.md5 is not None:
            return
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            for piece in self._store.read(sha256, piece=READ_PIECE):
                if stopping.is_set():
                    return
                md5.update(piece)
        except FileNotFoundError:  # collected meanwhile
            return
        with self._writers() as s, s.begin():
            s.execute(
                update(Blob)
                .where(Blob.sha256 == sha256, Blob.md5.is_(None))
                .values(md5=md5.hexdigest())
            )


def _lower_priority() -> None:
    """Give the calling thread the lowest priority, where the system allows it (Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IDLE_NICE)
