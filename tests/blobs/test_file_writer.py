"""cairn._filewriter.FileWriter: every size lands intact, through the page cache; failures raise."""

from __future__ import annotations

import array
import errno
import fcntl
import os
from pathlib import Path
from typing import Any, Literal

import pytest

from cairn._filewriter import FileWriter, SpliceRefused
from tests.blobs.file_writer_support import MIB, write_and_read

SIZES = [0, 1, 4095, 4096, 4097, MIB - 1, MIB, MIB + 1, 3 * MIB + 12_345]
CHUNKS = [1, 65_536, 1_000_003, MIB]
MODES: dict[str, dict[str, Any]] = {
    "plain": {},
    "synced": {"sync_every": 300_000},
}


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
