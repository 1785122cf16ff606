"""The local blob store writes with a FileWriter: synced as blobs grow, through the page cache."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from cairn.server.blobs import local
from cairn.server.blobs.local import LocalBlobStore
from tests.blobs.file_writer_support import MIB


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
