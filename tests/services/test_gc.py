"""Garbage collection deletes only blobs no version names, and only after the grace period."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cairn.server.blobs.local import LocalBlobStore
from cairn.server.cli import admin
from cairn.server.db.models import Blob, BlobUpload
from cairn.server.http.deps import AppState
from cairn.server.services.gc import collect
from tests.conftest import auth, call

pytestmark = pytest.mark.both_backends
OCTETS = {"Content-Type": "application/octet-stream"}
LONG_AGO = timedelta(days=30)


def _put(client: httpx.Client, key: str, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    assert (
        client.put(
            f"/api/v1/blobs/{sha}", content=data, headers={**auth(key), **OCTETS}
        ).status_code
        == 201
    )
    return sha


def _age(state: AppState, sha: str, by: timedelta) -> None:
    """Pretend a blob was uploaded `by` ago (database and storage alike)."""
    with state.writers() as s, s.begin():
        blob = s.scalar(select(Blob).where(Blob.sha256 == sha))
        assert blob is not None
        blob.created_at = blob.created_at - by
        for upload in s.scalars(select(BlobUpload).where(BlobUpload.blob_id == blob.id)):
            upload.uploaded_at = upload.uploaded_at - by
    _age_bytes(state, sha, by)


def _age_bytes(state: AppState, sha: str, by: timedelta) -> None:
    store = state.blobs
    assert isinstance(store, LocalBlobStore)
    path = store.path_of(sha)
    stamp = time.time() - by.total_seconds()
    os.utime(path, (stamp, stamp))


def test_gc_keeps_referenced_and_recent_blobs_and_deletes_the_rest(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    kept = _put(app_client, admin_key, b"named by a version")
    files = [{"path": "w", "sha256": kept, "size": 18}]
    logged = call(
        app_client,
        "POST",
        "/projects/admin/gc/artifacts",
        admin_key,
        json={"name": "m", "type": "model", "files": files},
    )
    assert logged.status_code == 201
    garbage = _put(app_client, admin_key, b"uploaded, never committed")
    fresh = _put(app_client, admin_key, b"an upload still in progress")
    for sha in (kept, garbage):
        _age(state, sha, LONG_AGO)

    dry = collect(state.writers, state.blobs, timedelta(hours=24), dry_run=True)
    assert (dry.blobs, dry.bytes) == (1, len(b"uploaded, never committed"))
    assert state.blobs.exists(garbage), "a dry run deletes nothing"

    report = collect(state.writers, state.blobs, timedelta(hours=24))
    assert report.blobs == 1
    assert not state.blobs.exists(garbage)
    assert state.blobs.exists(kept)
    assert state.blobs.exists(fresh)
    with state.readers() as s:
        assert set(s.scalars(select(Blob.sha256))) == {kept, fresh}
    body = call(
        app_client, "GET", f"/projects/admin/gc/artifacts/m/versions/v0/files/{kept}", admin_key
    )
    assert body.content == b"named by a version"


def test_gc_removes_orphaned_bytes_and_stale_staging_but_not_new_ones(
    state: AppState, tmp_path: Path
) -> None:
    store = state.blobs
    assert isinstance(store, LocalBlobStore)
    old_orphan = hashlib.sha256(b"old orphan").hexdigest()
    new_orphan = hashlib.sha256(b"new orphan").hexdigest()
    for sha, data in ((old_orphan, b"old orphan"), (new_orphan, b"new orphan")):
        writer = store.begin()
        writer.write(data)
        writer.commit(sha)
    _age_bytes(state, old_orphan, LONG_AGO)
    stale = store.begin()
    stale.write(b"abandoned")
    staged = next(store.staging.iterdir())
    old = time.time() - LONG_AGO.total_seconds()
    os.utime(staged, (old, old))
    report = collect(state.writers, store, timedelta(hours=24))
    assert (report.orphans, report.staging) == (1, 1)
    assert not store.exists(old_orphan)
    assert store.exists(new_orphan)
    assert not staged.exists()
    stale.abort()


def test_admin_gc_command_reports_what_it_would_delete(state: AppState) -> None:
    env = {
        "CAIRN_DATABASE_URL": state.settings.resolved_database_url(),
        "CAIRN_DATA_DIR": str(state.settings.data_dir),
    }
    result = CliRunner().invoke(admin, ["gc", "--dry-run", "--grace-hours", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert "would delete 0 blob(s)" in result.output
