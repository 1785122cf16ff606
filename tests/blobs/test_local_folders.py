"""The local store makes every folder it creates durable in its parent before a blob lands."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cairn.server.blobs.local import LocalBlobStore


def _commit(store: LocalBlobStore, data: bytes) -> Path:
    writer = store.begin()
    writer.write(data)
    sha256 = hashlib.sha256(data).hexdigest()
    writer.commit(sha256)
    return store.path_of(sha256)


def _sharing_first_folder() -> tuple[bytes, bytes]:
    """Two contents whose digests share their first two hex digits but not the next two."""
    seen: dict[str, bytes] = {}
    for i in range(100_000):
        data = f"blob {i}".encode()
        digest = hashlib.sha256(data).hexdigest()
        other = seen.get(digest[:2])
        if other is not None and hashlib.sha256(other).hexdigest()[2:4] != digest[2:4]:
            return other, data
        seen.setdefault(digest[:2], data)
    raise AssertionError("no pair found")


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr("cairn.server.blobs.local._fsync_dir", calls.append)
    return calls


def test_new_shard_folders_are_synced_in_their_parents(tmp_path: Path, synced: list[Path]) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    first, second = _sharing_first_folder()
    path = _commit(store, first)
    shard, top = path.parent, path.parent.parent
    assert synced == [store.root, top, shard]

    synced.clear()
    again = _commit(store, first)  # same digest, folders in place: only the file's folder
    assert (again, synced) == (path, [shard])

    synced.clear()
    other = _commit(store, second)  # a new second-level folder in an existing first-level one
    assert other.parent.parent == top
    assert other.parent != shard
    assert synced == [top, other.parent]
    assert other.read_bytes() == second


def test_a_folder_made_by_another_upload_meanwhile_is_synced_too(
    tmp_path: Path, synced: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """mkdir losing a race to another upload still syncs the parent before the rename."""
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"raced"
    real_mkdir = Path.mkdir

    def made_meanwhile(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self)
        raise FileExistsError(str(self))

    monkeypatch.setattr(Path, "mkdir", made_meanwhile)
    path = _commit(store, data)
    assert synced == [store.root, path.parent.parent, path.parent]
    assert path.read_bytes() == data
