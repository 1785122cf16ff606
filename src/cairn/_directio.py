"""Writing a file front to back: around the page cache (O_DIRECT) or synced as it grows.

The SDK's downloads write around the page cache where the system allows it: on many
machines, VMs above all, copying bytes into the page cache costs several times the CPU of
the write itself. The server's local blob store writes through the cache and syncs as the
file grows, so that a blob is durable soon after its last bytes arrive.
"""

from __future__ import annotations

import errno
import functools
import mmap
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Literal

if sys.platform != "win32":
    import fcntl

DIRECT_BUFFER = 1 << 20  # bytes gathered before each direct write
DIRECT_ALIGN = 4096  # what O_DIRECT requires of buffer address, length and file offset
POOLED_BUFFERS = 8
BACKGROUND_WRITERS = 8
SYNCING_THREADS = 8
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_OPEN_FLAGS = {
    "new": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
    "replace": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "append": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
}


class FileWriter:
    """Bytes appended to a file: gathered in a page-aligned buffer and written a megabyte at
    a time with O_DIRECT, the unaligned tail through the cache at ``finish()``.

    A direct write returns only once the device has the bytes, so from the second megabyte
    on each full buffer is written by a background thread while the next one fills (one
    at a time, in order); a file of one buffer never pays for the hand-over. Where O_DIRECT
    is missing or refused (macOS, Windows, some file systems), when appending to an
    existing file (its end need not be aligned), and with ``direct=False``, writes are
    ordinary.
    ``finish()`` writes what is buffered; ``close()`` without it drops the buffered bytes.

    With ``sync_every``, and writes through the cache (``direct=False``, or O_DIRECT
    refused), each time that many more bytes have been written an ``fdatasync`` starts on
    a background thread (one at a time), so a file that must end durable reaches
    the disk while it is still being written instead of all at its final ``fsync``: on a
    VM whose host caches writes, that last flush of a large file otherwise takes as long as
    writing it. ``finish()`` waits for it and raises its error (which the final ``fsync``
    might no longer report).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        mode: int = 0o600,
        how: Literal["new", "replace", "append"] = "new",
        direct: bool = True,
        sync_every: int = 0,
    ) -> None:
        flags = _OPEN_FLAGS[how] | getattr(os, "O_CLOEXEC", 0)
        self.fd, self.direct = _open(path, flags, mode, direct=direct and how != "append")
        self._buffer = _take_buffer() if self.direct else None
        self._filled = 0
        self._full_buffers = 0
        self._behind: Future[None] | None = None
        self._sync_every = sync_every
        self._next_sync = sync_every
        self._written = 0
        self._syncing: Future[None] | None = None

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk``."""
        if self._buffer is None:
            _write_all(self.fd, memoryview(chunk))
            self._wrote(len(chunk))
            return
        view = memoryview(chunk)
        while view:
            n = min(len(view), DIRECT_BUFFER - self._filled)
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == DIRECT_BUFFER:
                self._write_full_buffer()

    def finish(self) -> None:
        """Write every byte still buffered: the file then holds all that was appended."""
        self._wait()
        self._wait_for_sync()
        if self._buffer is None or not self._filled:
            return
        aligned = self._filled - self._filled % DIRECT_ALIGN
        if aligned:
            self._flush(aligned)
        if self._filled:
            self._stop_direct()
            self._flush(self._filled)

    def close(self) -> None:
        """Close the file (bytes not yet written by ``finish()`` are dropped)."""
        pending = [job for job in (self._behind, self._syncing) if job is not None]
        # a sync not started yet is moot (and a cancelled job never counts as done for wait())
        if self._syncing is not None and self._syncing.cancel():
            pending.remove(self._syncing)
        wait(pending)
        self._behind = self._syncing = None
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        if self._buffer is not None:
            buffer, self._buffer = self._buffer, None
            _give_back(buffer)

    def _wrote(self, n: int) -> None:
        """Count ``n`` more bytes written; start a background sync when ``sync_every`` more
        have been written since the last one started (none while one runs)."""
        self._written += n
        if not self._sync_every or self._written < self._next_sync:
            return
        if self._syncing is not None:
            if not self._syncing.done():
                return
            self._wait_for_sync()
        self._next_sync = self._written + self._sync_every
        self._syncing = _syncing_threads().submit(_sync_data, self.fd)

    def _wait_for_sync(self) -> None:
        """Wait for the background sync, if one ran; its error is raised here."""
        if self._syncing is not None:
            syncing, self._syncing = self._syncing, None
            syncing.result()

    def _write_full_buffer(self) -> None:
        assert self._buffer is not None
        self._full_buffers += 1
        if self._full_buffers == 1:
            self._flush(DIRECT_BUFFER)
            return
        self._wait()
        full, self._buffer, self._filled = self._buffer, _take_buffer(), 0
        self._behind = _background().submit(self._write_behind, full)

    def _write_behind(self, buffer: mmap.mmap) -> None:
        try:
            with memoryview(buffer) as whole:
                self._write(whole[:DIRECT_BUFFER])
        finally:
            _give_back(buffer)

    def _wait(self) -> None:
        """Wait for the buffer being written behind; its error is raised here."""
        if self._behind is not None:
            behind, self._behind = self._behind, None
            behind.result()

    def _flush(self, length: int) -> None:
        """Write the first ``length`` bytes of the buffer, keeping the rest at its start."""
        assert self._buffer is not None
        with memoryview(self._buffer) as whole:
            self._write(whole[:length])
            whole[: self._filled - length] = whole[length : self._filled]
        self._filled -= length

    def _write(self, view: memoryview) -> None:
        """Write ``view`` (aligned unless O_DIRECT is off) at the file's end."""
        try:
            _write_all(self.fd, view)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not self.direct:
                raise
            self._stop_direct()  # a file system that opened with O_DIRECT but refuses it
            _write_all(self.fd, view)

    def _stop_direct(self) -> None:
        if self.direct and sys.platform != "win32":
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
            self.direct = False


@functools.cache
def _background() -> ThreadPoolExecutor:
    """Threads that write full buffers behind the writers that filled them."""
    return ThreadPoolExecutor(BACKGROUND_WRITERS, thread_name_prefix="cairn-direct-write")


@functools.cache
def _syncing_threads() -> ThreadPoolExecutor:
    """Threads that sync files as they grow: their own, so no write waits behind a sync."""
    return ThreadPoolExecutor(SYNCING_THREADS, thread_name_prefix="cairn-sync")


def _sync_data(fd: int) -> None:
    """``fdatasync`` where the system has it (not macOS), else ``fsync``."""
    sync = getattr(os, "fdatasync", None) or os.fsync
    sync(fd)


def _open(path: Path | str, flags: int, mode: int, *, direct: bool) -> tuple[int, bool]:
    """The file opened with ``flags``, and O_DIRECT if wanted and taken; (fd, direct)."""
    if direct and _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, mode), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, mode), False


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


_free_buffers: list[mmap.mmap] = []
_buffers_lock = threading.Lock()


def _take_buffer() -> mmap.mmap:
    """A page-aligned DIRECT_BUFFER of anonymous memory, reused: its pages stay mapped."""
    with _buffers_lock:
        if _free_buffers:
            return _free_buffers.pop()
    return mmap.mmap(-1, DIRECT_BUFFER)


def _give_back(buffer: mmap.mmap) -> None:
    with _buffers_lock:
        if len(_free_buffers) < POOLED_BUFFERS:
            _free_buffers.append(buffer)
            return
    buffer.close()
