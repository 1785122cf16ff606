"""cairn._filewriter.FileWriter: writes through the page cache (the SDK's downloads) and
writes synced as they grow (the local blob store); every size lands intact, failures are
raised."""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import hashlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from cairn import _filewriter
from cairn._filewriter import FileWriter, SpliceRefused
from cairn.server.blobs import local
from cairn.server.blobs.local import LocalBlobStore

MIB = 1 << 20
SIZES = [0, 1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 1, 3 * MIB + 12_345]
CHUNKS = [1, 65_536, 1_000_003, MIB]
MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "synced": {"sync_every": 300_000},
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
    [(s, c) for s in SIZES for c in CHUNKS if c > 1 or s <= 8192],
)
def test_every_size_and_chunking_is_written_intact(
    tmp_path: Path, size: int, chunk: int, mode: str
) -> None:
    data = os.urandom(size)
    assert write_and_read(tmp_path / "f", data, chunk, **MODES[mode]) == data


def test_a_short_write_is_continued_until_every_byte_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls: list[int] = []

    def short_write(fd: int, data: memoryview) -> int:
        calls.append(len(data))
        return real_write(fd, data[:1000])  # as a pipe or a signal can cut a write short

    monkeypatch.setattr(os, "write", short_write)
    data = os.urandom(10_500)
    assert write_and_read(tmp_path / "f", data, 10_500) == data
    assert len(calls) == 11


def test_a_typed_memoryview_is_counted_and_written_in_bytes(
    tmp_path: Path, syncs: list[int]
) -> None:
    words = array.array("I", range(1 << 18))  # 1 MiB of 4-byte items
    out = FileWriter(tmp_path / "f", sync_every=MIB)
    out.write(memoryview(words))
    out.finish()
    out.close()
    assert (tmp_path / "f").read_bytes() == words.tobytes()
    assert syncs == [MIB], "the sync threshold counts bytes, not items"


def test_a_failed_write_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        write_and_read(tmp_path / "f", b"x" * 10, 10)


def test_each_opening_mode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write_and_read(path, b"first", 5) == b"first"
    with pytest.raises(FileExistsError):
        FileWriter(path)  # "new" never overwrites
    assert write_and_read(path, b"+more", 5, how="append") == b"first+more"
    assert write_and_read(path, b"over", 4, how="replace") == b"over"


def splice_through_pipe(out: FileWriter, data: bytes) -> None:
    read_end, write_end = os.pipe()
    try:
        for start in range(0, len(data), 65_536):
            piece = data[start : start + 65_536]
            os.write(write_end, piece)
            left = len(piece)
            while left:
                left -= out.splice_from(read_end, left)
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.skipif(not hasattr(os, "splice"), reason="splice() is Linux's")
@pytest.mark.parametrize("how", ["new", "append"])
def test_bytes_spliced_from_a_pipe_are_appended_after_those_written(
    how: Literal["new", "append"], tmp_path: Path
) -> None:
    path = tmp_path / "f"
    before = b"" if how == "new" else b"resumed:"
    if before:
        path.write_bytes(before)
    data = os.urandom(3 * 65_536 + 11)
    out = FileWriter(path, how=how, readable=True)
    out.write(b"<")
    splice_through_pipe(out, data)
    out.write(b">")
    assert os.pread(out.fd, 4, len(before)) == b"<" + data[:3]  # readable: the hasher reads back
    out.finish()
    out.close()
    assert path.read_bytes() == before + b"<" + data + b">"


@pytest.mark.skipif(not hasattr(os, "splice"), reason="splice() is Linux's")
def test_a_file_that_refuses_splice_says_so_and_leaves_the_bytes_in_the_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(*args: Any, **named: Any) -> int:
        raise OSError(errno.EINVAL, "Invalid argument")

    out = FileWriter(tmp_path / "f")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"waiting")
        monkeypatch.setattr(os, "splice", refusing)
        with pytest.raises(SpliceRefused):
            out.splice_from(read_end, 7)
        assert os.read(read_end, 7) == b"waiting"
    finally:
        os.close(read_end)
        os.close(write_end)
        out.close()


