"""Cairn's download routes send local blobs with zero-copy sends where the server offers
them (uvicorn with BodyProtocol, as ``cairn server`` runs): a file alone, a range of it,
and a blob stream of many, intact; storage without files (S3) is streamed as before."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import cairn
from cairn.server.blobs.base import READ_CHUNK
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.http import downloads
from cairn.server.http.rawbody import BodyProtocol
from cairn.server.http.zerocopy import FilePartsResponse, FileRange
from cairn.server.services.artifacts import FileView
from tests import servers
from tests.api.conftest import wait_for_total

MIB = 1 << 20


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with servers.in_thread(app, http=BodyProtocol, log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


def test_downloads_of_local_blobs_go_through_sendfile(
    base_url: str, admin_key: str, tmp_path: Path, sent_by_kernel: list[int]
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    large = os.urandom(9 * MIB + 7)  # over the SDK's batch size: fetched alone
    (source / "large.bin").write_bytes(large)
    small = {f"s{i}.txt": os.urandom(1000 * i + 1) for i in range(5)}  # one blob stream
    for name, data in small.items():
        (source / name).write_bytes(data)
    with cairn.Api(base_url=base_url, api_key=admin_key, organization="default") as api:
        artifact = cairn.Artifact("zc", type="dataset")
        artifact.add_dir(str(source))
        version = api.log_artifact(artifact, "admin/zc", progress=False)
        target = api.artifact(version.ref).download(tmp_path / "out", cache=False, progress=False)
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}) as c:
            files = c.get("/api/v1/projects/admin/zc/artifacts/zc/versions/v0").json()["files"]
            digest = next(f["sha256"] for f in files if f["path"] == "large.bin")
            url = f"/api/v1/projects/admin/zc/artifacts/zc/versions/v0/files/{digest}"
            ranged = c.get(url, headers={"Range": "bytes=5-2000005"})
    assert (Path(target) / "large.bin").read_bytes() == large
    for name, data in small.items():
        assert (Path(target) / name).read_bytes() == data
    assert ranged.status_code == 206
    assert ranged.content == large[5:2000006]
    expected = len(large) + sum(len(d) for d in small.values()) + 2000001
    assert wait_for_total(sent_by_kernel, expected) == expected


class _RemoteStore(LocalBlobStore):
    """A store whose blobs are no local files (as S3's): nothing for the kernel to send."""

    holds_files = False

    def local_path(self, sha256: str) -> Path | None:
        return None


def test_storage_without_files_is_streamed(tmp_path: Path) -> None:
    store = _RemoteStore(tmp_path)
    writer = store.begin()
    data = os.urandom(READ_CHUNK + 10)
    writer.write(data)
    sha = hashlib.sha256(data).hexdigest()
    writer.commit(sha)
    file = FileView(path="f", sha256=sha, md5="", size=len(data))
    response = downloads.file_response(store, file, None)
    assert not isinstance(response, FilePartsResponse)
    local = downloads.file_response(LocalBlobStore(tmp_path), file, None)
    assert isinstance(local, FilePartsResponse)
    assert local.parts == [FileRange(store.path_of(sha), 0, len(data))]
