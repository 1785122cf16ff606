"""Logging many files: hashing, the missing-blob check and uploads overlap, each digest once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.client import _transfer
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
    monkeypatch.setattr(_transfer, "MISSING_BATCH", 3)
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
    monkeypatch.setattr(_transfer, "TRANSFER_WORKERS", 1)
    monkeypatch.setattr(_transfer, "STREAM_FILES", 1)
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
    monkeypatch.setattr(_transfer, "STREAMED_FILE_BYTES", 1000)
    monkeypatch.setattr(_transfer, "STREAM_FILES", 3)
    write(folder / "large.bin", b"L" * 5000)
    api.create_team("team")
    art = cairn.Artifact("mixed", type="dataset")
    art.add_dir(folder)
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = api.log_artifact(art, "team/data")
    singles = [r for r in requests if r.method == "PUT" and "/blobs/" in r.url.path]
    streams = [r for r in uploads(requests) if r.url.path.endswith("/blobs/batch")]
    assert [r.url.path.rsplit("/", 1)[-1] for r in singles] == [sha256(b"L" * 5000)]
    assert len(streams) == -(-DISTINCT // 3), "small files in streams of at most 3"
    assert sorted(acknowledged) == sorted({f.sha256 for f in version.files})


@pytest.mark.parametrize("refuses", ["every stream", "streams with files"])
def test_a_server_without_blob_streams_gets_one_request_per_file(
    api: cairn.Api, folder: Path, app_client: httpx.Client, refuses: str
) -> None:
    """An older server answers a stream 415 (its edge wants JSON), 404 or 405. The SDK asks
    first with an empty stream and then sends files one by one; should a stream with files
    be refused all the same, its files go one by one. Either way the version is logged."""
    real = app_client._transport
    sent: list[httpx.Request] = []

    class WithoutStreams(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
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
