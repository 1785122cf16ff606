"""The artifact flow through the API with blobs on a real S3-compatible server (SeaweedFS)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cairn.server.http.deps import AppState
from tests.api import s3_app as s3_apps
from tests.blobs.seaweed import S3Server
from tests.conftest import auth

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def s3_app(state: AppState, seaweedfs: S3Server) -> Iterator[tuple[httpx.Client, AppState]]:
    """The app on the test's database, with its blobs under a fresh prefix in the bucket."""
    s3_state, client = s3_apps.s3_app(state, s3_apps.s3_settings(state.settings, seaweedfs))
    with client:
        yield client, s3_state


def test_upload_log_link_and_download_through_s3(
    s3_app: tuple[httpx.Client, AppState], admin_key: str, tmp_path: Path
) -> None:
    client, s3_state = s3_app
    h = auth(admin_key)
    data = bytes(range(256)) * 40_000  # ~10 MiB: crosses the 8 MiB multipart part size
    sha = hashlib.sha256(data).hexdigest()
    put = client.put(f"/api/v1/blobs/{sha}", content=data, headers={**h, **OCTETS})
    assert put.status_code == 201, put.text
    assert s3_state.blobs.exists(sha)
    wrong = client.put(f"/api/v1/blobs/{'0' * 64}", content=b"x", headers={**h, **OCTETS})
    assert wrong.status_code == 422
    assert not s3_state.blobs.exists("0" * 64)
    files = [{"path": "weights.bin", "sha256": sha, "size": len(data)}]
    logged = client.post(
        "/api/v1/projects/admin/s3/artifacts",
        headers=h,
        json={"name": "m", "type": "model", "files": files},
    )
    assert logged.status_code == 201, logged.text
    linked = client.post(
        "/api/v1/orgs/default/registries/Models/collections/s3-model/versions",
        headers=h,
        json={"source": logged.json()["ref"], "aliases": ["production"]},
    )
    assert linked.status_code == 201, linked.text
    url = "/api/v1/orgs/default/registries/Models/collections/s3-model/versions/production"
    whole = client.get(f"{url}/files/{sha}", headers=h)
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == sha
    tail = client.get(f"{url}/files/{sha}", headers={**h, "Range": "bytes=1000000-"})
    assert tail.status_code == 206
    assert tail.content == data[1_000_000:]


def test_blob_streams_up_and_down_through_s3(
    s3_app: tuple[httpx.Client, AppState], admin_key: str
) -> None:
    client, s3_state = s3_app
    h = auth(admin_key)
    blobs = [
        b"",
        b"small",
        bytes(range(256)) * 40_000,
        *(uuid.uuid4().bytes * 999 for _ in range(5)),
    ]
    shas = [hashlib.sha256(b).hexdigest() for b in blobs]
    stream = b"".join(f"{s} {len(b)}\n".encode() + b for s, b in zip(shas, blobs, strict=True))
    sent = client.post(
        "/api/v1/blobs/batch",
        content=stream,
        headers={**h, "Content-Type": "application/vnd.cairn.blobs"},
    )
    assert sent.status_code == 201, sent.text
    assert [b["sha256"] for b in sent.json()["blobs"]] == shas
    assert s3_state.blobs.sizes(shas) == [len(b) for b in blobs]
    files = [
        {"path": f"f{i}", "sha256": s, "size": len(b)}
        for i, (s, b) in enumerate(zip(shas, blobs, strict=True))
    ]
    logged = client.post(
        "/api/v1/projects/admin/s3/artifacts",
        headers=h,
        json={"name": "many", "type": "dataset", "files": files},
    )
    assert logged.status_code == 201, logged.text
    url = "/api/v1/projects/admin/s3/artifacts/many/versions/v0/files/batch"
    fetched = client.post(url, headers=h, json={"sha256": list(reversed(shas))})
    assert fetched.status_code == 200, fetched.text
    expected = b"".join(
        f"{s} {len(b)}\n".encode() + b for s, b in zip(reversed(shas), reversed(blobs), strict=True)
    )
    assert fetched.content == expected
    s3_state.blobs.delete(shas[3])  # bytes gone from the bucket: refused before any byte
    gone = client.post(url, headers=h, json={"sha256": shas})
    assert gone.status_code == 404, gone.text
