"""Large files on local disk are answered once durable and verified; their md5 follows."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import cairn
from cairn.server.db.models import Blob
from cairn.server.http.deps import AppState
from cairn.server.services import blob_md5
from tests.api.test_blob_stream_trailer import trailed
from tests.api.test_blob_stream_upload import post, record, sha
from tests.conftest import auth

LATER_FROM = 1 << 20  # the threshold for these tests: files of 1 MiB and more


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blob_md5, "MD5_LATER_FROM", LATER_FROM)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _recorded_md5(state: AppState, data: bytes) -> str | None:
    with state.readers() as s:
        return s.scalar(select(Blob.md5).where(Blob.sha256 == sha(data)))


def _put(client: httpx.Client, key: str, data: bytes) -> httpx.Response:
    headers = {**auth(key), "Content-Type": "application/octet-stream"}
    return client.put(f"/api/v1/blobs/{sha(data)}", content=data, headers=headers)


@pytest.mark.both_backends
def test_a_large_file_is_answered_without_its_md5_and_gets_it_right_after(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(LATER_FROM + 4321)
    response = _put(app_client, admin_key, data)
    assert response.status_code == 201, response.text
    assert response.json() == {"sha256": sha(data), "size": len(data), "md5": None, "created": True}
    assert state.md5s.wait(30)
    assert _recorded_md5(state, data) == _md5(data)


def test_a_file_under_the_threshold_gets_its_md5_on_the_way_in(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(LATER_FROM - 1)
    response = _put(app_client, admin_key, data)
    assert response.status_code == 201, response.text
    assert response.json()["md5"] == _md5(data)
    assert _recorded_md5(state, data) == _md5(data)


def test_in_a_blob_stream_only_the_large_files_get_their_md5_later(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    small, large, hashed_as_sent = os.urandom(1000), os.urandom(LATER_FROM), os.urandom(LATER_FROM)
    body = record(small) + record(large) + trailed(hashed_as_sent)
    response = post(app_client, admin_key, body)
    assert response.status_code == 201, response.text
    assert [b["md5"] for b in response.json()["blobs"]] == [_md5(small), None, None]
    assert state.md5s.wait(30)
    assert [_recorded_md5(state, d) for d in (small, large, hashed_as_sent)] == [
        _md5(small),
        _md5(large),
        _md5(hashed_as_sent),
    ]


def test_a_version_lists_its_large_file_without_md5_then_with_it_once_taken(
    app_client: httpx.Client,
    admin_key: str,
    state: AppState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = threading.Event()
    real = blob_md5.LaterMd5s._take

    def after_the_first_look(self: blob_md5.LaterMd5s, sha256: str, stop: threading.Event) -> None:
        assert held.wait(30)
        real(self, sha256, stop)

    monkeypatch.setattr(blob_md5.LaterMd5s, "_take", after_the_first_look)
    data = os.urandom(LATER_FROM + 1)
    (tmp_path / "model.bin").write_bytes(data)
    with cairn.Api(client=app_client, api_key=admin_key) as api:
        art = cairn.Artifact("big-model", type="model")
        art.add_file(tmp_path / "model.bin")
        logged = api.log_artifact(art, "admin/md5-later", progress=False)
        (before,) = api.artifact(logged.ref).files
        held.set()
        assert state.md5s.wait(30)
        (after,) = api.artifact(logged.ref).files
    assert (before.sha256, before.md5) == (sha(data), None)
    assert (after.sha256, after.md5) == (sha(data), _md5(data))
