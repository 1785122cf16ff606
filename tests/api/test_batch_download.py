"""Batch downloads: many files of a version as one blob stream, on both version routes."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cairn.server.blobs.base import READ_CHUNK
from cairn.server.domain import blobstream
from cairn.server.http.deps import AppState
from cairn.server.http.downloads import GROUP_BYTES, BlobVanishedError, records
from cairn.server.services.artifacts import FileView
from tests.api import cast
from tests.conftest import MakeUser, auth

OCTETS = {"Content-Type": "application/octet-stream"}
PROJECT = "/api/v1/projects/admin/batch"
LOGGED = f"{PROJECT}/artifacts/weights/versions/v0/files/batch"
REGISTRY = "/api/v1/orgs/default/registries/Vault"
LINKED = f"{REGISTRY}/collections/weights/versions/v0/files/batch"
SMALL = [os.urandom(n) for n in (1, 1000, 65_536, READ_CHUNK)]
EMPTY = b""
LARGE = os.urandom(2 * READ_CHUNK + 12_345)  # larger than READ_CHUNK: streamed in chunks
FILES = {f"small/{i}.bin": data for i, data in enumerate(SMALL)}
FILES |= {"empty.txt": EMPTY, "large.bin": LARGE, "copy-of-0.bin": SMALL[0]}
ABSENT = hashlib.sha256(b"not in the version").hexdigest()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse(body: bytes) -> list[tuple[str, bytes]]:
    """The records of a blob stream (an independent reading of the format), strictly."""
    out = []
    at = 0
    while at < len(body):
        end = body.index(b"\n", at) + 1
        digest, size = blobstream.parse_header(body[at:end])
        assert digest is not None, "downloads name the digest first"
        data = body[end : end + size]
        assert len(data) == size, "a short record"
        out.append((digest, data))
        at = end + size
    return out


@dataclass
class Setup:
    client: httpx.Client
    key: str
    state: AppState


@pytest.fixture
def setup(app_client: httpx.Client, admin_key: str, state: AppState) -> Setup:
    """`admin/batch/weights:v0` holding FILES, linked into restricted registry `Vault`."""
    for data in {sha(d): d for d in FILES.values()}.values():
        put = app_client.put(
            f"/api/v1/blobs/{sha(data)}", content=data, headers={**auth(admin_key), **OCTETS}
        )
        assert put.status_code == 201, put.text
    files = [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in FILES.items()]
    body = {"name": "weights", "type": "model", "files": files}
    logged = app_client.post(f"{PROJECT}/artifacts", headers=auth(admin_key), json=body)
    assert logged.status_code == 201, logged.text
    made = app_client.post(
        "/api/v1/orgs/default/registries",
        headers=auth(admin_key),
        json={"name": "Vault", "visibility": "restricted"},
    )
    assert made.status_code == 201, made.text
    linked = app_client.post(
        f"{REGISTRY}/collections/weights/versions",
        headers=auth(admin_key),
        json={"source": "admin/batch/weights:v0"},
    )
    assert linked.status_code == 201, linked.text
    return Setup(app_client, admin_key, state)


def ask(s: Setup, path: str, digests: list[str], key: str | None = None) -> httpx.Response:
    return s.client.post(path, headers=auth(key or s.key), json={"sha256": digests})


@pytest.mark.both_backends
@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
def test_every_requested_file_once_in_request_order(setup: Setup, path: str) -> None:
    wanted = [LARGE, SMALL[2], EMPTY, SMALL[0], SMALL[3], SMALL[1]]
    digests = [sha(d) for d in wanted]
    asked = [*digests, digests[1], digests[0]]  # repeats are sent once, where first named
    answer = ask(setup, path, asked)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == blobstream.MEDIA_TYPE
    assert answer.headers["content-length"] == str(len(answer.content))
    got = parse(answer.content)
    assert [d for d, _ in got] == digests
    for (digest, data), want in zip(got, wanted, strict=True):
        assert data == want
        assert sha(data) == digest


@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
def test_the_zero_byte_file_alone(setup: Setup, path: str) -> None:
    answer = ask(setup, path, [sha(EMPTY)])
    assert answer.status_code == 200, answer.text
    assert answer.content == f"{sha(EMPTY)} 0\n".encode()


@pytest.mark.both_backends
@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
def test_a_digest_not_in_the_version_refuses_the_whole_batch(setup: Setup, path: str) -> None:
    answer = ask(setup, path, [sha(SMALL[0]), ABSENT, sha(SMALL[1])])
    assert answer.status_code == 404
    assert cast.error_code(answer) == "not_found"
    assert f"file {ABSENT} not found in " in answer.json()["error"]["message"]
    # the same words as the single-file route
    single = setup.client.get(path.removesuffix("batch") + ABSENT, headers=auth(setup.key))
    assert single.status_code == 404
    assert single.text == answer.text


@pytest.mark.parametrize(
    "path",
    [
        LOGGED.replace("/v0/", "/v7/"),
        LOGGED.replace("/weights/", "/nothing/"),
        LINKED.replace("/v0/", "/v7/"),
        LINKED.replace("/weights/", "/nothing/"),
    ],
)
def test_an_unknown_version_is_404(setup: Setup, path: str) -> None:
    answer = ask(setup, path, [sha(SMALL[0])])
    assert answer.status_code == 404
    single = setup.client.get(path.removesuffix("batch") + sha(SMALL[0]), headers=auth(setup.key))
    assert single.text == answer.text


@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
@pytest.mark.parametrize(
    "body",
    [
        {"sha256": []},
        {"sha256": [sha(EMPTY)] * 1001},
        {"sha256": ["A" * 64]},
        {"sha256": [sha(EMPTY), "../etc/passwd"]},
        {"sha256": [sha(EMPTY)[:63]]},
        {"sha256": sha(EMPTY)},
        {"sha256": [sha(EMPTY)], "extra": 1},
        {},
    ],
    ids=["empty", "1001", "upper-case", "a path", "short", "not a list", "unknown field", "none"],
)
def test_malformed_requests_are_422(setup: Setup, path: str, body: dict[str, object]) -> None:
    answer = setup.client.post(path, headers=auth(setup.key), json=body)
    assert answer.status_code == 422, answer.text
    assert cast.error_code(answer) == "validation_error"


def test_a_thousand_digests_are_accepted(setup: Setup) -> None:
    answer = ask(setup, LOGGED, [sha(SMALL[0])] * 1000)
    assert answer.status_code == 200, answer.text
    assert [d for d, _ in parse(answer.content)] == [sha(SMALL[0])]


def test_a_hidden_project_answers_like_an_absent_one(setup: Setup, make_user: MakeUser) -> None:
    outsider = make_user("outsider")
    hidden = ask(setup, LOGGED, [sha(SMALL[0])], outsider)
    absent = ask(setup, LOGGED.replace("/batch/", "/never/"), [sha(SMALL[0])], outsider)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.text == absent.text.replace("never", "batch")


def test_a_hidden_registry_answers_like_an_absent_one(setup: Setup, make_user: MakeUser) -> None:
    mallory = make_user("mallory")
    hidden = ask(setup, LINKED, [sha(SMALL[0])], mallory)
    absent = ask(setup, LINKED.replace("/Vault/", "/Never/"), [sha(SMALL[0])], mallory)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.text == absent.text.replace("Never", "Vault")
    assert cast.comparable_headers(hidden) == cast.comparable_headers(absent)


@pytest.mark.parametrize("role", ["restricted_viewer", "viewer"])
def test_restricted_viewers_get_404_on_bytes_viewers_get_them(
    setup: Setup, make_user: MakeUser, role: str
) -> None:
    key = make_user("reader")
    member = {"members": [{"member": "reader", "kind": "user", "role": role}]}
    added = setup.client.post(f"{REGISTRY}/members", headers=auth(setup.key), json=member)
    assert added.status_code == 201, added.text
    manifest = setup.client.get(LINKED.removesuffix("/files/batch"), headers=auth(key))
    assert manifest.status_code == 200, manifest.text
    answer = ask(setup, LINKED, [sha(SMALL[1]), sha(SMALL[0])], key)
    if role == "viewer":
        assert answer.status_code == 200, answer.text
        assert [d for d, _ in parse(answer.content)] == [sha(SMALL[1]), sha(SMALL[0])]
        return
    assert answer.status_code == 404
    # like a file that is not there
    twin = ask(setup, LINKED, [ABSENT, sha(SMALL[0])], key)
    assert twin.text.replace(ABSENT, sha(SMALL[1])) == answer.text


@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
@pytest.mark.parametrize("lost", ["small", "large"])
def test_bytes_missing_from_storage_are_404_before_any_byte(
    setup: Setup, path: str, lost: str
) -> None:
    gone = SMALL[2] if lost == "small" else LARGE
    setup.state.blobs.delete(sha(gone))
    answer = ask(setup, path, [sha(SMALL[0]), sha(gone)])
    assert answer.status_code == 404
    assert cast.error_code(answer) == "not_found"
    assert "missing from storage" in answer.text


def test_bytes_of_the_wrong_size_in_storage_are_404(setup: Setup) -> None:
    stored = setup.state.blobs.path_of(sha(SMALL[2]))  # type: ignore[attr-defined]
    stored.write_bytes(SMALL[2][:100])
    answer = ask(setup, LOGGED, [sha(SMALL[2])])
    assert answer.status_code == 404
    assert "damaged" in answer.text


# -- the stream itself: grouping, and bytes that vanish mid-stream ------------------------


def view(data: bytes, path: str = "f") -> FileView:
    return FileView(path, sha(data), "", len(data))


def test_small_files_are_grouped_and_large_ones_chunked(setup: Setup) -> None:
    small = [view(SMALL[3], f"s{i}") for i in range(GROUP_BYTES // READ_CHUNK + 3)]
    files = [*small, view(LARGE), view(EMPTY)]
    groups = [b"".join(group) for group in records(setup.state.blobs, files)]
    assert b"".join(groups) == b"".join(
        blobstream.header(f.sha256, f.size) + data
        for f, data in zip(files, [*[SMALL[3]] * len(small), LARGE, EMPTY], strict=True)
    )
    assert len(groups[0]) >= GROUP_BYTES  # many small files per worker-thread hop
    assert len(groups) < len(files) + 3
    assert max(len(g) for g in groups) <= GROUP_BYTES + READ_CHUNK + blobstream.MAX_HEADER


def test_a_blob_deleted_mid_stream_ends_the_stream_with_an_error(setup: Setup) -> None:
    files = [view(SMALL[3]), view(LARGE)]
    stream: Iterator[list[bytes]] = records(setup.state.blobs, files)
    first = b"".join(next(stream))
    assert first.startswith(blobstream.header(sha(SMALL[3]), READ_CHUNK))
    setup.state.blobs.delete(sha(LARGE))
    with pytest.raises(BlobVanishedError):
        list(stream)


def test_a_blob_shrunk_mid_stream_ends_the_stream_with_an_error(setup: Setup) -> None:
    stream = records(setup.state.blobs, [view(SMALL[0]), view(LARGE)])
    next(stream)
    stored = setup.state.blobs.path_of(sha(LARGE))  # type: ignore[attr-defined]
    stored.write_bytes(LARGE[:100])
    with pytest.raises(BlobVanishedError):
        list(stream)


def test_a_blob_lost_during_a_response_cuts_the_body_short(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTP: the answer never completes, so a client cannot take it for a whole one."""
    real = setup.state.blobs.read

    def vanishing(digest: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if digest == sha(LARGE):
            setup.state.blobs.delete(digest)
        return real(digest, start, end)

    monkeypatch.setattr(setup.state.blobs, "read", vanishing)
    try:
        answer = ask(setup, LOGGED, [sha(SMALL[1]), sha(LARGE)])
    except httpx.HTTPError:
        return  # the transport saw the connection end early
    assert answer.status_code == 200
    assert len(answer.content) < int(answer.headers["content-length"])


def test_the_openapi_document_describes_the_blob_stream(app_client: httpx.Client) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    batch = [p for p in paths if re.search(r"/files/batch$", p)]
    assert len(batch) == 2
    for p in batch:
        post = paths[p]["post"]
        assert blobstream.MEDIA_TYPE in post["responses"]["200"]["content"]
        assert {"401", "404", "422"} <= set(post["responses"])
        assert post["requestBody"]["content"]["application/json"]