def test_writes_go_through_the_page_cache(tmp_path: Path) -> None:
    """Direct I/O made a download share the disk with the reads feeding it (bench/README)."""
    out = FileWriter(tmp_path / "f")
    direct = bool(fcntl.fcntl(out.fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0))
    out.close()
    assert not direct


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
    out = FileWriter(tmp_path / "f", sync_every=1 << 20)
    for _ in range(10):
        out.write(os.urandom(512 << 10))
        out._wait_for_sync()  # let each sync finish, so none is skipped
    out.finish()
    out.close()
    assert syncs == [(1 << 20) * n for n in range(1, 6)]


def test_no_sync_without_sync_every(tmp_path: Path, syncs: list[int]) -> None:
    write_and_read(tmp_path / "f", os.urandom(4 << 20), 65_536)
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
    out = FileWriter(tmp_path / "f", sync_every=1 << 20)
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
    out = FileWriter(tmp_path / "f", sync_every=1 << 20)
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
    out = FileWriter(tmp_path / "f", sync_every=1 << 20)
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
    others = [FileWriter(tmp_path / f"o{i}", sync_every=1) for i in range(8)]
    for other in others:
        other.write(b"x")  # each starts a sync that holds one of the syncing threads
    for _ in others:
        assert busy.acquire(timeout=10)
    out = FileWriter(tmp_path / "f", sync_every=1)
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
    assert write_and_read(tmp_path / "f", data, 1 << 20, sync_every=1 << 20) == data
    assert fsyncs


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


@pytest.mark.parametrize("size", [0, 1, MIB + 1, 3 * MIB + 12_345])
def test_the_store_keeps_every_size_intact(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    store = LocalBlobStore(tmp_path)
    assert store_and_read(store, data, 65_536) == data
    assert list(store.staging.iterdir()) == []


# -- space set aside for the bytes to come -----------------------------------------------------


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def test_space_is_set_aside_once_bytes_arrive_and_the_size_stays_what_was_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    out = FileWriter(path, reserve=3 * MIB)
    try:
        assert allocated(path) == 0, "space was set aside before any byte was written"
        first = os.urandom(MIB)
        out.write(first)
        assert os.stat(path).st_size == MIB
        assert allocated(path) >= 2 * MIB  # as much again as was written
        rest = os.urandom(MIB + 7)  # fewer bytes than expected: the size is what was written
        out.write(rest)
        out.finish()
    finally:
        out.close()
    assert path.read_bytes() == first + rest


@pytest.mark.parametrize("how", ["new", "replace", "append"])
def test_space_is_reserved_past_the_bytes_written_up_to_the_expected_end(
    tmp_path: Path, how: Literal["new", "replace", "append"], reserved_space: list[tuple[int, int]]
) -> None:
    path = tmp_path / "f"
    kept = b"kept" * 1000 if how == "append" else b""
    if how != "new":
        path.write_bytes(b"old bytes" if how == "replace" else kept)
    data = os.urandom(2 * MIB + 1)
    assert write_and_read(path, data, MIB, how=how, reserve=len(data)) == kept + data
    assert reserved_space == [(len(kept) + MIB, MIB), (len(kept) + 2 * MIB, 1)]


def test_no_more_is_set_aside_than_was_written_nor_than_reserve_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reserved_space: list[tuple[int, int]]
) -> None:
    monkeypatch.setattr(_filewriter, "RESERVE_AHEAD", 2 * MIB)
    data = os.urandom(5 * MIB)
    # A sender may declare up to the file cap (1 TiB) and send far less; the test declares
    # 256 MiB, so that a writer reserving it all up front fails here without filling the disk.
    declared = 256 * MIB
    assert write_and_read(tmp_path / "f", data, MIB, reserve=declared) == data
    # as much again as was written, then RESERVE_AHEAD at a time
    assert reserved_space == [(MIB, MIB), (2 * MIB, 2 * MIB), (4 * MIB, 2 * MIB)]
    assert allocated(tmp_path / "f") <= 6 * MIB + 65_536


