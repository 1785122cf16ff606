"""`cairn admin gc`: --data-dir, nothing created where there is no data, empty shards removed."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from cairn.server.blobs.local import STAGING, LocalBlobStore
from cairn.server.cli import admin
from cairn.server.http.deps import AppState
from cairn.server.services.gc import collect
from tests.services.test_gc import LONG_AGO, _age, _put

NO_ENV: dict[str, str | None] = {"CAIRN_DATA_DIR": None, "CAIRN_DATABASE_URL": None}


def _gc(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(admin, ["gc", *args], env={**NO_ENV, **(env or {})})


def _one_error_line(result: Result, folder: Path) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output == (
        f"Error: no Cairn data in {folder.resolve()}; pass --data-dir or set CAIRN_DATA_DIR\n"
    )


def test_gc_where_there_is_no_data_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _one_error_line(_gc("--dry-run"), tmp_path / "cairn-data")
    assert list(tmp_path.iterdir()) == []
    elsewhere = tmp_path / "nowhere"
    _one_error_line(_gc("--data-dir", str(elsewhere)), elsewhere)
    _one_error_line(_gc(env={"CAIRN_DATA_DIR": str(elsewhere)}), elsewhere)
    assert list(tmp_path.iterdir()) == []


def test_gc_on_a_database_never_initialized_says_so_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "cairn.db").touch()
    _one_error_line(_gc("--data-dir", str(tmp_path)), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["cairn.db"]
    assert (tmp_path / "cairn.db").stat().st_size == 0


def test_gc_on_a_sqlite_url_to_no_file_creates_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = _gc("--data-dir", str(tmp_path / "data"), env={"CAIRN_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.output == ("Error: no Cairn tables in the database; check CAIRN_DATABASE_URL\n")
    assert list(tmp_path.iterdir()) == []


def test_gc_reads_the_data_dir_from_the_option_or_the_environment(state: AppState) -> None:
    folder = state.settings.data_dir
    assert (folder / "cairn.db").is_file(), "the test database sits where the server keeps it"
    for result in (
        _gc("--dry-run", "--data-dir", str(folder)),
        _gc("--dry-run", env={"CAIRN_DATA_DIR": str(folder)}),
    ):
        assert result.exit_code == 0, result.output
        assert result.output.startswith("would delete 0 blob(s)")


def _sharing(prefix_length: int) -> tuple[bytes, bytes]:
    """Two contents whose digests share their first `prefix_length` hex characters."""
    seen: dict[str, bytes] = {}
    for i in itertools.count():
        data = f"content {i}".encode()
        head = hashlib.sha256(data).hexdigest()[:prefix_length]
        if head in seen:
            return seen[head], data
        seen[head] = data
    raise AssertionError("unreachable")


def _orphan(store: LocalBlobStore, data: bytes, *, old: bool = True) -> Path:
    sha = hashlib.sha256(data).hexdigest()
    writer = store.begin()
    writer.write(data)
    writer.commit(sha)
    path = store.path_of(sha)
    if old:
        stamp = time.time() - LONG_AGO.total_seconds()
        os.utime(path, (stamp, stamp))
    return path


def _store(state: AppState) -> LocalBlobStore:
    store = state.blobs
    assert isinstance(store, LocalBlobStore)
    return store


def test_gc_removes_the_shard_folders_it_empties_and_keeps_shared_ones(
    state: AppState, app_client: httpx.Client, admin_key: str
) -> None:
    store = _store(state)
    alone = _orphan(store, b"an orphan in shards of its own")
    gone, kept = _sharing(2)
    gone_path = _orphan(store, gone)
    kept_path = _orphan(store, kept, old=False)
    catalogued = _put(app_client, admin_key, b"uploaded, never committed, alone")
    _age(state, catalogued, LONG_AGO)
    catalogued_path = store.path_of(catalogued)
    report = collect(state.writers, store, timedelta(hours=24))
    assert (report.blobs, report.orphans) == (1, 2)
    for path in (alone, catalogued_path):
        assert not path.parent.exists()
        assert not path.parent.parent.exists()
    assert not gone_path.parent.exists() or gone_path.parent == kept_path.parent
    assert kept_path.is_file()
    assert kept_path.parent.parent.is_dir()
    assert (store.root / STAGING).is_dir()


def test_an_upload_into_a_shard_gc_empties_meanwhile_lands(
    state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delete() removes the shard folder it empties; a writer committing into that folder
    right then (between its mkdir and its rename) makes it again and lands its file."""
    store = _store(state)
    first, second = _sharing(4)
    doomed = store.path_of(_write(store, first))
    writer = store.begin()
    writer.write(second)
    real_replace = os.replace
    raced: list[str] = []

    def gc_first(source: str, target: str) -> None:
        if not raced:
            raced.append(target)
            store.delete(hashlib.sha256(first).hexdigest())  # empties the shard meanwhile
            assert not doomed.parent.exists()
        real_replace(source, target)

    monkeypatch.setattr("cairn.server.blobs.local.os.replace", gc_first)
    writer.commit(hashlib.sha256(second).hexdigest())
    assert raced, "the rename ran with the shard gone"
    assert store.path_of(hashlib.sha256(second).hexdigest()).read_bytes() == second


def test_delete_keeps_a_shard_another_blob_holds(state: AppState) -> None:
    store = _store(state)
    first, second = _sharing(4)
    gone, kept = store.path_of(_write(store, first)), store.path_of(_write(store, second))
    store.delete(hashlib.sha256(first).hexdigest())
    assert not gone.exists()
    assert kept.read_bytes() == second
    store.delete(hashlib.sha256(second).hexdigest())
    assert not kept.parent.exists()
    assert not kept.parent.parent.exists()
    store.delete(hashlib.sha256(second).hexdigest())  # idempotent, folders already gone


def _write(store: LocalBlobStore, data: bytes) -> str:
    writer = store.begin()
    writer.write(data)
    sha256 = hashlib.sha256(data).hexdigest()
    writer.commit(sha256)
    return sha256
