"""Md5s taken after the upload: found, taken at idle priority, recorded once, stopped cleanly."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from cairn.server.app import create_app
from cairn.server.blobs.base import BlobStore
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.db.models import Blob
from cairn.server.http.deps import AppState
from cairn.server.services import blob_md5

pytestmark = pytest.mark.both_backends


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _stored_without_md5(state: AppState, data: bytes, store: BlobStore | None = None) -> str:
    """A blob in the store (the app's unless given), recorded as a large upload leaves it:
    no md5 yet."""
    sha256 = hashlib.sha256(data).hexdigest()
    writer = (store or state.blobs).begin(len(data))
    writer.write(data)
    writer.commit(sha256)
    _recorded_without_md5(state, sha256, len(data))
    return sha256


def _recorded_without_md5(state: AppState, sha256: str, size: int) -> None:
    with state.writers() as s, s.begin():
        s.add(Blob(sha256=sha256, size=size, md5=None))


def _md5_of(state: AppState, sha256: str) -> str | None:
    with state.readers() as s:
        return s.scalar(select(Blob.md5).where(Blob.sha256 == sha256))


def test_the_md5_of_a_blob_handed_over_is_taken_and_recorded(state: AppState) -> None:
    data = os.urandom(3 * blob_md5.READ_PIECE + 1234)
    sha256 = _stored_without_md5(state, data)
    state.md5s.add([sha256])
    assert state.md5s.wait(30)
    assert _md5_of(state, sha256) == _md5(data)


def test_blobs_left_without_md5_are_found_when_the_app_starts(state: AppState) -> None:
    first, second = os.urandom(100_000), os.urandom(5000)
    digests = [_stored_without_md5(state, first), _stored_without_md5(state, second)]
    with TestClient(create_app(state.settings, state=state)):
        assert state.md5s.wait(30)
        assert [_md5_of(state, d) for d in digests] == [_md5(first), _md5(second)]
    assert state.md5s.sweep() == 0


def test_a_blob_gone_meanwhile_is_skipped_and_the_next_one_still_taken(
    state: AppState, caplog: pytest.LogCaptureFixture
) -> None:
    gone = hashlib.sha256(b"collected before its md5 was taken").hexdigest()
    _recorded_without_md5(state, gone, 34)
    data = os.urandom(4096)
    kept = _stored_without_md5(state, data)
    assert state.md5s.sweep() == 2
    assert state.md5s.wait(30)
    assert _md5_of(state, gone) is None
    assert _md5_of(state, kept) == _md5(data)
    assert "could not take the md5" not in caplog.text  # skipped, not failed


def test_an_md5_recorded_meanwhile_is_left_as_it_is(state: AppState) -> None:
    data = os.urandom(4096)
    sha256 = _stored_without_md5(state, data)
    with state.writers() as s, s.begin():
        s.execute(update(Blob).where(Blob.sha256 == sha256).values(md5="f" * 32))
    state.md5s.add([sha256])
    assert state.md5s.wait(30)
    assert _md5_of(state, sha256) == "f" * 32


def test_md5s_are_taken_on_a_thread_of_the_lowest_priority(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = blob_md5.LaterMd5s._take

    def noting(self: blob_md5.LaterMd5s, sha256: str, stopping: threading.Event) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        real(self, sha256, stopping)

    monkeypatch.setattr(blob_md5.LaterMd5s, "_take", noting)
    sha256 = _stored_without_md5(state, b"low priority")
    state.md5s.add([sha256])
    assert state.md5s.wait(30)
    assert seen == [blob_md5.IDLE_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < blob_md5.IDLE_NICE
    assert _md5_of(state, sha256) == _md5(b"low priority")


class _Pausing(LocalBlobStore):
    """Hands out a blob's first piece, then waits until told to go on."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.first_piece_out = threading.Event()
        self.go_on = threading.Event()

    def read(
        self, sha256: str, start: int = 0, end: int | None = None, *, piece: int = 1 << 20
    ) -> Iterator[bytes]:
        for n, chunk in enumerate(super().read(sha256, start, end, piece=piece)):
            if n == 1:
                self.first_piece_out.set()
                assert self.go_on.wait(30)
            yield chunk


def test_stopping_ends_an_md5_in_progress_and_the_next_sweep_takes_it(
    state: AppState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blob_md5, "READ_PIECE", 4096)
    store = _Pausing(tmp_path / "pausing")
    md5s = blob_md5.LaterMd5s(store, state.readers, state.writers)
    data = os.urandom(10 * 4096)
    sha256 = _stored_without_md5(state, data, store)
    md5s.add([sha256])
    assert store.first_piece_out.wait(30)
    md5s.stop(timeout=0)  # asks; the thread is held inside the read
    store.go_on.set()
    assert md5s.wait(30)  # done with: it stopped before the next piece
    assert _md5_of(state, sha256) is None
    assert md5s.sweep() == 1
    assert md5s.wait(30)
    md5s.stop(timeout=30)
    assert _md5_of(state, sha256) == _md5(data)


class _Remote(LocalBlobStore):
    """A store whose blobs are not files here (as in a bucket)."""

    holds_files = False

    def local_path(self, sha256: str) -> Path | None:
        return None


def test_only_large_blobs_in_a_local_folder_get_their_md5_later(tmp_path: Path) -> None:
    local, remote = LocalBlobStore(tmp_path / "local"), _Remote(tmp_path / "remote")
    assert blob_md5.takes_later(local, blob_md5.MD5_LATER_FROM)
    assert not blob_md5.takes_later(local, blob_md5.MD5_LATER_FROM - 1)
    assert not blob_md5.takes_later(remote, 1 << 40)


def test_two_server_processes_sweeping_together_record_each_md5_once_right(
    state: AppState,
) -> None:
    contents = [os.urandom(50_000 + n) for n in range(12)]
    digests = [_stored_without_md5(state, data) for data in contents]
    other = blob_md5.LaterMd5s(state.blobs, state.readers, state.writers)
    try:
        assert state.md5s.sweep() == 12
        assert other.sweep() <= 12  # less those the first has taken meanwhile
        assert state.md5s.wait(30)
        assert other.wait(30)
    finally:
        other.stop(30)
    assert [_md5_of(state, d) for d in digests] == [_md5(data) for data in contents]


def test_the_sweep_reads_the_waiting_blobs_from_their_own_index(state: AppState) -> None:
    """Every start sweeps: with millions of blobs it must not read them all."""
    with state.readers() as s, s.begin():
        dialect = s.get_bind().dialect.name
        statement = str(blob_md5.PENDING.compile(dialect=s.get_bind().dialect))
        if dialect == "postgresql":
            # on tables this small a scan is cheaper: ask whether the index can serve at all
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(s.scalars(text(f"EXPLAIN {statement}")))
        else:
            rows = s.execute(text(f"EXPLAIN QUERY PLAN {statement}"))
            plan = " ".join(row.detail for row in rows)
    assert "ix_blobs_md5_pending" in plan, plan
