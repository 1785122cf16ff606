"""cairn._prefetch: a file's next bytes asked of the disk ahead of their reader, once each."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from cairn._prefetch import Prefetcher
from cairn.client import _transfer
from cairn.client._progress import TransferProgress

MIB = 1 << 20

Asks = list[tuple[int, int, int]]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(10 * MIB + 5))
    return path


def test_more_is_asked_for_as_the_position_moves_on_up_to_the_end(
    data_file: Path, asked_ahead: Asks
) -> None:
    start, end = 7, 10 * MIB + 5
    with data_file.open("rb") as handle:
        prefetch = Prefetcher(handle.fileno(), end)
        prefetch.ahead_of(start)
        assert [o for o, _, _ in asked_ahead] == [start + i * MIB for i in range(4)]
        prefetch.ahead_of(start + MIB // 2)  # less than a step read: nothing more
        assert len(asked_ahead) == 4
        prefetch.ahead_of(start + MIB)  # a step read: the next step asked for
        assert asked_ahead[4:] == [(start + 4 * MIB, MIB, os.POSIX_FADV_WILLNEED)]
        prefetch.ahead_of(start + 8 * MIB)  # a jump: skips what was read, stops at the end
        assert [(o, n) for o, n, _ in asked_ahead[5:]] == [
            (start + 8 * MIB, MIB),
            (start + 9 * MIB, end - (start + 9 * MIB)),  # the range's last, shorter step
        ]
        prefetch.ahead_of(end - 1)
        assert len(asked_ahead) == 7, "nothing past the end"


def test_without_an_end_it_asks_a_step_at_a_time_for_ever(
    data_file: Path, asked_ahead: Asks
) -> None:
    with data_file.open("rb") as handle:
        prefetch = Prefetcher(handle.fileno())
        prefetch.ahead_of(100 * MIB)
    assert [(o, n) for o, n, _ in asked_ahead] == [(100 * MIB + i * MIB, MIB) for i in range(4)]


def test_a_system_that_refuses_the_hint_is_not_asked_again_in_that_call(
    data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append(offset)
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    with data_file.open("rb") as handle:
        prefetch = Prefetcher(handle.fileno())
        prefetch.ahead_of(0)
        assert calls == [0]
        assert prefetch.asked_to == 0, "nothing counts as asked for"


def _in_order_once(asks: Asks, size: int) -> None:
    """Every ask is a WILLNEED, in order, no byte asked for twice, the first at 0 and the
    file's bytes covered up to its end."""
    assert {advice for _, _, advice in asks} == {os.POSIX_FADV_WILLNEED}
    ends = [offset + length for offset, length, _ in asks]
    assert asks[0][0] == 0
    assert all(ends[i] <= asks[i + 1][0] for i in range(len(asks) - 1))
    assert ends[-1] >= size


def test_the_sdk_asks_ahead_as_it_hashes_a_large_file(
    data_file: Path, asked_ahead: Asks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "READ_AHEAD_FROM", MIB)
    data = data_file.read_bytes()
    assert _transfer.hash_file(data_file) == (hashlib.sha256(data).hexdigest(), len(data))
    _in_order_once(asked_ahead, len(data))


def test_the_sdk_asks_ahead_as_it_reads_a_large_file_to_send(
    data_file: Path, asked_ahead: Asks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_transfer, "READ_AHEAD_FROM", MIB)
    data = data_file.read_bytes()
    digest = hashlib.sha256()
    with TransferProgress("Uploading", total_bytes=len(data), total_files=1, enabled=False) as bar:
        chunks = _transfer.file_chunks(data_file, len(data), bar, threading.Event(), digest)
        assert b"".join(chunks) == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    _in_order_once(asked_ahead, len(data))


def test_a_small_file_is_hashed_without_asking(tmp_path: Path, asked_ahead: Asks) -> None:
    """A file under READ_AHEAD_FROM takes a read or two: asking first would cost more."""
    path = tmp_path / "small.bin"
    path.write_bytes(b"s" * 1000)
    assert _transfer.hash_file(path) == (hashlib.sha256(b"s" * 1000).hexdigest(), 1000)
    assert asked_ahead == []
