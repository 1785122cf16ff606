"""cairn._directio.FileWriter: direct writes (the SDK's small downloads) and writes synced
as they grow (the local blob store); every size lands intact, failures are raised."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn._directio import DIRECT_ALIGN, DIRECT_BUFFER, FileWriter
from cairn.server.blobs import local
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
MODES: dict[str, dict[str, Any]] = {
    "direct": {"direct": True},
    "synced": {"direct": False, "sync_every": 300_000},
}


def write_and_read(path: Path, data: bytes, chunk: int, **options: Any) -> bytes:
    out = FileWriter(path, **options)
    try:
        for start in range(0, len(data), chunk):
            out.write(data[start : start + chunk])
        out.finish()
    finally:
        out.close()
    return path.read_bytes()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("size", "chunk"),
    # one-byte chunks only for the small sizes (the rest would take minutes)
    [(s, c) for s in SIZES for c in CHUNKS if c > 1 or s <= 2 * DIRECT_ALIGN],
)
def test_every_size_and_chunking_is_written_intact(
    tmp_path: Path, size: int, chunk: int, mode: str
) -> None:
    data = os.urandom(size)
    assert write_and_read(tmp_path / "f", data, chunk, **MODES[mode]) == data


def test_a_direct_writer_on_ext4_writes_around_the_page_cache(tmp_path: Path) -> None:
    out = FileWriter(tmp_path / "f")
    direct = bool(fcntl.fcntl(out.fd, fcntl.F_GETFL) & os.O_DIRECT)
    out.close()
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
    out = FileWriter(tmp_path / "probe")
    assert not out.direct, "no O_DIRECT: the writer must not gather into a buffer"
    out.close()
    data = os.urandom(DIRECT_BUFFER + 7)
    assert write_and_read(tmp_path / "f", data, 65_536) == data


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
    assert write_and_read(tmp_path / "f", data, 300_000) == data
    assert len(direct_writes) >= refused_write, "the refusal was never exercised"


def test_a_failed_write_behind_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    writes: list[int] = []

    def write(fd: int, data: memoryview) -> int:
        writes.append(fd)
        if len(writes) == 3:  # the second buffer, written behind
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError, match="No space"):
        write_and_read(tmp_path / "f", os.urandom(5 * DIRECT_BUFFER), 65_536)


def test_a_closed_writers_buffer_is_reused(tmp_path: Path) -> None:
    first = FileWriter(tmp_path / "a")
    first.write(os.urandom(DIRECT_BUFFER + 5))
    buffer = first._buffer
    first.close()
    second = FileWriter(tmp_path / "b")
    assert second._buffer is buffer, "a closed writer's buffer goes back to the pool"
    second.close()


# -- synced as it grows ------------------------------------------------------------------------


def waits_until_released(call: Callable[[], None], release: threading.Event, why: str) -> None:
    """``call`` (on a thread of its own) has not returned before ``release`` is set."""
    waiting = threading.Thread(target=call)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), why
    release.set()
    waiting.join(10)
    assert not waiting.is_alive()


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of the file each background fdatasync found."""
    seen: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        seen.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return seen


def test_a_sync_starts_each_time_sync_every_more_bytes_are_written(
    tmp_path: Path, syncs: list[int]
) -> None:
    out = FileWriter(tmp_path / "f", direct=False, sync_every=1 << 20)
    for _ in range(10):
        out.write(os.urandom(512 << 10))
        out._wait_for_sync()  # let each sync finish, so none is skipped
    out.finish()
    out.close()
    assert syncs == [(1 << 20) * n for n in range(1, 6)]


def test_no_sync_without_sync_every(tmp_path: Path, syncs: list[int]) -> None:
    write_and_read(tmp_path / "f", os.urandom(4 << 20), 65_536, direct=False)
    assert syncs == []


