"""Presigned downloads: with blobs in S3 (a real SeaweedFS), a file download answers 307 to a
short-lived URL of the bucket; who may not read the bytes gets the same 404 as before."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cairn.server.blobs.factory import open_store
from cairn.server.http.deps import AppState
from cairn.server.settings import Settings
from tests.api.s3_app import s3_app, s3_settings
from tests.blobs.seaweed import S3Server
from tests.conftest import MakeUser, auth, call

OCTETS = {"Content-Type": "application/octet-stream"}
DATA = bytes(range(256)) * 12_000  # 3 MiB: larger than one read chunk
SHA = hashlib.sha256(DATA).hexdigest()
LOGGED = f"/api/v1/projects/admin/direct/artifacts/weights/versions/v0/files/{SHA}"
SECRET = "/api/v1/orgs/default/registries/Secret"
LINKED = f"{SECRET}/collections/weights/versions/production/files/{SHA}"


@dataclass
class Direct:
    client: httpx.Client
    state: AppState
    admin: str


def _publish(client: httpx.Client, admin: str) -> None:
    """DATA logged as admin/direct/weights:v0 and linked into the restricted `Secret`."""
    h = auth(admin)
    put = client.put(f"/api/v1/blobs/{SHA}", content=DATA, headers={**h, **OCTETS})
    assert put.status_code == 201, put.text
    files = [{"path": "model/weights.bin", "sha256": SHA, "size": len(DATA)}]
    logged = client.post(
        "/api/v1/projects/admin/direct/artifacts",
        headers=h,
        json={"name": "weights", "type": "model", "files": files},
    )
    assert logged.status_code == 201, logged.text
    made = client.post("/api/v1/orgs/default/registries", headers=h, json={"name": "Secret"})
    assert made.status_code == 201, made.text
    linked = client.post(
        f"{SECRET}/collections/weights/versions",
        headers=h,
        json={"source": logged.json()["ref"], "aliases": ["production"]},
    )
    assert linked.status_code == 201, linked.text


@pytest.fixture
def direct(state: AppState, seaweedfs: S3Server, admin_key: str) -> Iterator[Direct]:
    settings = s3_settings(
        state.settings, seaweedfs, s3_presigned_downloads=True, s3_presign_seconds=120
    )
    s3_state, client = s3_app(state, settings)
    with client:
        _publish(client, admin_key)
        yield Direct(client, s3_state, admin_key)


def _location(resp: httpx.Response) -> str:
    assert resp.status_code == 307, resp.text
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-cairn-sha256"] == SHA
    assert not resp.content
    return resp.headers["location"]


@pytest.mark.parametrize("path", [LOGGED, LINKED], ids=["logged", "linked"])
def test_download_redirects_to_a_presigned_url_of_the_bucket(
    direct: Direct, seaweedfs: S3Server, path: str
) -> None:
    url = _location(direct.client.get(path, headers=auth(direct.admin)))
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == seaweedfs.endpoint
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert "X-Amz-Signature" in query
    assert parts.path.endswith(f"/blobs/{SHA[:2]}/{SHA[2:4]}/{SHA}")
    assert direct.admin not in url
    whole = httpx.get(url)  # no credentials: the URL alone grants the read
    assert whole.status_code == 200, whole.text
    assert whole.content == DATA
    assert 'filename="weights.bin"' in whole.headers["content-disposition"]
    tail = httpx.get(url, headers={"Range": "bytes=1000000-"})
    assert tail.status_code == 206
    assert tail.content == DATA[1_000_000:]


def test_a_tampered_url_is_refused_by_the_bucket(direct: Direct) -> None:
    url = _location(direct.client.get(LOGGED, headers=auth(direct.admin)))
    other = hashlib.sha256(b"another blob").hexdigest()
    forged = url.replace(SHA, other)  # the same signature for another object
    assert httpx.get(forged).status_code == 403
    plain = url.split("?", 1)[0]  # no signature at all
    assert httpx.get(plain).status_code in (401, 403)


def test_who_may_not_read_the_bytes_gets_no_url(direct: Direct, make_user: MakeUser) -> None:
    h = auth(direct.admin)
    viewer = make_user("rviewer")
    stranger = make_user("stranger")
    member = {"members": [{"member": "rviewer", "role": "restricted_viewer"}]}
    assert (
        call(
            direct.client,
            "POST",
            "/orgs/default/registries/Secret/members",
            direct.admin,
            json=member,
        ).status_code
        == 201
    )
    version = LINKED.rsplit("/files/", 1)[0]
    assert direct.client.get(version, headers=auth(viewer)).status_code == 200  # sees metadata
    for key, path in [(viewer, LINKED), (stranger, LINKED), (stranger, LOGGED)]:
        resp = direct.client.get(path, headers=auth(key))
        assert resp.status_code == 404, resp.text
        assert "location" not in resp.headers
    anonymous = direct.client.get(LOGGED)
    assert anonymous.status_code == 401
    assert "location" not in anonymous.headers
    absent = direct.client.get(LOGGED.replace(SHA, "0" * 64), headers=h)
    assert absent.status_code == 404
    assert "location" not in absent.headers


def test_the_public_endpoint_names_the_host_clients_use(
    state: AppState, seaweedfs: S3Server, admin_key: str
) -> None:
    public = seaweedfs.endpoint.replace("127.0.0.1", "localhost")
    settings = s3_settings(
        state.settings, seaweedfs, s3_presigned_downloads=True, s3_public_endpoint_url=public
    )
    _, client = s3_app(state, settings)
    with client:
        _publish(client, admin_key)
        url = _location(client.get(LOGGED, headers=auth(admin_key)))
    assert url.startswith(public + "/")
    got = httpx.get(url)  # signed for that host name, so valid there
    assert got.status_code == 200, got.text
    assert got.content == DATA


def test_without_presigning_the_server_sends_the_bytes(
    state: AppState, seaweedfs: S3Server, admin_key: str
) -> None:
    settings = s3_settings(state.settings, seaweedfs, s3_presigned_downloads=False)
    _, client = s3_app(state, settings)
    with client:
        _publish(client, admin_key)
        resp = client.get(LOGGED, headers=auth(admin_key))
    assert resp.status_code == 200
    assert resp.content == DATA


def test_presigning_needs_blobs_in_s3(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, s3_presigned_downloads=True)
    with pytest.raises(ValueError, match="CAIRN_S3_PRESIGNED_DOWNLOADS needs blobs in S3"):
        open_store(settings)


def test_presign_lifetime_is_bounded() -> None:
    with pytest.raises(ValueError, match="s3_presign_seconds"):
        Settings(s3_presign_seconds=0)
    with pytest.raises(ValueError, match="s3_presign_seconds"):
        Settings(s3_presign_seconds=604_801)
