"""Logging many files: hashing, the missing-blob check and uploads overlap, each digest once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import cairn
from cairn import _ends
from cairn._ends import file_ends
from cairn.client import _transfer, _upload
from tests.client.artifacts_support import record, sha256, stored, uploads, write

FILES = 20
DISTINCT = 7


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """FILES small files with DISTINCT contents in turn, so copies fall into later batches."""
    root = tmp_path / "many"
    for i in range(FILES):
        write(root / f"f{i:02}.txt", f"content {i % DISTINCT}\n" * 100)
    return root


def _asked(requests: list[httpx.Request]) -> list[str]:
    asked: list[str] = []
    for request in requests:
        if request.url.path.endswith("/blobs/missing"):
            asked += [b["sha256"] for b in json.loads(request.content)["blobs"]]
    return asked


def test_batches_ask_for_and_send_each_digest_once(
    api: cairn.Api,
    folder: Path,
    app_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_upload, "MISSING_BATCH", 3)
    api.create_team("team")
    art = cairn.Artifact("many", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = api.log_artifact(art, "team/data")
    unique = {sha256(p.read_bytes()) for p in folder.iterdir()}
    asked = _asked(requests)
    checks = [r for r in requests if r.url.path.endswith("/blobs/missing")]
    assert len(checks) >= -(-DISTINCT // 3), "asked in batches of at most 3"
    assert len(unique) == DISTINCT
    assert sorted(asked) == sorted(unique), "every distinct digest is asked for exactly once"
    assert sorted(acknowledged) == sorted(unique)
    assert {f.path: f.sha256 for f in version.files} == {
        p.name: sha256(p.read_bytes()) for p in folder.iterdir()
    }


def test_a_failed_upload_stops_the_others_and_commits_nothing(
    api: cairn.Api,
    folder: Path,
    app_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_upload, "TRANSFER_WORKERS", 1)
    monkeypatch.setattr(_upload, "STREAM_FILES", 1)
    attempted: list[str] = []

    def fail_second_put(request: httpx.Request) -> None:
        if request.url.path.endswith("/blobs/batch"):
            attempted.append(request.url.path)
            if len(attempted) == 2:
                raise RuntimeError("the network went away")

    app_client.event_hooks["request"].append(fail_second_put)
    api.create_team("team")
    art = cairn.Artifact("many", type="dataset")
    art.add_dir(folder)
    with pytest.raises(RuntimeError, match="network went away"):
        api.log_artifact(art, "team/data")
    assert len(attempted) < FILES - 4, "the uploads not started yet were skipped"
    app_client.event_hooks["request"].remove(fail_second_put)
    with pytest.raises(cairn.NotFoundError):
        api.artifact_versions("team/data/many")


def test_large_files_go_one_per_request_and_small_ones_in_blob_streams(
    api: cairn.Api,
    folder: Path,
    app_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large files that share a size and their ends are hashed first and PUT one by one; a
    large file of a size of its own goes alone in a stream, its digest after its bytes."""
    monkeypatch.setattr(_upload, "STREAMED_FILE_BYTES", 1000)
    monkeypatch.setattr(_upload, "STREAM_FILES", 3)
    monkeypatch.setattr(_ends, "ENDS_BYTES", 100)
    write(folder / "large.bin", b"L" * 5000)
    twins = [
        write(folder / f"twin-{c}.bin", b"E" * 100 + c.encode() * 2800 + b"E" * 100) for c in "ab"
    ]
    api.create_team("team")
    art = cairn.Artifact("mixed", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = api.log_artifact(art, "team/data")
    singles = [r for r in requests if r.method == "PUT" and "/blobs/" in r.url.path]
    streams = [r for r in uploads(requests) if r.url.path.endswith("/blobs/batch")]
    assert sorted(r.url.path.rsplit("/", 1)[-1] for r in singles) == sorted(
        sha256(p.read_bytes()) for p in twins
    )
    alone = [r for r in streams if r.content.startswith(b"- 5000\n")]
    assert [r.content for r in alone] == [
        b"- 5000\n" + b"L" * 5000 + sha256(b"L" * 5000).encode() + b"\n"
    ]
    assert len(streams) == 1 + -(-DISTINCT // 3), "small files in streams of at most 3"
    assert sorted(acknowledged) == sorted({f.sha256 for f in version.files})
    assert sha256(b"L" * 5000) not in _asked(requests), "sent without asking"


def test_copies_within_one_push_are_sent_once(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of one size that also share their ends may be copies: they are hashed first, and
    the content is asked for and sent once; a file of that size with other ends goes at once."""
    monkeypatch.setattr(_upload, "STREAMED_FILE_BYTES", 1000)
    folder = tmp_path / "copies"
    data = b"C" * 100 + bytes(range(256)) * 20 + b"C" * 100
    for name in ("a.bin", "b.bin", "c.bin"):
        write(folder / name, data)
    write(folder / "other.bin", b"D" * len(data))
    api.create_team("team")
    art = cairn.Artifact("copies", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    version = api.log_artifact(art, "team/data")
    sent = b"".join(r.content for r in uploads(requests))
    assert sent.count(data) == 1
    assert sent.count(b"D" * len(data)) == 1
    assert _asked(requests) == [sha256(data)]
    assert {f.path: f.sha256 for f in version.files} == {
        "a.bin": sha256(data),
        "b.bin": sha256(data),
        "c.bin": sha256(data),
        "other.bin": sha256(b"D" * len(data)),
    }


@pytest.mark.parametrize("refuses", ["every stream", "streams with files"])
def test_a_server_without_blob_streams_gets_one_request_per_file(
    api: cairn.Api, folder: Path, app_client: httpx.Client, refuses: str
) -> None:
    """An older server answers a stream 415 (its edge wants JSON), 404 or 405, and has no
    `/blobs/sizes` (which came later). The SDK asks first with an empty stream and then
    sends files one by one; should a stream with files be refused all the same, its files go
    one by one. Either way the version is logged."""
    real = app_client._transport
    sent: list[httpx.Request] = []

    class WithoutStreams(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/blobs/sizes"):
                return httpx.Response(404, json={"error": {"code": "not_found", "message": ""}})
            if request.url.path.endswith("/blobs/batch"):
                sent.append(request)
                probe = request.headers["content-length"] == "0"
                if refuses == "every stream" or not probe:
                    body = {"error": {"code": "unsupported_media_type", "message": "JSON only"}}
                    return httpx.Response(415, json=body)
            return real.handle_request(request)

    app_client._transport = WithoutStreams()
    try:
        api.create_team("team")
        art = cairn.Artifact("many", type="dataset")
        art.add_dir(folder)
        acknowledged = stored(app_client)
        version = api.log_artifact(art, "team/data")
    finally:
        app_client._transport = real
    assert sorted(acknowledged) == sorted({f.sha256 for f in version.files})
    assert len(version.files) == FILES
    probes = [r for r in sent if r.headers["content-length"] == "0"]
    assert len(probes) == 1, "the server is asked once per push"
    assert (len(sent) > 1) == (refuses == "streams with files")


def _artifact(name: str, folder: Path) -> cairn.Artifact:
    art = cairn.Artifact(name, type="dataset")
    art.add_dir(folder)
    return art


@contextlib.contextmanager
def _without_route(app_client: httpx.Client, route: str, status: int) -> Iterator[None]:
    """The server as an older one, without ``/blobs/{route}``: that route answers ``status``."""
    real = app_client._transport

    class Without(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith(f"/blobs/{route}"):
                body = {"error": {"code": "not_found", "message": "no such route"}}
                return httpx.Response(status, json=body)
            return real.handle_request(request)

    app_client._transport = Without()
    try:
        yield
    finally:
        app_client._transport = real


def _headers_sent(requests: list[httpx.Request]) -> list[bytes]:
    """The record header lines of every blob stream among ``requests`` (small streams only)."""
    lines: list[bytes] = []
    for request in uploads(requests):
        if request.url.path.endswith("/blobs/batch"):
            lines += [
                line + b"\n"
                for line in request.content.split(b"\n")
                if line.startswith(b"- ") or (len(line) > 65 and line[64:65] == b" ")
            ]
    return lines


def test_files_of_a_size_of_their_own_are_sent_while_they_are_hashed(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    """No other file of the push and nothing the caller sent has their size: they cannot be
    on the server, so they go without being hashed first or asked for, digest after bytes."""
    folder = tmp_path / "sizes"
    files = [write(folder / f"f{n}.txt", "x" * n) for n in (1, 10, 100, 1000)]
    api.create_team("team")
    art = cairn.Artifact("sizes", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = api.log_artifact(art, "team/data")
    digests = sorted(sha256(p.read_bytes()) for p in files)
    assert _asked(requests) == []
    assert sorted(_headers_sent(requests)) == sorted(
        f"- {n}\n".encode() for n in (1, 10, 100, 1000)
    )
    assert sorted(acknowledged) == digests
    assert sorted(f.sha256 for f in version.files) == digests
    checks = [r for r in requests if r.url.path.endswith("/blobs/sizes")]
    assert [json.loads(r.content) for r in checks] == [{"sizes": [1, 10, 100, 1000]}]


def test_files_of_one_size_with_different_ends_are_sent_while_they_are_hashed(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files that share a size but not their first or last bytes cannot share a content: each
    is certainly missing and the only one of its kind, so none is hashed first or asked for.
    Those that share their ends too may be copies: they are hashed and asked about."""
    monkeypatch.setattr(_ends, "ENDS_BYTES", 8)
    folder = tmp_path / "shards"
    middle = b"m" * 50
    heads = [write(folder / f"h{c}.bin", c.encode() * 8 + middle + b"z" * 8) for c in "ab"]
    tails = [write(folder / f"t{c}.bin", b"z" * 8 + middle + c.encode() * 8) for c in "cd"]
    alike = [write(folder / f"s{c}.bin", b"s" * 8 + c.encode() * 50 + b"s" * 8) for c in "xy"]
    api.create_team("team")
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = api.log_artifact(_artifact("shards", folder), "team/data")
    assert sorted(_asked(requests)) == sorted(sha256(p.read_bytes()) for p in alike)
    assert _headers_sent(requests).count(b"- 66\n") == len(heads + tails)
    everything = sorted(sha256(p.read_bytes()) for p in heads + tails + alike)
    assert sorted(acknowledged) == everything
    assert sorted(f.sha256 for f in version.files) == everything


def test_a_size_already_sent_with_other_ends_is_sent_while_it_is_hashed(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    """Retrained weights: the size of the last push, other bytes at the end. No blob the
    caller sent has both, so the file is certainly missing: sent at once, digest after."""
    api.create_team("team")
    first = write(tmp_path / "a" / "weights.bin", b"A" * 777)
    api.log_artifact(_artifact("a", first.parent), "team/m")
    second = write(tmp_path / "b" / "weights.bin", b"B" * 777)
    requests = record(app_client)
    acknowledged = stored(app_client)
    api.log_artifact(_artifact("b", second.parent), "team/m")
    assert _asked(requests) == []
    assert _headers_sent(requests) == [b"- 777\n"]
    assert acknowledged == [sha256(b"B" * 777)]
    checks = [json.loads(r.content) for r in requests if r.url.path.endswith("/blobs/ends")]
    assert checks == [{"files": [{"size": 777, "ends": file_ends(second)}]}]


def test_a_size_and_ends_already_sent_are_hashed_and_asked_for_first(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New content of a size and ends the caller sent before may be on the server: hashed,
    asked for, sent with its digest first. Identical content again sends no bytes at all."""
    monkeypatch.setattr(_ends, "ENDS_BYTES", 8)
    api.create_team("team")
    first = write(tmp_path / "a" / "weights.bin", b"e" * 8 + b"A" * 50 + b"e" * 8)
    api.log_artifact(_artifact("a", first.parent), "team/m")
    new = b"e" * 8 + b"B" * 50 + b"e" * 8
    second = write(tmp_path / "b" / "weights.bin", new)
    requests = record(app_client)
    acknowledged = stored(app_client)
    api.log_artifact(_artifact("b", second.parent), "team/m")
    assert _asked(requests) == [sha256(new)]
    assert _headers_sent(requests) == [f"{sha256(new)} 66\n".encode()]
    assert acknowledged == [sha256(new)]
    requests.clear()
    again = api.log_artifact(_artifact("b", second.parent), "team/m")
    assert again.version == "v0", "identical content is the existing version"
    assert uploads(requests) == [], "nothing is sent again"


@pytest.mark.parametrize("status", [404, 405])
def test_a_server_without_blob_ends_gets_a_size_already_sent_hashed_first(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, status: int
) -> None:
    api.create_team("team")
    first = write(tmp_path / "a" / "weights.bin", b"A" * 777)
    api.log_artifact(_artifact("a", first.parent), "team/m")
    second = write(tmp_path / "b" / "weights.bin", b"B" * 777)
    with _without_route(app_client, "ends", status):
        requests = record(app_client)
        api.log_artifact(_artifact("b", second.parent), "team/m")
    assert _asked(requests) == [sha256(b"B" * 777)]
    assert _headers_sent(requests) == [f"{sha256(b'B' * 777)} 777\n".encode()]


def test_copies_in_one_push_are_hashed_and_sent_once(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    folder = tmp_path / "copies"
    for name in ("a.bin", "b.bin"):
        write(folder / name, b"same" * 300)
    write(folder / "other.bin", b"x" * 55)
    api.create_team("team")
    requests = record(app_client)
    acknowledged = stored(app_client)
    api.log_artifact(_artifact("c", folder), "team/d")
    assert _asked(requests) == [sha256(b"same" * 300)]
    assert sorted(acknowledged) == sorted([sha256(b"same" * 300), sha256(b"x" * 55)])


@pytest.mark.parametrize("status", [404, 405])
def test_a_server_without_blob_sizes_gets_every_file_hashed_first(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, status: int
) -> None:
    folder = tmp_path / "old"
    files = [write(folder / f"f{n}.txt", "z" * n) for n in (3, 30, 300)]
    api.create_team("team")
    with _without_route(app_client, "sizes", status):
        requests = record(app_client)
        version = api.log_artifact(_artifact("o", folder), "team/d")
    digests = sorted(sha256(p.read_bytes()) for p in files)
    assert sorted(_asked(requests)) == digests
    assert not any(line.startswith(b"- ") for line in _headers_sent(requests))
    assert sorted(f.sha256 for f in version.files) == digests


def test_an_answer_naming_other_files_than_were_sent_fails_the_push(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    real = app_client._transport

    class Lying(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = real.handle_request(request)
            if not request.url.path.endswith("/blobs/batch") or response.status_code != 201:
                return response
            response.read()
            blobs = [{**b, "sha256": "0" * 64} for b in response.json()["blobs"]]
            return httpx.Response(201, json={"blobs": blobs})

    folder = tmp_path / "lie"
    write(folder / "f.txt", "only one")
    api.create_team("team")
    app_client._transport = Lying()
    try:
        with pytest.raises(cairn.CairnError, match="other files than the stream sent"):
            api.log_artifact(_artifact("l", folder), "team/d")
    finally:
        app_client._transport = real
    with pytest.raises(cairn.NotFoundError):
        api.artifact_versions("team/d/l")


def test_a_blob_stream_carries_a_share_of_the_small_files_within_bounds() -> None:
    small, large = 1 << 20, _upload.STREAMED_FILE_BYTES + 1
    senders = _transfer.TRANSFER_WORKERS
    assert _upload._stream_bytes([small] * 10) == _upload.STREAM_BYTES_MIN
    assert _upload._stream_bytes([small] * 10 + [large] * 1000) == _upload.STREAM_BYTES_MIN
    share = 1000 * small // (2 * senders)
    assert _upload.STREAM_BYTES_MIN < share < _upload.STREAM_BYTES_MAX
    assert _upload._stream_bytes([small] * 1000) == share
    assert _upload._stream_bytes([small] * 100_000) == _upload.STREAM_BYTES_MAX


def test_a_push_of_many_small_files_gives_each_sender_about_two_streams(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_upload, "STREAM_BYTES_MIN", 1)
    folder = tmp_path / "even"
    for i in range(64):
        write(folder / f"f{i:02}.bin", bytes([i]) * 1000)
    api.create_team("team")
    art = cairn.Artifact("even", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    version = api.log_artifact(art, "team/data")
    streams = [r for r in uploads(requests) if r.url.path.endswith("/blobs/batch")]
    assert len(streams) == 2 * _transfer.TRANSFER_WORKERS
    assert len(version.files) == 64
