"""File bytes over the API: small bodies sent whole, large ones streamed; ranges; lost blobs."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest

from cairn.server.blobs.base import READ_CHUNK
from cairn.server.http.deps import AppState
from cairn.server.http.downloads import STREAM_PIECE
from cairn.server.http.readahead import read_ahead
from tests.conftest import MakeUser, auth

OCTETS = {"Content-Type": "application/octet-stream"}
SMALL = os.urandom(READ_CHUNK)  # the largest body sent whole
LARGE = os.urandom(2 * STREAM_PIECE + 4321)  # streamed in pieces with read-ahead
PROJECT = "/api/v1/projects/admin/bytes/artifacts"


def put_blob(client: httpx.Client, key: str, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    answer = client.put(f"/api/v1/blobs/{sha}", content=data, headers={**auth(key), **OCTETS})
    assert answer.status_code == 201, answer.text
    return sha


@pytest.fixture
def logged(app_client: httpx.Client, admin_key: str) -> dict[str, str]:
    """Version v0 of `weights` (aliases `candidate`, `latest`) with one small and one large file."""
    shas = {name: put_blob(app_client, admin_key, data) for name, data in _DATA.items()}
    files = [{"path": name, "sha256": sha, "size": len(_DATA[name])} for name, sha in shas.items()]
    body = {"name": "weights", "type": "model", "files": files, "aliases": ["candidate"]}
    answer = app_client.post(PROJECT, headers=auth(admin_key), json=body)
    assert answer.status_code == 201, answer.text
    return shas


_DATA = {"small.bin": SMALL, "nested/large.bin": LARGE}


def url(sha: str, selector: str = "v0") -> str:
    return f"{PROJECT}/weights/versions/{selector}/files/{sha}"


@pytest.mark.parametrize("name", list(_DATA))
@pytest.mark.parametrize("selector", ["v0", "latest", "candidate"])
def test_whole_files_by_every_selector(
    app_client: httpx.Client, admin_key: str, logged: dict[str, str], name: str, selector: str
) -> None:
    answer = app_client.get(url(logged[name], selector), headers=auth(admin_key))
    assert answer.status_code == 200
    assert answer.content == _DATA[name]
    assert answer.headers["content-length"] == str(len(_DATA[name]))
    assert answer.headers["etag"] == f'"{logged[name]}"'
    assert answer.headers["x-cairn-sha256"] == logged[name]
    assert answer.headers["accept-ranges"] == "bytes"
    leaf = name.rsplit("/", 1)[-1]
    assert answer.headers["content-disposition"].startswith(f'attachment; filename="{leaf}"')


@pytest.mark.parametrize("name", list(_DATA))
@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [("bytes=0-", 0, None), ("bytes=7-", 7, None), ("bytes=5-99", 5, 100), ("bytes=-", None, 0)],
)
def test_ranges(
    app_client: httpx.Client,
    admin_key: str,
    logged: dict[str, str],
    name: str,
    header: str,
    start: int | None,
    stop: int | None,
) -> None:
    data = _DATA[name]
    answer = app_client.get(url(logged[name]), headers={**auth(admin_key), "Range": header})
    if start is None:  # not a range this server honours: the whole file
        assert answer.status_code == 200
        assert answer.content == data
        return
    end = len(data) if stop is None else stop
    assert answer.status_code == 206
    assert answer.content == data[start:end]
    assert answer.headers["content-range"] == f"bytes {start}-{end - 1}/{len(data)}"
    assert answer.headers["content-length"] == str(end - start)


def test_a_range_spanning_chunks_of_a_large_file(
    app_client: httpx.Client, admin_key: str, logged: dict[str, str]
) -> None:
    sha = logged["nested/large.bin"]
    first, last = READ_CHUNK - 10, 2 * READ_CHUNK + 10
    headers = {**auth(admin_key), "Range": f"bytes={first}-{last}"}
    answer = app_client.get(url(sha), headers=headers)
    assert answer.status_code == 206
    assert answer.content == LARGE[first : last + 1]


@pytest.mark.parametrize("name", list(_DATA))
def test_a_range_past_the_end_is_416(
    app_client: httpx.Client, admin_key: str, logged: dict[str, str], name: str
) -> None:
    size = len(_DATA[name])
    headers = {**auth(admin_key), "Range": f"bytes={size}-"}
    answer = app_client.get(url(logged[name]), headers=headers)
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("name", list(_DATA))
def test_bytes_lost_from_storage_answer_404(
    app_client: httpx.Client, admin_key: str, state: AppState, logged: dict[str, str], name: str
) -> None:
    state.blobs.delete(logged[name])
    answer = app_client.get(url(logged[name]), headers=auth(admin_key))
    assert answer.status_code == 404
    assert "missing from storage" in answer.text


def test_a_truncated_small_blob_is_not_served(
    app_client: httpx.Client, admin_key: str, state: AppState, logged: dict[str, str]
) -> None:
    sha = logged["small.bin"]
    path = state.blobs.path_of(sha)  # type: ignore[attr-defined]
    path.write_bytes(SMALL[:100])
    answer = app_client.get(url(sha), headers=auth(admin_key))
    assert answer.status_code == 404
    assert "damaged" in answer.text


def test_unknown_versions_and_files_say_which_is_missing(
    app_client: httpx.Client, admin_key: str, logged: dict[str, str]
) -> None:
    sha = logged["small.bin"]
    for path in (url(sha, "v1"), url(sha, "nope"), url(sha).replace("/weights/", "/other/")):
        answer = app_client.get(path, headers=auth(admin_key))
        assert answer.status_code == 404
        assert "artifact admin/bytes/" in answer.json()["error"]["message"]
    absent = hashlib.sha256(b"absent").hexdigest()
    answer = app_client.get(url(absent), headers=auth(admin_key))
    assert answer.status_code == 404
    assert f"file {absent} not found" in answer.json()["error"]["message"]


def test_another_users_project_bytes_are_hidden(
    app_client: httpx.Client, logged: dict[str, str], make_user: MakeUser
) -> None:
    key = make_user("outsider")
    answer = app_client.get(url(logged["small.bin"]), headers=auth(key))
    assert answer.status_code == 404


# -- read-ahead --------------------------------------------------------------------------


class Chunks:
    """An iterator of numbered chunks that records what was read and whether it was closed."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.read = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self.read == self.count:
            raise StopIteration
        self.read += 1
        return b"%d" % self.read

    def close(self) -> None:
        self.closed = True


