"""Recording blobs of concurrent uploads in shared transactions: results, failures, batching."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cairn.server.db.models import Blob, BlobUpload
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState
from cairn.server.services import accounts, uploads
from tests.conftest import MakeUser

THREADS = 16
pytestmark = pytest.mark.both_backends


def _principal(state: AppState, username: str) -> Principal:
    with state.readers() as s:
        user = accounts.get_user(s, username)
        return Principal(user.id, user.username, False, False, "key")


def _digest(i: int) -> str:
    return hashlib.sha256(f"blob {i}".encode()).hexdigest()


def _slowed(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    original = uploads.record_many

    def slow(s: Session, received: Sequence[uploads.Received]) -> list[bool]:
        time.sleep(seconds)
        return original(s, received)

    monkeypatch.setattr(uploads, "record_many", slow)


def test_concurrent_records_are_all_committed_once_each(
    state: AppState, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("ann")
    make_user("bob")
    ann, bob = _principal(state, "ann"), _principal(state, "bob")
    _slowed(monkeypatch, 0.005)
    recorder = uploads.Recorder(state.writers)
    jobs = [(ann, _digest(i)) for i in range(THREADS)] + [(bob, _digest(0)), (bob, _digest(1))]
    with ThreadPoolExecutor(len(jobs)) as pool:
        created = list(pool.map(lambda job: recorder.record(job[0], job[1], 7, "0" * 32), jobs))
    assert sum(created) == THREADS, "each new blob is created once, whoever sent it too"
    with state.readers() as s:
        assert uploads.missing(s, ann, [(_digest(i), 7) for i in range(THREADS)]) == []
        assert uploads.missing(s, bob, [(_digest(i), 7) for i in range(3)]) == [_digest(2)]


def test_lists_of_blobs_are_recorded_whole_beside_single_ones(
    state: AppState, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("cy")
    cy = _principal(state, "cy")
    _slowed(monkeypatch, 0.005)
    recorder = uploads.Recorder(state.writers)
    lists = [
        [uploads.Received(cy, _digest(i + j), 7, "0" * 32) for j in range(5)] for i in range(8)
    ]

    def one(batch: list[uploads.Received]) -> list[bool]:
        if len(batch) == 1:
            return [recorder.record(cy, batch[0].sha256, 7, "0" * 32)]
        return recorder.record_all(batch)

    jobs = lists + [[uploads.Received(cy, _digest(100 + i), 7, "0" * 32)] for i in range(6)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(one, jobs))
    assert [len(r) for r in results] == [len(j) for j in jobs], "one answer per blob, in order"
    distinct = {r.sha256 for job in jobs for r in job}
    assert sum(sum(r) for r in results) == len(distinct), "each new blob is created once"
    with state.readers() as s:
        assert uploads.missing(s, cy, [(d, 7) for d in distinct]) == []
    assert recorder.record_all([]) == []


def test_sending_a_blob_again_restarts_its_grace_period_and_creates_nothing(
    state: AppState, make_user: MakeUser
) -> None:
    make_user("ann")
    ann = _principal(state, "ann")
    with state.writers() as s, s.begin():
        assert uploads.record_many(s, [uploads.Received(ann, _digest(0), 7, "0" * 32)] * 2) == [
            True,
            False,
        ]
    with state.readers() as s:
        first = s.scalars(select(BlobUpload.uploaded_at)).one()
    time.sleep(0.01)
    with state.writers() as s, s.begin():
        assert uploads.record(s, ann, _digest(0), 7, "0" * 32) is False
    with state.readers() as s:
        assert s.scalars(select(BlobUpload.uploaded_at)).one() > first
        assert s.scalar(select(func.count()).select_from(Blob)) == 1


def test_waiting_callers_share_transactions(
    state: AppState, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("ann")
    ann = _principal(state, "ann")
    _slowed(monkeypatch, 0.02)
    opened: list[int] = []

    def counting() -> Session:
        opened.append(1)
        return state.writers()

    recorder = uploads.Recorder(state.writers)
    monkeypatch.setattr(recorder, "_writers", counting)
    start = threading.Barrier(THREADS)

    def one(i: int) -> bool:
        start.wait()
        return recorder.record(ann, _digest(i), 7, "0" * 32)

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(one, range(THREADS)))
    assert len(opened) < THREADS // 2, f"{len(opened)} transactions for {THREADS} blobs"


def test_a_failed_transaction_fails_its_callers_and_the_next_ones_still_commit(
    state: AppState, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("ann")
    ann = _principal(state, "ann")
    original = uploads.record_many

    def failing(s: Session, received: Sequence[uploads.Received]) -> list[bool]:
        if any(r.sha256 == _digest(0) for r in received):
            raise RuntimeError("the database went away")
        return original(s, received)

    monkeypatch.setattr(uploads, "record_many", failing)
    recorder = uploads.Recorder(state.writers)
    with pytest.raises(RuntimeError, match="went away"):
        recorder.record(ann, _digest(0), 7, "0" * 32)
    assert recorder.record(ann, _digest(1), 7, "0" * 32) is True
    with state.readers() as s:
        assert uploads.missing(s, ann, [(_digest(0), 7), (_digest(1), 7)]) == [_digest(0)]


def test_blobs_recorded_without_an_md5_are_handed_on_once_committed(
    state: AppState, make_user: MakeUser
) -> None:
    make_user("di")
    di = _principal(state, "di")
    handed: list[list[str]] = []
    recorder = uploads.Recorder(state.writers, lambda digests: handed.append(list(digests)))
    received = [
        uploads.Received(di, _digest(0), 7, "0" * 32),
        uploads.Received(di, _digest(1), 7, None),
        uploads.Received(di, _digest(2), 7, None),
    ]
    assert recorder.record_all(received) == [True, True, True]
    assert recorder.record(di, _digest(3), 7, "1" * 32) is True
    assert handed == [[_digest(1), _digest(2)], []]
    with state.readers() as s:
        recorded = {row.sha256: row.md5 for row in s.execute(select(Blob.sha256, Blob.md5))}
    assert [recorded[_digest(i)] for i in range(3)] == ["0" * 32, None, None]
