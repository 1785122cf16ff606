"""Blob uploads received in batches: both digests, refusals and failures keep nothing behind."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence

import httpx
import pytest

from cairn.server.api.blobs import FEED_BYTES
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.http.deps import AppState
from cairn.server.services import uploads
from tests.conftest import auth

SEVERAL_BATCHES = 2 * FEED_BYTES + 12_345


def _pieces(data: bytes, step: int = 100_000) -> Iterator[bytes]:
    for start in range(0, len(data), step):
        yield data[start : start + step]


def _put(
    client: httpx.Client, key: str, sha256: str, body: bytes, declared: int | None = None
) -> httpx.Response:
    headers = {
        **auth(key),
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(body) if declared is None else declared),
    }
    return client.put(f"/api/v1/blobs/{sha256}", content=_pieces(body), headers=headers)


def _staged(state: AppState) -> list[str]:
    store = state.blobs
    assert isinstance(store, LocalBlobStore)
    return [p.name for p in store.staging.iterdir()]


def test_a_body_of_several_batches_is_stored_with_its_sha256_and_md5(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(SEVERAL_BATCHES)
    sha256 = hashlib.sha256(data).hexdigest()
    response = _put(app_client, admin_key, sha256, data)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "sha256": sha256,
        "size": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "created": True,
    }
    assert b"".join(state.blobs.read(sha256)) == data
    assert _staged(state) == []


def test_an_empty_body_is_a_blob_too(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    sha256 = hashlib.sha256(b"").hexdigest()
    response = _put(app_client, admin_key, sha256, b"")
    assert response.status_code == 201, response.text
    assert response.json()["md5"] == hashlib.md5(b"", usedforsecurity=False).hexdigest()
    assert state.blobs.size(sha256) == 0


def test_a_wrong_digest_found_after_several_batches_keeps_nothing(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(SEVERAL_BATCHES)
    claimed = hashlib.sha256(b"something else").hexdigest()
    response = _put(app_client, admin_key, claimed, data)
    assert response.status_code == 422, response.text
    assert "does not match" in response.json()["error"]["message"]
    assert not state.blobs.exists(claimed)
    assert _staged(state) == []


@pytest.mark.parametrize("sent", [FEED_BYTES + 1, 3 * FEED_BYTES])
def test_more_bytes_than_declared_are_refused_and_nothing_is_kept(
    app_client: httpx.Client, admin_key: str, state: AppState, sent: int
) -> None:
    data = os.urandom(sent)
    sha256 = hashlib.sha256(data).hexdigest()
    response = _put(app_client, admin_key, sha256, data, declared=FEED_BYTES)
    assert response.status_code == 422, response.text
    assert "more than the declared" in response.json()["error"]["message"]
    assert not state.blobs.exists(sha256)
    assert _staged(state) == []


def test_a_failing_hashing_thread_fails_the_upload_and_keeps_nothing(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def broken(digest: object, chunks: Sequence[bytes]) -> None:
        calls.append(len(chunks))
        if len(calls) == 2:
            raise RuntimeError("hashing thread failed")

    monkeypatch.setattr(uploads, "_update", broken)
    data = os.urandom(SEVERAL_BATCHES)
    sha256 = hashlib.sha256(data).hexdigest()
    response = _put(app_client, admin_key, sha256, data)
    assert response.status_code == 500
    assert len(calls) == 2, "the upload stopped at the failing batch"
    assert not state.blobs.exists(sha256)
    assert _staged(state) == []
    monkeypatch.undo()
    again = _put(app_client, admin_key, sha256, data)
    assert again.status_code == 201, again.text


def test_a_sink_refuses_bytes_after_it_ended(state: AppState) -> None:
    data = b"abc"
    sink = uploads.BlobSink(state.blobs, hashlib.sha256(data).hexdigest(), 3, 1 << 20)
    sink.feed([data])
    assert sink.finish() == hashlib.md5(data, usedforsecurity=False).hexdigest()
    with pytest.raises(RuntimeError):
        sink.feed([b"more"])
    sink.abort()  # after the end: nothing to do, and the stored blob stays
    assert b"".join(state.blobs.read(sink.sha256)) == data
