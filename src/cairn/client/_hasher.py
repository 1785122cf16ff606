"""A sha256 computed on its own thread, so hashing a download overlaps receiving and writing it."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from cairn.client._blobstream import Piece

QUEUE_DEPTH = 4
BACKGROUND_FROM = 8 << 20  # smaller files are hashed inline: a thread costs more than it saves
# Bytes already in a file are read back for hashing through a buffer this size, small
# enough to stay in the CPU's cache between the read and the hash.
SPAN_BUFFER = 256 << 10


@dataclass(frozen=True)
class FileSpan:
    """Bytes already written to a file: ``length`` of them from ``offset`` of ``fd``."""

    fd: int
    offset: int
    length: int


_Batch = tuple[Sequence[Piece | FileSpan], Callable[[], None] | None]  # and what to call after


class _Digesting:
    """A sha256 fed bytes in memory or read back from a file."""

    def __init__(self, digest: hashlib._Hash | None) -> None:
        self._digest = digest if digest is not None else hashlib.sha256()
        self._buffer: memoryview | None = None

    def update(self, piece: Piece | FileSpan) -> None:
        if not isinstance(piece, FileSpan):
            self._digest.update(piece)
            return
        if self._buffer is None:
            self._buffer = memoryview(bytearray(SPAN_BUFFER))
        offset, left = piece.offset, piece.length
        while left:
            read = os.preadv(piece.fd, [self._buffer[: min(left, SPAN_BUFFER)]], offset)
            if not read:
                raise OSError(f"the file being hashed ended {left} bytes early")
            self._digest.update(self._buffer[:read])
            offset += read
            left -= read

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class BackgroundHasher:
    """Feeds batches of bytes to a sha256 on a worker thread; at most ``QUEUE_DEPTH`` wait.

    Batches must not be changed after ``feed`` until its ``done`` is called. Use it as a
    context manager: the thread ends when the block does, also on an error. A failure of the
    worker is raised by the next ``feed`` or by ``hexdigest``.
    """

    def __init__(self, digest: hashlib._Hash | None = None) -> None:
        self._digest = _Digesting(digest)
        self._queue: queue.Queue[_Batch | None] = queue.Queue(QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._done = False
        self._thread = threading.Thread(target=self._run, name="cairn-sha256", daemon=True)
        self._thread.start()

    def __enter__(self) -> BackgroundHasher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._finish()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            batch, done = item
            try:
                if self._error is None:  # after a failure, only hand batches back
                    for piece in batch:
                        self._digest.update(piece)
            except BaseException as exc:  # handed to the feeding thread
                self._error = exc
            finally:
                if done is not None:
                    done()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"hashing the download failed: {self._error}") from self._error

    def feed(
        self, batch: Sequence[Piece | FileSpan], done: Callable[[], None] | None = None
    ) -> None:
        """Queue ``batch`` for hashing (blocks while the queue is full); ``done`` is called
        on the worker once it is hashed."""
        self._raise_failure()
        self._queue.put((batch, done))

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._queue.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        """The digest of everything fed, once the worker has caught up."""
        self._finish()
        self._raise_failure()
        return self._digest.hexdigest()


class InlineHasher:
    """The same interface hashing on the calling thread: cheaper for small files."""

    def __init__(self, digest: hashlib._Hash | None = None) -> None:
        self._digest = _Digesting(digest)

    def __enter__(self) -> InlineHasher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    def feed(
        self, batch: Sequence[Piece | FileSpan], done: Callable[[], None] | None = None
    ) -> None:
        """Hash ``batch`` now, then call ``done``."""
        for piece in batch:
            self._digest.update(piece)
        if done is not None:
            done()

    def hexdigest(self) -> str:
        """The digest of everything fed."""
        return self._digest.hexdigest()


def hasher_for(
    remaining: int, digest: hashlib._Hash | None = None
) -> BackgroundHasher | InlineHasher:
    """A background hasher when ``remaining`` bytes are worth a thread, else an inline one."""
    if remaining > BACKGROUND_FROM:
        return BackgroundHasher(digest)
    return InlineHasher(digest)