def test_one_sync_at_a_time_and_finish_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    running = threading.Event()
    started: list[int] = []
    ended: list[int] = []

    def slow_fdatasync(fd: int) -> None:
        started.append(fd)
        running.set()
        assert release.wait(10)
        ended.append(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    out = FileWriter(tmp_path / "f", direct=False, sync_every=1 << 20)
    out.write(os.urandom(1 << 20))
    assert running.wait(10)
    for _ in range(7):
        out.write(os.urandom(1 << 20))  # seven more thresholds crossed while it runs
    assert len(started) == 1
    waits_until_released(out.finish, release, "finish() returned while a sync was still running")
    assert ended == started
    out.close()
    assert (tmp_path / "f").stat().st_size == 8 << 20


@pytest.mark.parametrize("when", ["finish", "next-sync"])
def test_a_failed_sync_is_raised_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The final fsync may no longer report a writeback error a background sync saw."""

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    out = FileWriter(tmp_path / "f", direct=False, sync_every=1 << 20)
    out.write(os.urandom(1 << 20))
    assert out._syncing is not None
    out._syncing.exception(10)  # the sync has run and failed
    # at the next threshold, the failure is collected before another sync starts
    step = out.finish if when == "finish" else (lambda: out.write(os.urandom(1 << 20)))
    with pytest.raises(OSError, match="Input/output"):
        step()
    out.close()


def test_close_waits_for_a_running_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    running = threading.Event()
    fds: list[int] = []

    def slow_fdatasync(fd: int) -> None:
        running.set()
        assert release.wait(10)
        os.fstat(fd)  # raises if the file was closed under the sync
        fds.append(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    out = FileWriter(tmp_path / "f", direct=False, sync_every=1 << 20)
    out.write(os.urandom(1 << 20))
    assert running.wait(10)  # a sync not started yet would be cancelled, not awaited
    waits_until_released(out.close, release, "close() closed the file under a running sync")
    assert len(fds) == 1


def test_a_sync_not_started_when_the_file_is_closed_never_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An aborted upload does not wait for the sync of a file it is about to delete."""
    release = threading.Event()
    busy = threading.Semaphore(0)
    synced: list[int] = []

    def slow_fdatasync(fd: int) -> None:
        synced.append(fd)
        busy.release()
        assert release.wait(10)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    others = [FileWriter(tmp_path / f"o{i}", direct=False, sync_every=1) for i in range(8)]
    for other in others:
        other.write(b"x")  # each starts a sync that holds one of the syncing threads
    for _ in others:
        assert busy.acquire(timeout=10)
    out = FileWriter(tmp_path / "f", direct=False, sync_every=1)
    out.write(b"y")  # its sync waits for a free thread
    closing = threading.Thread(target=out.close)
    closing.start()
    closing.join(5)
    assert not closing.is_alive(), "close() waited for a sync that had not started"
    release.set()
    for other in others:
        other.close()
    assert len(synced) == len(others), "the closed file's sync ran after all"


def test_without_fdatasync_fsync_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS has no os.fdatasync."""
    fsyncs: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        fsyncs.append(fd)
        real(fd)

    monkeypatch.delattr(os, "fdatasync")
    monkeypatch.setattr(os, "fsync", fsync)
    data = os.urandom(3 << 20)
    assert write_and_read(tmp_path / "f", data, 1 << 20, direct=False, sync_every=1 << 20) == data
    assert fsyncs


def test_direct_writes_start_no_sync(tmp_path: Path, syncs: list[int]) -> None:
    write_and_read(tmp_path / "f", os.urandom(4 * DIRECT_BUFFER), 65_536, sync_every=1)
    assert syncs == []


# -- the local blob store ----------------------------------------------------------------------


def store_and_read(store: LocalBlobStore, data: bytes, chunk: int) -> bytes:
    writer = store.begin()
    for start in range(0, len(data), chunk):
        writer.write(data[start : start + chunk])
    digest = hashlib.sha256(data).hexdigest()
    writer.commit(digest)
    return store.path_of(digest).read_bytes()


def test_the_store_syncs_a_large_blob_while_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncs: list[int]
) -> None:
    monkeypatch.setattr(local, "SYNC_EVERY", 1 << 20)
    store = LocalBlobStore(tmp_path)
    data = os.urandom(6 << 20)
    writer = store.begin()
    for start in range(0, len(data), 1 << 20):
        writer.write(data[start : start + (1 << 20)])
    assert writer._file is not None
    assert writer._file._sync_every == 1 << 20
    started = writer._file._syncing is not None or bool(syncs)
    assert started, "no sync was started while the blob was written"
    writer.commit(hashlib.sha256(data).hexdigest())
    assert syncs
    assert store.path_of(hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_the_store_writes_through_the_page_cache(tmp_path: Path) -> None:
    writer = LocalBlobStore(tmp_path).begin()
    assert writer._file is not None
    direct = bool(fcntl.fcntl(writer._file.fd, fcntl.F_GETFL) & os.O_DIRECT)
    writer.abort()
    assert not direct


def test_a_failed_sync_fails_the_upload_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local, "SYNC_EVERY", 1 << 20)
    monkeypatch.setattr(os, "fdatasync", failing)
    store = LocalBlobStore(tmp_path)
    data = os.urandom(3 << 20)
    writer = store.begin()

    def send_all() -> None:
        for start in range(0, len(data), 1 << 20):
            writer.write(data[start : start + (1 << 20)])
        writer.commit(hashlib.sha256(data).hexdigest())

    with pytest.raises(OSError, match="Input/output"):
        send_all()
    writer.abort()
    assert list(store.staging.iterdir()) == []
    assert not store.exists(hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("size", [0, 1, DIRECT_BUFFER + 1, 3 * DIRECT_BUFFER + 12_345])
def test_the_store_keeps_every_size_intact(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    store = LocalBlobStore(tmp_path)
    assert store_and_read(store, data, 65_536) == data
    assert list(store.staging.iterdir()) == []
