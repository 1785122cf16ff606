"""FileWriter sets space aside for the bytes to come, as they arrive and never past what is due."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from cairn import _filewriter
from cairn._filewriter import FileWriter
from cairn.server.blobs.local import LocalBlobStore
from tests.blobs.file_writer_support import MIB, write_and_read


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
