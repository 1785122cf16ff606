"""FileWriter syncs as a file grows: one at a time, awaited by finish and close, failures raised."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn._filewriter import FileWriter
from tests.blobs.file_writer_support import write_and_read


def waits_until_released(call: Callable[[], None], release: threading.Event, why: str) -> None:
    """``call`` (on a thread of its own) has not returned before ``release`` is set."""
    waiting = threading.Thread(target=call)
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), why
    release.set()
    waiting.join(10)
    assert not waiting.is_alive()


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
