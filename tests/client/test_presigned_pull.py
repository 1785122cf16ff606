"""The SDK follows presigned downloads to the bucket: a real `cairn server` with blobs in a real
SeaweedFS; the bytes come from S3, never with the Cairn key, and are verified as always."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.client._errors import NetworkError, ServerError
from tests import servers
from tests.blobs.seaweed import S3Server
from tests.reliability.client import PASSWORD, admin_key

BIG = 12 << 20  # fetched alone (over the SDK's batch limit), so by the single-file route
SMALL = 300_000  # fetched in a blob stream, through the server


@dataclass
class Seen:
    """Each request the SDK's client sent: where to, and whether it carried the Cairn key."""

    requests: list[tuple[str, bool]] = field(default_factory=list)

    def hook(self, request: httpx.Request) -> None:
        self.requests.append((str(request.url), "authorization" in request.headers))


@dataclass
class Published:
    server: servers.Server
    key: str
    ref: str
    files: dict[str, bytes]
    prefix: str


def _env(seaweedfs: S3Server, **extra: str) -> dict[str, str]:
    return {
        "CAIRN_ADMIN_PASSWORD": PASSWORD,
        "CAIRN_BLOB_URL": f"s3://{seaweedfs.bucket}/pull-{uuid.uuid4().hex[:8]}/",
        "CAIRN_S3_ENDPOINT_URL": seaweedfs.endpoint,
        "CAIRN_S3_ACCESS_KEY_ID": seaweedfs.access_key,
        "CAIRN_S3_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "CAIRN_S3_PRESIGNED_DOWNLOADS": "true",
        **extra,
    }


def _publish(tmp_path: Path, server: servers.Server) -> Published:
    folder = tmp_path / "src"
    folder.mkdir()
    files = {"weights.bin": os.urandom(BIG), "config.json": os.urandom(SMALL)}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    key = admin_key(server.base)
    with cairn.Api(base_url=server.base, api_key=key, organization="default") as api:
        art = cairn.Artifact("model", type="model")
        art.add_dir(folder)
        logged = api.log_artifact(art, project="admin/direct", progress=False)
    prefix = server.env["CAIRN_BLOB_URL"].split("/", 3)[3]
    return Published(server, key, logged.ref, files, prefix)


@pytest.fixture
def published(tmp_path: Path, seaweedfs: S3Server) -> Iterator[Published]:
    with servers.running(tmp_path / "data", _env(seaweedfs)) as server:
        yield _publish(tmp_path, server)


@contextmanager
def _api(published: Published, seen: Seen) -> Iterator[cairn.Api]:
    """The SDK on a client of our own (closed here: the SDK leaves a passed client open)."""
    with (
        httpx.Client(timeout=60, event_hooks={"request": [seen.hook]}) as client,
        cairn.Api(
            base_url=published.server.base,
            api_key=published.key,
            organization="default",
            client=client,
        ) as api,
    ):
        yield api


def test_download_takes_large_files_from_the_bucket_without_the_key(
    published: Published, seaweedfs: S3Server, tmp_path: Path
) -> None:
    seen = Seen()
    with _api(published, seen) as api:
        root = api.artifact(published.ref).download(tmp_path / "out", progress=False)
    for name, data in published.files.items():
        assert (Path(root) / name).read_bytes() == data
    to_bucket = [(url, auth) for url, auth in seen.requests if url.startswith(seaweedfs.endpoint)]
    assert len(to_bucket) == 1, seen.requests  # the large file; the small one came batched
    url, carried_key = to_bucket[0]
    assert "X-Amz-Signature=" in url
    assert not carried_key
    to_cairn = [auth for url, auth in seen.requests if url.startswith(published.server.base)]
    assert to_cairn
    assert all(to_cairn)


def test_bytes_gone_from_the_bucket_name_the_object_store(
    published: Published, seaweedfs: S3Server, tmp_path: Path
) -> None:
    s3 = seaweedfs.client()
    listed = s3.list_objects_v2(Bucket=seaweedfs.bucket, Prefix=published.prefix)["Contents"]
    big = [o["Key"] for o in listed if o["Size"] == BIG]
    assert len(big) == 1
    s3.delete_object(Bucket=seaweedfs.bucket, Key=big[0])
    with (
        _api(published, Seen()) as api,
        pytest.raises(ServerError, match=r"object store .* answered 404 NoSuchKey") as raised,
    ):
        api.artifact(published.ref).download(tmp_path / "out", progress=False)
    assert raised.value.status == 404
    assert not (tmp_path / "out" / "weights.bin").exists()


def test_an_unreachable_bucket_is_named_in_the_error(tmp_path: Path, seaweedfs: S3Server) -> None:
    closed = f"http://127.0.0.1:{servers.free_port()}"
    env = _env(seaweedfs, CAIRN_S3_PUBLIC_ENDPOINT_URL=closed)
    with servers.running(tmp_path / "data", env) as server:
        published = _publish(tmp_path, server)
        with (
            _api(published, Seen()) as api,
            pytest.raises(NetworkError, match=f"transfer with {closed} failed"),
        ):
            api.artifact(published.ref).download(tmp_path / "out", progress=False)
