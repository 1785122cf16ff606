"""POST /blobs/batch: many files in one blob stream, each verified and kept on its own."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence

import httpx
import pytest

from cairn import _md5
from cairn.server.api.blobs import BATCH_FINISHING_BYTES, FEED_BYTES
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.domain import blobstream
from cairn.server.http.deps import AppState
from cairn.server.http.middleware import _blob_upload_problem
from tests.conftest import auth

STREAM = "application/vnd.cairn.blobs"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(data: bytes, claimed: str | None = None, size: int | None = None) -> bytes:
    """One record: the header line, then the bytes."""
    return f"{claimed or sha(data)} {len(data) if size is None else size}\n".encode() + data


def pieces(body: bytes, step: int) -> Iterator[bytes]:
    for start in range(0, len(body), step):
        yield body[start : start + step]


def post(
    client: httpx.Client,
    key: str,
    body: bytes,
    *,
    step: int = 65_536,
    content_type: str = STREAM,
    length: int | None = None,
) -> httpx.Response:
    headers = {
        **auth(key),
        "Content-Type": content_type,
        "Content-Length": str(len(body) if length is None else length),
    }
    return client.post("/api/v1/blobs/batch", content=pieces(body, step), headers=headers)


def missing(client: httpx.Client, key: str, blobs: Sequence[bytes]) -> list[str]:
    body = {"blobs": [{"sha256": sha(b), "size": len(b)} for b in blobs]}
    response = client.post("/api/v1/blobs/missing", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["missing"]
    return found


def staged(state: AppState) -> list[str]:
    store = state.blobs
    assert isinstance(store, LocalBlobStore)
    return [p.name for p in store.staging.iterdir()]


# sizes: empty, tiny, one across feeds, enough files to exceed what is finished at once
FILES = [
    b"",
    b"x",
    os.urandom(2 * FEED_BYTES + 17),
    *(os.urandom(1 << 20) for _ in range(BATCH_FINISHING_BYTES // (1 << 20) + 4)),
]


@pytest.mark.parametrize("step", [1_000_003, 65_536, 7])
def test_every_file_is_stored_verified_and_answered_in_stream_order(
    app_client: httpx.Client, admin_key: str, state: AppState, step: int
) -> None:
    files = FILES if step > 7 else [*FILES[:2], os.urandom(5000)]
    response = post(app_client, admin_key, b"".join(record(f) for f in files), step=step)
    assert response.status_code == 201, response.text
    assert response.json()["blobs"] == [
        {
            "sha256": sha(f),
            "size": len(f),
            "md5": hashlib.md5(f, usedforsecurity=False).hexdigest(),
            "created": True,
        }
        for f in files
    ]
    for f in files:
        assert b"".join(state.blobs.read(sha(f))) == f
    assert missing(app_client, admin_key, files) == [], "each one counts as sent by the caller"
    assert staged(state) == []


def test_without_the_native_md5_files_are_stored_one_by_one_the_same(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_md5, "_md5x", None)
    monkeypatch.setattr(_md5, "LANES", 1)
    response = post(app_client, admin_key, b"".join(record(f) for f in FILES))
    assert response.status_code == 201, response.text
    assert [b["md5"] for b in response.json()["blobs"]] == [
        hashlib.md5(f, usedforsecurity=False).hexdigest() for f in FILES
    ]
    assert missing(app_client, admin_key, FILES) == []
    assert staged(state) == []


def test_the_same_content_twice_in_one_stream_is_stored_once(
    app_client: httpx.Client, admin_key: str
) -> None:
    data = os.urandom(3000)
    response = post(app_client, admin_key, record(data) + record(data))
    assert response.status_code == 201, response.text
    assert sorted(b["created"] for b in response.json()["blobs"]) == [False, True]


def test_a_bad_file_stops_the_stream_and_keeps_the_files_before_it(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    good, bad, after = os.urandom(4000), os.urandom(4000), os.urandom(4000)
    claimed = sha(b"not these bytes")
    body = record(good) + record(bad, claimed=claimed) + record(after)
    response = post(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    assert "does not match" in response.json()["error"]["message"]
    assert state.blobs.exists(sha(good))
    assert not state.blobs.exists(claimed)
    # files are finished side by side: one after the bad one may be complete already, and
    # then it is kept and counts as sent; never stored without being recorded, or the reverse
    still_missing = missing(app_client, admin_key, [good, after])
    assert sha(good) not in still_missing
    assert state.blobs.exists(sha(after)) == (sha(after) not in still_missing)
    assert staged(state) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not a header\n", "starts with"),
        (b"A" * 64 + b" 1\nx", "starts with"),  # upper-case hex
        (f"{sha(b'x')} 01\n".encode() + b"x", "starts with"),  # leading zero
        (f"{sha(b'x')}  1\n".encode() + b"x", "starts with"),
        (b"0" * 200, "starts with"),  # no line feed where a header must end
        (record(b"abc")[:-1], "ended inside a record"),
        (record(b"abc") + b"f" * 10, "ended inside a record"),  # half a header after a file
    ],
)
def test_a_malformed_stream_is_refused_and_leaves_nothing_staged(
    app_client: httpx.Client, admin_key: str, state: AppState, body: bytes, message: str
) -> None:
    response = post(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert staged(state) == []


def test_a_record_larger_than_the_file_cap_is_refused(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    limit = state.settings.max_blob_bytes
    response = post(app_client, admin_key, f"{sha(b'x')} {limit + 1}\n".encode())
    assert response.status_code == 422, response.text
    assert staged(state) == []


@pytest.mark.parametrize(
    ("content_type", "length", "status"),
    [
        ("application/octet-stream", None, 415),
        ("application/json", None, 415),
        (STREAM, -1, 411),
    ],
)
def test_the_edge_wants_a_blob_stream_of_a_declared_length(
    app_client: httpx.Client, admin_key: str, content_type: str, length: int | None, status: int
) -> None:
    body = record(b"abc")
    headers = {**auth(admin_key), "Content-Type": content_type}
    if length is None:
        headers["Content-Length"] = str(len(body))
    response = app_client.post(
        "/api/v1/blobs/batch", content=pieces(body, 2), headers=headers
    )  # a generator body without Content-Length is sent chunked
    assert response.status_code == status, response.text


def test_a_stream_over_the_file_cap_is_refused_before_reading_it(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    over = state.settings.max_blob_bytes + blobstream.RECORD_FRAMING + 1
    response = post(app_client, admin_key, record(b"abc"), length=over)
    assert response.status_code == 413, response.text


def test_a_file_of_the_cap_size_fits_in_a_stream_of_its_own() -> None:
    """The edge allows one record's framing beyond the cap: the SDK sends a new large file
    alone in a stream (`- <size>`, bytes, digest), which PUT would take as well."""
    cap = 1000
    one_file = len(blobstream.header(None, cap)) + cap + blobstream.TRAILER
    for media, length, allowed in [
        (STREAM, one_file, True),
        (STREAM, cap + blobstream.RECORD_FRAMING + 1, False),
        ("application/octet-stream", cap, True),
        ("application/octet-stream", cap + 1, False),
    ]:
        headers = {b"content-type": media.encode(), b"content-length": str(length).encode()}
        problem = _blob_upload_problem(headers, cap, media)
        assert (None if allowed else 413) == (problem and problem[0]), (media, length, problem)


def test_strangers_cannot_send_blob_streams(app_client: httpx.Client, state: AppState) -> None:
    data = b"anonymous bytes"
    response = app_client.post(
        "/api/v1/blobs/batch",
        content=record(data),
        headers={"Content-Type": STREAM},
    )
    assert response.status_code == 401, response.text
    assert not state.blobs.exists(sha(data))


def test_an_empty_stream_is_how_clients_ask_whether_streams_are_taken(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    response = post(app_client, admin_key, b"")
    assert response.status_code == 201, response.text
    assert response.json() == {"blobs": []}
    assert staged(state) == []


def test_a_stream_of_too_many_files_is_refused_past_the_limit(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobstream, "MAX_FILES", 3)
    files = [os.urandom(100) for _ in range(4)]
    response = post(app_client, admin_key, b"".join(record(f) for f in files))
    assert response.status_code == 422, response.text
    assert "at most 3 files" in response.json()["error"]["message"]
    assert missing(app_client, admin_key, files) == [sha(files[3])], "the first three are kept"
    assert staged(state) == []
