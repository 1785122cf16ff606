"""Reading files to send: exact bytes and digest, read ahead on a thread for large files,
changed files refused, and no reader thread left behind."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import BinaryIO, cast

import pytest

import cairn
from cairn.client import _transfer
from cairn.client._errors import ValidationError
from cairn.client._progress import TransferProgress
from cairn.client._transfer import file_chunks
from tests.client.artifacts_support import sha256, write

CHUNK = 1000


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of CHUNK bytes, read ahead from 3 chunks on: small files cross every case."""
    monkeypatch.setattr(_transfer, "CHUNK", CHUNK)
    monkeypatch.setattr(_transfer, "READ_AHEAD_FROM", 3 * CHUNK)


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cairn-read")]


def bar() -> TransferProgress:
    return TransferProgress("Uploading", total_bytes=0, total_files=0, enabled=False)


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK - 1, 3 * CHUNK, 10 * CHUNK + 7])
def test_the_chunks_are_the_file_and_the_digest_is_its_sha256(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = write(tmp_path / "f.bin", data)
    digest = hashlib.sha256()
    chunks = list(file_chunks(path, size, bar(), threading.Event(), digest))
    assert b"".join(chunks) == data
    assert all(len(c) == CHUNK for c in chunks[:-1])
    assert digest.hexdigest() == sha256(data)
    assert readers() == []


def test_large_files_are_read_on_a_thread_of_their_own(tmp_path: Path) -> None:
    path = write(tmp_path / "f.bin", os.urandom(10 * CHUNK))
    chunks = file_chunks(path, 10 * CHUNK, bar(), threading.Event())
    next(chunks)
    assert len(readers()) == 1
    chunks.close()
    assert readers() == [], "closing the chunks stops the reader"


def test_small_files_are_read_on_the_callers_thread(tmp_path: Path) -> None:
    path = write(tmp_path / "f.bin", os.urandom(2 * CHUNK))
    chunks = file_chunks(path, 2 * CHUNK, bar(), threading.Event())
    next(chunks)
    assert readers() == []
    chunks.close()


@pytest.mark.parametrize("actual", [10 * CHUNK - 1, 10 * CHUNK + 1, 20 * CHUNK])
def test_a_file_whose_size_changed_is_refused(tmp_path: Path, actual: int) -> None:
    path = write(tmp_path / "f.bin", os.urandom(actual))
    with pytest.raises(ValidationError, match="changed while it was being uploaded"):
        list(file_chunks(path, 10 * CHUNK, bar(), threading.Event()))
    assert readers() == []


def test_a_stop_ends_the_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "f.bin", os.urandom(10 * CHUNK))
    stop = threading.Event()
    chunks = file_chunks(path, 10 * CHUNK, bar(), stop)
    next(chunks)
    stop.set()
    with pytest.raises(_transfer.Stopped):
        next(chunks)
    assert readers() == []


class FailingRead:
    """A file handle whose third read fails."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.reads = 0

    def read(self, size: int) -> bytes:
        self.reads += 1
        if self.reads == 3:
            raise OSError("disk gone")
        return self.handle.read(size)

    def fileno(self) -> int:
        return self.handle.fileno()

    def tell(self) -> int:
        return self.handle.tell()


def test_a_read_error_reaches_the_sender(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "f.bin", os.urandom(10 * CHUNK))
    real = _transfer._read_ahead
    monkeypatch.setattr(
        _transfer,
        "_read_ahead",
        lambda handle, digest: real(cast(BinaryIO, FailingRead(handle)), digest),
    )
    chunks = file_chunks(path, 10 * CHUNK, bar(), threading.Event())
    assert len(next(chunks)) == CHUNK
    with pytest.raises(OSError, match="disk gone"):
        list(chunks)
    assert readers() == []


def test_a_large_file_pushed_read_ahead_arrives_whole(
    api: cairn.Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real server: files sent while they are hashed, read ahead, arrive whole
    under the digest that follows their bytes."""
    monkeypatch.setattr(_transfer, "CHUNK", 64 << 10)
    monkeypatch.setattr(_transfer, "READ_AHEAD_FROM", 1)
    data = [os.urandom((3 << 20) + 17), os.urandom(1 << 20), os.urandom(1 << 20)]
    paths = [write(tmp_path / "src" / f"f{i}.bin", d) for i, d in enumerate(data)]
    api.create_team("team")
    art = cairn.Artifact("ahead", type="model")
    art.add_dir(tmp_path / "src")
    version = api.log_artifact(art, "team/proj")
    assert sorted(f.sha256 for f in version.files) == sorted(sha256(d) for d in data)
    out = api.artifact(version.ref).download(tmp_path / "out", cache=False)
    assert [(out / p.name).read_bytes() for p in paths] == data
