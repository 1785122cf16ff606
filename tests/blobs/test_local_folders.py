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


def _opened(root: Path, synced: list[Path]) -> LocalBlobStore:
    """A store at ``root``, the syncs its opening made forgotten."""
    store = LocalBlobStore(root)
    synced.clear()
    return store


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr("cairn.server.blobs.local._fsync_dir", calls.append)
    return calls


def test_new_shard_folders_are_synced_in_their_parents(tmp_path: Path, synced: list[Path]) -> None:
    store = _opened(tmp_path / "blobs", synced)
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
    store = _opened(tmp_path / "blobs", synced)
    data = b"raced"
    real_mkdir = Path.mkdir

    def made_meanwhile(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self)
        raise FileExistsError(str(self))

    monkeypatch.setattr(Path, "mkdir", made_meanwhile)
    path = _commit(store, data)
    assert synced == [store.root, path.parent.parent, path.parent]
    assert path.read_bytes() == data


def test_a_folder_found_on_disk_is_synced_before_a_blob_relies_on_it(
    tmp_path: Path, synced: list[Path]
) -> None:
    """Another upload (or a process that died) may have made the folders without syncing them
    yet: finding them is not enough, their entries are synced before this blob counts as stored."""
    data = b"found on disk"
    path = LocalBlobStore(tmp_path / "blobs").path_of(hashlib.sha256(data).hexdigest())
    path.parent.mkdir(parents=True)
    store = _opened(tmp_path / "blobs", synced)
    assert _commit(store, data) == path
    assert synced == [store.root, path.parent.parent, path.parent]

    synced.clear()
    _commit(store, data)  # synced once by this store: not again
    assert synced == [path.parent]


@pytest.mark.parametrize("remover", ["this store", "another process"])
def test_folders_removed_with_their_last_blob_are_made_and_synced_again(
    tmp_path: Path, synced: list[Path], remover: str
) -> None:
    """Removed by this store's delete() or behind its back (`cairn admin gc` in another
    process), the folders it knew as durable are made and synced again."""
    store = _opened(tmp_path / "blobs", synced)
    data = b"deleted, then sent again"
    path = _commit(store, data)
    deleting = store if remover == "this store" else LocalBlobStore(tmp_path / "blobs")
    deleting.delete(hashlib.sha256(data).hexdigest())
    assert not path.parent.parent.exists()

    synced.clear()
    assert _commit(store, data).read_bytes() == data
    assert synced == [store.root, path.parent.parent, path.parent]


def test_opening_a_store_syncs_the_entries_of_its_folders(
    tmp_path: Path, synced: list[Path]
) -> None:
    """A first start makes the data directory, the store's root and its staging folder: their
    entries are made durable before any blob is stored in them."""
    root = tmp_path / "data" / "blobs"
    store = LocalBlobStore(root)
    assert synced == [root, root.parent, root.parent.parent]
    assert store.staging.is_dir()


def test_a_parent_the_server_may_not_open_is_left_to_the_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data" / "blobs"
    synced: list[Path] = []

    def sync(path: Path) -> None:
        if path == root.parent:
            raise PermissionError(str(path))
        synced.append(path)

    monkeypatch.setattr("cairn.server.blobs.local._fsync_dir", sync)
    store = LocalBlobStore(root)
    assert synced == [root]
    assert store.staging.is_dir()
