"""The SDK sends large files straight to the bucket where the server offers it: a real `cairn
server` with blobs in a real SeaweedFS; the server verifies them before the version commits."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

import cairn
from tests import servers
from tests.blobs.seaweed import S3Server
from tests.client.test_presigned_pull import Seen, _env
from tests.reliability.client import admin_key

BIG = 12 << 20  # over the SDK's blob-stream limit: sent alone


def _push(server: servers.Server, key: str, folder: Path, seen: Seen) -> cairn.Version:
    with (
        httpx.Client(timeout=60, event_hooks={"request": [seen.hook]}) as client,
        cairn.Api(base_url=server.base, api_key=key, organization="default", client=client) as api,
    ):
        art = cairn.Artifact("model", type="model")
        art.add_dir(folder)
        return api.log_artifact(art, project="admin/direct", progress=False)


# What a push asks the server about its blobs; any other /blobs/ path is a file's bytes.
THROUGH_SERVER = {"uploads", "complete", "sizes", "ends", "missing", "batch"}


def test_large_files_go_to_the_bucket_and_come_back_verified(
    tmp_path: Path, seaweedfs: S3Server
) -> None:
    first, second = tmp_path / "v0", tmp_path / "v1"
    first.mkdir()
    second.mkdir()
    files = {"weights.bin": os.urandom(BIG), "config.json": os.urandom(2_000)}
    for name, data in files.items():
        (first / name).write_bytes(data)
    (second / "weights.bin").write_bytes(os.urandom(BIG))  # a size sent before, other ends
    env = _env(seaweedfs, CAIRN_S3_PRESIGNED_UPLOADS="true")
    with servers.running(tmp_path / "data", env) as server:
        key = admin_key(server.base)
        seen = Seen()
        logged = _push(server, key, first, seen)
        seen_again = Seen()
        _push(server, key, second, seen_again)
        with cairn.Api(base_url=server.base, api_key=key, organization="default") as api:
            root = api.artifact(logged.ref).download(tmp_path / "out", progress=False)
    for name, data in files.items():
        assert (Path(root) / name).read_bytes() == data
    for requests in (seen.requests, seen_again.requests):
        to_bucket = [(u, a) for u, a in requests if u.startswith(seaweedfs.endpoint)]
        assert len(to_bucket) == 1, requests  # the large file, by presigned PUT
        assert "X-Amz-Signature=" in to_bucket[0][0]
        assert not to_bucket[0][1]  # without the Cairn key
        completed = [u for u, _ in requests if u.endswith("/complete")]
        assert len(completed) == 1
        assert not any(
            "/api/v1/blobs/" in u and u.rsplit("/", 1)[-1] not in THROUGH_SERVER
            for u, _ in requests
        ), requests  # no PUT /blobs/{sha256} through the server


def test_where_direct_uploads_are_off_the_bytes_go_to_the_server(
    tmp_path: Path, seaweedfs: S3Server
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(BIG))
    (folder / "other.bin").write_bytes(os.urandom(BIG + 1))
    with servers.running(tmp_path / "data", _env(seaweedfs)) as server:  # downloads only
        key = admin_key(server.base)
        seen = Seen()
        logged = _push(server, key, folder, seen)
        with cairn.Api(base_url=server.base, api_key=key, organization="default") as api:
            root = api.artifact(logged.ref).download(tmp_path / "out", progress=False)
    for name in ("weights.bin", "other.bin"):
        assert (Path(root) / name).read_bytes() == (folder / name).read_bytes()
    asked = [u for u, _ in seen.requests if u.endswith("/api/v1/blobs/uploads")]
    assert len(asked) == 1  # asked once; the second large file did not ask again
    assert not any(u.startswith(seaweedfs.endpoint) for u, _ in seen.requests)