def test_a_file_written_whole_in_one_write_reserves_nothing(
    tmp_path: Path, reserved_space: list[tuple[int, int]]
) -> None:
    data = os.urandom(3 * MIB)
    assert write_and_read(tmp_path / "f", data, 3 * MIB, reserve=len(data)) == data
    assert reserved_space == []


def test_no_space_is_reserved_without_a_size(
    tmp_path: Path, reserved_space: list[tuple[int, int]]
) -> None:
    assert write_and_read(tmp_path / "f", b"x" * 10, 4) == b"x" * 10
    assert reserved_space == []


def test_a_file_system_that_cannot_reserve_space_still_takes_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(fd: int, mode: int, offset: int, length: int) -> int:
        ctypes.set_errno(errno.EOPNOTSUPP)
        return -1

    called: list[int] = []

    def refusing_once_found() -> Callable[[int, int, int, int], int]:
        called.append(1)
        return refusing

    monkeypatch.setattr(_filewriter, "_fallocate", refusing_once_found)
    data = os.urandom(3 * MIB + 3)
    assert write_and_read(tmp_path / "f", data, 65_536, reserve=len(data)) == data
    assert called, "no space was asked for"


def test_a_file_of_reserve_from_bytes_reserves(
    tmp_path: Path, reserved_space: list[tuple[int, int]]
) -> None:
    data = os.urandom(_filewriter.RESERVE_FROM)
    assert write_and_read(tmp_path / "f", data, MIB // 2, reserve=len(data)) == data
    assert reserved_space


@pytest.mark.parametrize("how", ["new", "replace", "append"])
def test_a_symbolic_link_at_the_path_is_refused_not_written_through(
    tmp_path: Path, how: Literal["new", "replace", "append"]
) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep me")
    link = tmp_path / "f"
    link.symlink_to(target)
    with pytest.raises(OSError, match=r"File exists|Too many levels of symbolic links"):
        FileWriter(link, how=how)
    assert target.read_bytes() == b"keep me"
    assert link.is_symlink()


def test_a_small_file_reserves_nothing(
    tmp_path: Path, reserved_space: list[tuple[int, int]]
) -> None:
    data = os.urandom(_filewriter.RESERVE_FROM - 1)
    assert write_and_read(tmp_path / "f", data, MIB // 2, reserve=len(data)) == data
    assert reserved_space == []


def test_without_fallocate_nothing_is_reserved(monkeypatch: pytest.MonkeyPatch) -> None:
    _filewriter._fallocate.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert _filewriter._fallocate() is None
        read_end, write_end = os.pipe()
        calls: list[int] = []
        monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: calls.append(1))
        try:  # nothing is looked up or called at all
            _filewriter.reserve_space(write_end, 0, MIB)
            assert _filewriter._fallocate() is None
            assert calls == []
        finally:
            os.close(read_end)
            os.close(write_end)
    finally:
        monkeypatch.undo()
        _filewriter._fallocate.cache_clear()


@pytest.mark.parametrize("size", [None, 0, 5 * MIB + 1])
def test_the_store_reserves_a_blob_s_declared_size(
    tmp_path: Path, size: int | None, reserved_space: list[tuple[int, int]]
) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(size or 0)
    writer = store.begin(size)
    for start in range(0, len(data), MIB):
        writer.write(data[start : start + MIB])
    digest = hashlib.sha256(data).hexdigest()
    writer.commit(digest)
    assert store.path_of(digest).read_bytes() == data
    assert reserved_space == ([(MIB, MIB), (2 * MIB, 2 * MIB), (4 * MIB, MIB + 1)] if size else [])
