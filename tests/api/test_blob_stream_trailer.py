"""POST /blobs/batch with `- <size>` records: the sha256 follows the bytes on a line of its own."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

import httpx
import pytest

from cairn.server.api.blobs import FEED_BYTES
from cairn.server.domain import blobstream
from cairn.server.http.deps import AppState
from tests.api.test_blob_stream_upload import STREAM, missing, post, record, sha, staged
from tests.conftest import auth

TRAILER_LINE = "followed by its sha256"
CUT_SHORT = "ended inside a record"
BAD_HEADER = "starts with"


def trailed(data: bytes, digest: str | None = None, size: int | None = None) -> bytes:
    """One record sent while hashed: `- <size>` LF, the bytes, then `<sha256>` LF."""
    declared = len(data) if size is None else size
    return f"- {declared}\n".encode() + data + f"{digest or sha(data)}\n".encode()


def post_pieces(client: httpx.Client, key: str, parts: Sequence[bytes]) -> httpx.Response:
    """Send a blob stream in exactly these pieces."""
    headers = {
        **auth(key),
        "Content-Type": STREAM,
        "Content-Length": str(sum(len(p) for p in parts)),
    }
    return client.post("/api/v1/blobs/batch", content=iter(parts), headers=headers)


def answered(data: bytes, created: bool = True) -> dict[str, object]:
    """What the server answers for a stored file."""
    return {
        "sha256": sha(data),
        "size": len(data),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "created": created,
    }


def stored_bytes(state: AppState, data: bytes) -> bytes:
    return b"".join(state.blobs.read(sha(data)))


def assert_kept(client: httpx.Client, key: str, state: AppState, files: Iterable[bytes]) -> None:
    """Each file is stored, hashes to its digest, and counts as sent by the caller."""
    files = list(files)
    for f in files:
        kept = stored_bytes(state, f)
        assert kept == f
        assert sha(kept) == sha(f)
    assert missing(client, key, files) == []


def assert_absent(client: httpx.Client, key: str, state: AppState, files: Iterable[bytes]) -> None:
    """None of the files is stored, and the caller still has to send each one."""
    files = list(files)
    for f in files:
        assert not state.blobs.exists(sha(f))
    assert sorted(missing(client, key, files)) == sorted(sha(f) for f in files)


# sizes: empty, one byte, one across several feeds, exactly one feed, several small ones
LARGE = [b"", b"x", os.urandom(2 * FEED_BYTES + 17), os.urandom(FEED_BYTES)]
LARGE += [os.urandom(n) for n in (2, 63, 64, 65, 1000, 4096)]
# sending bytes seven at a time is slow: the small set stands in for the large one there
SMALL = [b"", b"x", os.urandom(5000), *(os.urandom(n) for n in (2, 64, 65, 300))]


@pytest.mark.parametrize("step", [1_000_003, 65_536, 7])
def test_trailer_records_are_stored_verified_and_answered_in_stream_order(
    app_client: httpx.Client, admin_key: str, state: AppState, step: int
) -> None:
    files = LARGE if step > 7 else SMALL
    response = post(app_client, admin_key, b"".join(trailed(f) for f in files), step=step)
    assert response.status_code == 201, response.text
    assert response.json()["blobs"] == [answered(f) for f in files]
    assert_kept(app_client, admin_key, state, files)
    assert staged(state) == []


@pytest.mark.parametrize("step", [1_000_003, 65_536, 7])
def test_trailer_and_digest_first_records_mix_in_one_stream(
    app_client: httpx.Client, admin_key: str, state: AppState, step: int
) -> None:
    files = LARGE if step > 7 else SMALL
    body = b"".join(trailed(f) if i % 2 else record(f) for i, f in enumerate(files))
    response = post(app_client, admin_key, body, step=step)
    assert response.status_code == 201, response.text
    assert response.json()["blobs"] == [answered(f) for f in files]
    assert_kept(app_client, admin_key, state, files)
    assert staged(state) == []


def test_a_stream_cut_anywhere_in_a_trailer_record_is_read_the_same(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(100)
    body = trailed(data) + record(b"after") + trailed(b"")
    for cut in range(1, len(body)):  # every place: header, bytes, trailer, the next records
        response = post_pieces(app_client, admin_key, [body[:cut], body[cut:]])
        assert response.status_code == 201, f"cut at {cut}: {response.text}"
        created = cut == 1
        assert response.json()["blobs"] == [
            answered(data, created),
            answered(b"after", created),
            answered(b"", created),
        ], f"cut at {cut}"
    assert_kept(app_client, admin_key, state, [data, b"after", b""])
    assert staged(state) == []


def test_a_trailer_arriving_a_byte_at_a_time_after_a_large_file(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(2 * FEED_BYTES + 5)
    whole = trailed(data)
    head = len(whole) - blobstream.TRAILER
    parts = [whole[:head], *(whole[i : i + 1] for i in range(head, len(whole)))]
    response = post_pieces(app_client, admin_key, parts)
    assert response.status_code == 201, response.text
    assert response.json()["blobs"] == [answered(data)]
    assert_kept(app_client, admin_key, state, [data])
    assert staged(state) == []


def test_content_sent_both_ways_in_one_stream_is_stored_once(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    data = os.urandom(3000)
    response = post(app_client, admin_key, trailed(data) + record(data) + trailed(data))
    assert response.status_code == 201, response.text
    assert sorted(b["created"] for b in response.json()["blobs"]) == [False, False, True]
    assert_kept(app_client, admin_key, state, [data])


@pytest.mark.parametrize("size", [0, 1, 4000, 2 * FEED_BYTES + 3])
def test_a_trailer_that_does_not_match_the_bytes_is_refused(
    app_client: httpx.Client, admin_key: str, state: AppState, size: int
) -> None:
    bad = os.urandom(size)
    claimed = sha(b"not these bytes")
    response = post(app_client, admin_key, trailed(bad, digest=claimed))
    assert response.status_code == 422, response.text
    assert "does not match" in response.json()["error"]["message"]
    assert not state.blobs.exists(claimed)
    assert_absent(app_client, admin_key, state, [bad])
    assert staged(state) == []


def test_a_mismatched_trailer_keeps_the_files_before_it(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    first, second, bad, after = (os.urandom(4000) for _ in range(4))
    claimed = sha(b"not these bytes")
    body = record(first) + trailed(second) + trailed(bad, digest=claimed) + trailed(after)
    response = post(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    assert "does not match" in response.json()["error"]["message"]
    assert_kept(app_client, admin_key, state, [first, second])
    assert not state.blobs.exists(claimed)
    assert not state.blobs.exists(sha(bad))
    # as with digest-first records, a file after the bad one may be finished already: then
    # it is kept and counts as sent, never one without the other
    still_missing = missing(app_client, admin_key, [bad, after])
    assert sha(bad) in still_missing
    assert state.blobs.exists(sha(after)) == (sha(after) not in still_missing)
    assert staged(state) == []


def test_a_mismatched_trailer_naming_a_stored_blob_leaves_that_blob_alone(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    kept, impostor = os.urandom(2000), os.urandom(2000)
    assert post(app_client, admin_key, trailed(kept)).status_code == 201
    response = post(app_client, admin_key, trailed(impostor, digest=sha(kept)))
    assert response.status_code == 422, response.text
    assert "does not match" in response.json()["error"]["message"]
    assert stored_bytes(state, kept) == kept
    assert_absent(app_client, admin_key, state, [impostor])
    assert staged(state) == []


X = sha(b"x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"- 1\nx" + X.upper().encode() + b"\n", TRAILER_LINE),
        (b"- 1\nx" + X[:63].encode() + b"\n", CUT_SHORT),  # 63 digits: the LF counts as one
        (b"- 1\nx" + X[:63].encode() + b"\n" + record(b"y"), TRAILER_LINE),
        (b"- 1\nx" + X.encode(), CUT_SHORT),  # the stream ends before the line feed
        (b"- 1\nx" + X.encode() + b"0\n", TRAILER_LINE),  # 65 digits
        (b"- 1\nx" + X.encode() + b"\r\n", TRAILER_LINE),
        (b"- 1\nx" + X.encode() + b" \n", TRAILER_LINE),
        (b"- 1\nx\n" + X.encode() + b"\n", TRAILER_LINE),  # a line feed before the digest
        (b"- 1\nx- 1\n", TRAILER_LINE + "|" + CUT_SHORT),  # no trailer, the next header
        (b"- 1\nxyz" + X.encode() + b"\n", TRAILER_LINE),  # more bytes than declared
        (b"- 5\nabc", CUT_SHORT),  # fewer bytes than declared
        (b"- 5\nabc" + sha(b"abc").encode() + b"\n", TRAILER_LINE + "|" + CUT_SHORT),
        (b"- 1\n", CUT_SHORT),
        (b"- 1\nx", CUT_SHORT),
        (b"- 0\n", CUT_SHORT),
        (b"-  1\nx", BAD_HEADER),
        (b"- -1\nx", BAD_HEADER),
        (b"-- 1\nx", BAD_HEADER),
        (b"-1\nx", BAD_HEADER),
        (b" - 1\nx", BAD_HEADER),
        (b"- 01\nx", BAD_HEADER),
        (b"- 1 \nx", BAD_HEADER),
        (b"- \nx", BAD_HEADER),
        (b"- 1\r\nx", BAD_HEADER),
        (b"+ 1\nx", BAD_HEADER),
        (b"- " + b"1" * 21 + b"\n", BAD_HEADER),
    ],
)
def test_a_malformed_trailer_record_is_refused_and_nothing_is_stored(
    app_client: httpx.Client, admin_key: str, state: AppState, body: bytes, message: str
) -> None:
    response = post(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    said = response.json()["error"]["message"]
    assert any(m in said for m in message.split("|")), said
    assert_absent(app_client, admin_key, state, [b"x", b"abc", b"y", b""])
    assert staged(state) == []


@pytest.mark.parametrize(
    ("after", "message"),
    [(b"zz", CUT_SHORT), (b"junk\n", BAD_HEADER), (b"\n", BAD_HEADER)],
)
def test_bytes_after_the_last_trailer_are_refused_and_the_file_before_is_kept(
    app_client: httpx.Client, admin_key: str, state: AppState, after: bytes, message: str
) -> None:
    data = os.urandom(500)
    response = post(app_client, admin_key, trailed(data) + after)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert_kept(app_client, admin_key, state, [data])  # a failure keeps complete files
    assert staged(state) == []


def test_a_trailer_record_larger_than_the_file_cap_is_refused(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    limit = state.settings.max_blob_bytes
    response = post(app_client, admin_key, f"- {limit + 1}\n".encode())
    assert response.status_code == 422, response.text
    assert staged(state) == []


def test_trailer_records_count_towards_the_file_limit(
    app_client: httpx.Client, admin_key: str, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobstream, "MAX_FILES", 3)
    files = [os.urandom(100) for _ in range(4)]
    body = record(files[0]) + b"".join(trailed(f) for f in files[1:])
    response = post(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    assert "at most 3 files" in response.json()["error"]["message"]
    assert missing(app_client, admin_key, files) == [sha(files[3])], "the first three are kept"
    assert staged(state) == []


def test_strangers_cannot_send_trailer_records(app_client: httpx.Client, state: AppState) -> None:
    data = b"anonymous bytes"
    response = app_client.post(
        "/api/v1/blobs/batch", content=trailed(data), headers={"Content-Type": STREAM}
    )
    assert response.status_code == 401, response.text
    assert not state.blobs.exists(sha(data))