def test_read_ahead_yields_every_chunk_in_order_and_closes() -> None:
    chunks = Chunks(5)

    async def collect() -> list[bytes]:
        got = [chunk async for chunk in read_ahead(chunks)]
        await asyncio.sleep(0)  # the close is scheduled on the loop
        return got

    assert asyncio.run(collect()) == [b"1", b"2", b"3", b"4", b"5"]
    assert chunks.closed


def test_read_ahead_stopped_early_reads_one_chunk_ahead_and_closes() -> None:
    chunks = Chunks(100)

    async def first_two() -> list[bytes]:
        stream = read_ahead(chunks)
        got = [await anext(stream), await anext(stream)]
        await stream.aclose()
        for _ in range(50):  # the in-flight read finishes on its thread, then the close runs
            if chunks.closed:
                break
            await asyncio.sleep(0.01)
        return got

    assert asyncio.run(first_two()) == [b"1", b"2"]
    assert chunks.read == 3
    assert chunks.closed


def test_read_ahead_passes_a_read_error_on() -> None:
    def failing() -> Iterator[bytes]:
        yield b"a"
        raise FileNotFoundError("gone")

    async def drain() -> list[bytes]:
        return [chunk async for chunk in read_ahead(failing())]

    with pytest.raises(FileNotFoundError):
        asyncio.run(drain())
