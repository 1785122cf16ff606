"""A blob store in a local directory: temp file (direct I/O where possible), fsync, rename."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from cairn.server.blobs.base import READ_CHUNK, Chunk, blob_key

STAGING = ".staging"
DIRECT_BUFFER = 1 << 20  # bytes gathered before each direct write
DIRECT_ALIGN = 4096  # what O_DIRECT requires of buffer address, length and offset
POOLED_BUFFERS = 64
_O_DIRECT = getattr(os, "O_DIRECT", 0)


class LocalWriter:
    """A temporary file under <root>/.staging, renamed into place on commit.

    Bytes go to the disk with O_DIRECT where the file system allows it: they are gathered in
    a page-aligned buffer and written a megabyte at a time, bypassing the page cache, which
    on many machines (VMs in particular) costs several times the CPU of the write itself.
    The unaligned tail is written through the cache; fsync at commit makes it all durable.
    Elsewhere (tmpfs, macOS) it is an ordinary buffered file.
    """

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self._path = store.staging / uuid.uuid4().hex
        self._fd: int | None = None
        self._direct = False
        self._fd, self._direct = _open_new(self._path)
        self._buffer = _take_buffer() if self._direct else None
        self._filled = 0

    def write(self, chunk: Chunk) -> None:
        assert self._fd is not None, "writer already closed"
        if self._buffer is None:
            _write_all(self._fd, memoryview(chunk))
            return
        view = memoryview(chunk)
        while view:
            n = min(len(view), DIRECT_BUFFER - self._filled)
            self._buffer[self._filled : self._filled + n] = view[:n]
            self._filled += n
            view = view[n:]
            if self._filled == DIRECT_BUFFER:
                self._flush(DIRECT_BUFFER)

    def _flush(self, length: int) -> None:
        """Write the first `length` bytes of the buffer (a multiple of DIRECT_ALIGN)."""
        assert self._fd is not None
        assert self._buffer is not None
        with memoryview(self._buffer) as whole:
            try:
                _write_all(self._fd, whole[:length])
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._fall_back()  # a file system that opened with O_DIRECT but refuses it
                _write_all(self._fd, whole[:length])
            whole[: self._filled - length] = whole[length : self._filled]
        self._filled -= length

    def _fall_back(self) -> None:
        assert self._fd is not None
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~_O_DIRECT)
        self._direct = False

    def commit(self, sha256: str) -> None:
        assert self._fd is not None, "writer already closed"
        if self._buffer is not None and self._filled:
            aligned = self._filled - self._filled % DIRECT_ALIGN
            if aligned:
                self._flush(aligned)
            if self._filled:
                if self._direct:
                    self._fall_back()
                self._flush(self._filled)
        final = self._store.path_of(sha256)
        os.fsync(self._fd)
        self._close()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, final)
        _fsync_dir(final.parent)

    def abort(self) -> None:
        self._close()
        self._path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        if self._buffer is not None:
            buffer, self._buffer = self._buffer, None
            _give_back(buffer)


def _open_new(path: Path) -> tuple[int, bool]:
    """A new file for writing, with O_DIRECT if the file system takes it; (fd, direct)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    if _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, 0o600), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o600), False


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


_free_buffers: list[mmap.mmap] = []
_buffers_lock = threading.Lock()


def _take_buffer() -> mmap.mmap:
    """A page-aligned DIRECT_BUFFER (anonymous memory), reused: its pages stay mapped."""
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as files <root>/ab/cd/<sha256>."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / STAGING
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_of(self, sha256: str) -> Path:
        """The file of a blob; the digest is validated by blob_key()."""
        return self.root / blob_key(sha256)

    def modified(self, sha256: str) -> float | None:
        try:
            return self.path_of(sha256).stat().st_mtime
        except FileNotFoundError:
            return None

    def check(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(self.staging, os.W_OK):
            raise PermissionError(f"cannot write to the blob store at {self.root}")

    def begin(self) -> LocalWriter:
        return LocalWriter(self)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with open(self.path_of(sha256), "rb") as f:
            f.seek(start)
            remaining = None if end is None else max(end - start, 0)
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = f.read(want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def delete(self, sha256: str) -> None:
        self.path_of(sha256).unlink(missing_ok=True)

    def digests(self) -> Iterator[tuple[str, float]]:
        for first in sorted(self.root.iterdir()):
            if first.name == STAGING or not first.is_dir():
                continue
            for path in first.glob("*/*"):
                yield path.name, path.stat().st_mtime

    def clean_staging(self, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for path in self.staging.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
