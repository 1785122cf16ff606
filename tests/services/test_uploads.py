"""uploads.store_all: the files of a blob stream finished as a group, md5s side by side."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cairn import _md5
from cairn.server.blobs.base import Chunk
from cairn.server.blobs.local import LocalBlobStore, LocalWriter
from cairn.server.domain.errors import ValidationError
from cairn.server.services import uploads

CAP = 64 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sink(store: LocalBlobStore, data: bytes, claimed: str | None = None) -> uploads.BlobSink:
    return uploads.BlobSink(store, claimed or sha(data), len(data), CAP, _md5.new())


def test_a_group_is_stored_with_each_files_md5(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    files = [os.urandom(n) for n in (0, 1, 64, 1 << 20, 1_000_003, 5, 70_000, 129, 3)]
    group = [(sink(store, f), [memoryview(f)]) for f in files]
    stored, error = uploads.store_all(group)
    assert error is None
    assert stored == [md5(f) for f in files]
    assert all(b"".join(store.read(sha(f))) == f for f in files)
    assert list(store.staging.iterdir()) == []


def test_a_file_fed_in_part_before_its_group_gets_the_md5_of_all_its_bytes(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    big, small = os.urandom(3 << 20), os.urandom(1000)
    first = sink(store, big)
    first.feed([memoryview(big)[:1_000_001]])  # what the receiver does while a file arrives
    rest: list[Chunk] = [memoryview(big)[1_000_001:]]
    group: list[tuple[uploads.BlobSink, list[Chunk]]] = [
        (first, rest),
        (sink(store, small), [small]),
    ]
    assert uploads.store_all(group) == ([md5(big), md5(small)], None)


def test_a_bad_file_stops_its_group_keeps_those_before_and_leaves_nothing_staged(
    tmp_path: Path,
) -> None:
    store = LocalBlobStore(tmp_path)
    before, bad, after = os.urandom(5000), os.urandom(5000), os.urandom(5000)
    claimed = sha(b"other bytes")
    group = [
        (sink(store, before), [before]),
        (sink(store, bad, claimed), [bad]),
        (sink(store, after), [after]),
    ]
    group[2][0].open()  # started already, as a file fed in part is
    stored, error = uploads.store_all(group)
    assert stored == [md5(before)]
    assert isinstance(error, ValidationError)
    assert "does not match" in str(error)
    assert store.exists(sha(before))
    assert not store.exists(claimed)
    assert not store.exists(sha(after)), "the rest of the group is dropped, not half kept"
    assert list(store.staging.iterdir()) == []


def test_a_failure_in_the_md5s_drops_the_whole_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path)

    def broken(pairs: object) -> None:
        raise MemoryError("no memory for the md5s")

    files = [os.urandom(100) for _ in range(3)]
    group = [(sink(store, f), [f]) for f in files]
    group[0][0].open()  # a temporary file exists already
    monkeypatch.setattr(_md5, "update_many", broken)
    stored, error = uploads.store_all(group)
    assert (stored, type(error)) == ([], MemoryError)
    assert not any(store.exists(sha(f)) for f in files)
    assert list(store.staging.iterdir()) == []


class _SizeNoting(LocalBlobStore):
    """A local store noting the size each temporary object is begun with."""

    begun: list[int | None]

    def begin(self, size: int | None = None) -> LocalWriter:
        self.begun.append(size)
        return super().begin(size)


@pytest.mark.parametrize("opened", [True, False], ids=["open-first", "opened-by-bytes"])
def test_a_sink_begins_its_temporary_object_with_the_declared_size(
    tmp_path: Path, opened: bool
) -> None:
    store = _SizeNoting(tmp_path)
    store.begun = []
    data = os.urandom(3 << 20)
    upload = sink(store, data)
    if opened:
        upload.open()
    upload.feed([memoryview(data)])
    assert upload.finish() == md5(data)
    assert store.begun == [len(data)]
    assert b"".join(store.read(sha(data))) == data


class _MeetingStore(LocalBlobStore):
    """A local store whose commits each wait until ``parties`` commits are under way at once."""

    barrier: threading.Barrier

    def begin(self, size: int | None = None) -> LocalWriter:
        writer = super().begin(size)
        commit = writer.commit

        def meeting(sha256: str) -> None:
            self.barrier.wait()  # breaks (BrokenBarrierError) unless the others come too
            commit(sha256)

        writer.commit = meeting  # type: ignore[method-assign]
        return writer


def test_the_verified_files_of_a_group_are_committed_side_by_side(tmp_path: Path) -> None:
    store = _MeetingStore(tmp_path)
    files = [os.urandom(1000 + n) for n in range(4)]
    store.barrier = threading.Barrier(len(files), timeout=10)
    group = [(sink(store, f), [memoryview(f)]) for f in files]
    assert uploads.store_all(group) == ([md5(f) for f in files], None)
    assert all(b"".join(store.read(sha(f))) == f for f in files)
    assert list(store.staging.iterdir()) == []


class _FailingStore(LocalBlobStore):
    """A local store whose commit of one digest fails as a full disk would."""

    failing: str

    def begin(self, size: int | None = None) -> LocalWriter:
        writer = super().begin(size)
        commit = writer.commit

        def failing(sha256: str) -> None:
            if sha256 == self.failing:
                raise OSError(28, "No space left on device")
            commit(sha256)

        writer.commit = failing  # type: ignore[method-assign]
        return writer


def test_a_failed_commit_reports_the_files_stored_before_it_and_its_error(
    tmp_path: Path,
) -> None:
    store = _FailingStore(tmp_path)
    files = [os.urandom(2000) for _ in range(3)]
    store.failing = sha(files[1])
    group = [(sink(store, f), [memoryview(f)]) for f in files]
    stored, error = uploads.store_all(group)
    assert stored == [md5(files[0])]
    assert isinstance(error, OSError)
    assert "No space left" in str(error)
    assert store.exists(sha(files[0]))
    assert not store.exists(sha(files[1]))
    # committed side by side, the file after the failed one may be stored, unreported
    assert store.exists(sha(files[2]))
    assert list(store.staging.iterdir()) == [], "the failed file's temporary object is gone"


def test_a_group_is_committed_on_its_own_thread_once_the_committing_threads_are_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = ThreadPoolExecutor(1)
    gone.shutdown()  # as at interpreter exit: submit() raises RuntimeError
    monkeypatch.setattr(uploads, "_committing_pool", lambda: gone)
    store = LocalBlobStore(tmp_path)
    files = [os.urandom(3000 + n) for n in range(3)]
    group = [(sink(store, f), [memoryview(f)]) for f in files]
    assert uploads.store_all(group) == ([md5(f) for f in files], None)
    assert all(b"".join(store.read(sha(f))) == f for f in files)
    assert list(store.staging.iterdir()) == []


def test_a_sink_commits_only_once_verified(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    data = os.urandom(100)
    upload = sink(store, data)
    upload.feed([memoryview(data)])
    with pytest.raises(RuntimeError, match="not verified"):
        upload.commit()
    upload.verify()
    assert upload.commit() == md5(data)
    assert b"".join(store.read(sha(data))) == data
