"""A blob store in a local directory: temp file, fsync, atomic rename into place."""

from __future__ import annotations

import ctypes
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, cast

from cairn.server.blobs.base import READ_CHUNK, blob_key

STAGING = ".staging"
WRITEBACK_BYTES = 8 << 20


class LocalWriter:
    """A temporary file under <root>/.staging, renamed into place on commit.

    Every WRITEBACK_BYTES written are handed to the disk at once (sync_file_range, Linux), so
    the disk writes while the rest arrives and the fsync at commit only waits for the tail.
    """

    def __init__(self, store: LocalBlobStore) -> None:
        self._store = store
        self._path = store.staging / uuid.uuid4().hex
        self._file: BinaryIO | None = open(self._path, "xb", buffering=0)  # noqa: SIM115
        self._written = 0
        self._flushed = 0

    def write(self, chunk: bytes) -> None:
        assert self._file is not None, "writer already closed"
        view = memoryview(chunk)
        while view:
            n = self._file.write(view)
            assert n is not None
            view = view[n:]
            self._written += n
        if self._written - self._flushed >= WRITEBACK_BYTES:
            start_writeback(self._file.fileno(), self._flushed, self._written - self._flushed)
            self._flushed = self._written

    def commit(self, sha256: str) -> None:
        assert self._file is not None, "writer already closed"
        final = self._store.path_of(sha256)
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._path, final)
        _fsync_dir(final.parent)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._path.unlink(missing_ok=True)


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", call)


_SYNC_FILE_RANGE = _sync_file_range() if sys.platform == "linux" else None
SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range of a file to disk, without waiting for it.

    Only a head start for the fsync that follows: where unavailable this does nothing.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, SYNC_FILE_RANGE_WRITE)


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
