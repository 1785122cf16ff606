"""Direct-I/O writes (cairn._directio, under the local store): every size lands intact."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from cairn._directio import DIRECT_ALIGN, DIRECT_BUFFER
from cairn.server.blobs.local import LocalBlobStore

# Around the alignment and the buffer: empty, tails of every kind, exact multiples.
SIZES = [
    0,
    1,
    DIRECT_ALIGN - 1,
    DIRECT_ALIGN,
    DIRECT_ALIGN + 1,
    DIRECT_BUFFER - 1,
    DIRECT_BUFFER,
    DIRECT_BUFFER + 1,
    3 * DIRECT_BUFFER + 12_345,
]
CHUNKS = [1, 65_536, 1_000_003, DIRECT_BUFFER]


def store_and_read(store: LocalBlobStore, data: bytes, chunk: int) -> bytes:
    writer = store.begin()
    for start in range(0, len(data), chunk):
        writer.write(data[start : start + chunk])
    digest = hashlib.sha256(data).hexdigest()
    writer.commit(digest)
    return store.path_of(digest).read_bytes()


@pytest.mark.parametrize(
    ("size", "chunk"),
    # one-byte chunks only for the small sizes (the rest would take minutes)
    [(s, c) for s in SIZES for c in CHUNKS if c > 1 or s <= 2 * DIRECT_ALIGN],
)
def test_every_size_and_chunking_is_stored_intact(tmp_path: Path, size: int, chunk: int) -> None:
    data = os.urandom(size)
    store = LocalBlobStore(tmp_path)
    assert store_and_read(store, data, chunk) == data
    assert list(store.staging.iterdir()) == []


def test_an_ext4_or_xfs_store_writes_around_the_page_cache(tmp_path: Path) -> None:
    writer = LocalBlobStore(tmp_path).begin()
    assert writer._file is not None
    direct = bool(fcntl.fcntl(writer._file.fd, fcntl.F_GETFL) & os.O_DIRECT)
    writer.abort()
    assert direct, f"{tmp_path} should accept O_DIRECT on this machine (ext4)"


def test_a_file_system_refusing_direct_io_gets_ordinary_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")  # what tmpfs said before Linux 6.6
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", open_)
    store = LocalBlobStore(tmp_path)
    writer = store.begin()
    assert writer._file is not None
    assert not writer._file.direct, "no O_DIRECT: the writer must not gather into a buffer"
    writer.abort()
    data = os.urandom(DIRECT_BUFFER + 7)
    assert store_and_read(store, data, 65_536) == data


@pytest.mark.parametrize("refused_write", [1, 3], ids=["first", "written-behind"])
def test_a_direct_write_refused_later_falls_back_and_keeps_every_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused_write: int
) -> None:
    real_write = os.write
    direct_writes: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            direct_writes.append(fd)
            if len(direct_writes) == refused_write:
                raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    data = os.urandom(4 * DIRECT_BUFFER + 99)
    assert store_and_read(LocalBlobStore(tmp_path), data, 300_000) == data
    assert len(direct_writes) >= refused_write, "the refusal was never exercised"


def test_a_failed_write_behind_is_raised_and_the_upload_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    writes: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        writes.append(fd)
        if len(writes) == 3:  # the second buffer, written behind
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    store = LocalBlobStore(tmp_path)
    data = os.urandom(5 * DIRECT_BUFFER)
    writer = store.begin()

    def send_all() -> None:
        for start in range(0, len(data), 65_536):
            writer.write(data[start : start + 65_536])
        writer.commit(hashlib.sha256(data).hexdigest())

    with pytest.raises(OSError, match="No space"):
        send_all()
    writer.abort()
    assert list(store.staging.iterdir()) == []
    assert not store.exists(hashlib.sha256(data).hexdigest())


def test_abort_leaves_nothing_and_buffers_are_reused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    first = store.begin()
    first.write(os.urandom(DIRECT_BUFFER + 5))
    assert first._file is not None
    buffer = first._file._buffer
    first.abort()
    assert list(store.staging.iterdir()) == []
    second = store.begin()
    assert second._file is not None
    assert second._file._buffer is buffer, "an aborted writer's buffer goes back to the pool"
    second.abort()
