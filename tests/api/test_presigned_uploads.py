"""Presigned uploads: a client PUTs a file straight into the bucket (a real SeaweedFS), then the
server reads it back through the usual checks before the blob exists."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from cairn.server.blobs.s3 import S3BlobStore
from cairn.server.domain.errors import NotFoundError
from cairn.server.domain.principal import Principal
from cairn.server.http.deps import AppState
from cairn.server.services import direct_uploads
from tests.api.s3_app import s3_app, s3_settings
from tests.blobs.seaweed import S3Server
from tests.conftest import MakeUser, auth

DATA = os.urandom(3 << 20)
SHA = hashlib.sha256(DATA).hexdigest()
START = "/api/v1/blobs/uploads"


@dataclass
class Direct:
    client: TestClient
    store: S3BlobStore
    admin: str


@pytest.fixture
def direct(state: AppState, seaweedfs: S3Server, admin_key: str) -> Iterator[Direct]:
    settings = s3_settings(
        state.settings, seaweedfs, s3_presigned_downloads=False, s3_presigned_uploads=True
    )
    s3_state, client = s3_app(state, settings)
    assert isinstance(s3_state.blobs, S3BlobStore)
    with client:
        yield Direct(client, s3_state.blobs, admin_key)


def _start(d: Direct, size: int, key: str | None = None) -> dict[str, object]:
    resp = d.client.post(START, json={"size": size}, headers=auth(key or d.admin))
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    return body


def _put(started: dict[str, object], data: bytes) -> httpx.Response:
    headers = started["headers"]
    assert isinstance(headers, dict)
    return httpx.put(str(started["url"]), content=data, headers=headers)


def _complete(
    d: Direct, upload: object, sha: str, size: int, key: str | None = None
) -> httpx.Response:
    resp: httpx.Response = d.client.post(
        f"{START}/{upload}/complete",
        json={"sha256": sha, "size": size},
        headers=auth(key or d.admin),
    )
    return resp


def test_a_file_put_in_the_bucket_becomes_a_verified_blob(
    direct: Direct, seaweedfs: S3Server
) -> None:
    started = _start(direct, len(DATA))
    assert started["method"] == "PUT"
    assert started["headers"] == {"Content-Length": str(len(DATA))}
    assert isinstance(started["upload"], str)
    assert len(started["upload"]) == 32
    url = urlsplit(str(started["url"]))
    assert f"{url.scheme}://{url.netloc}" == seaweedfs.endpoint
    assert "X-Amz-Signature=" in url.query
    assert direct.admin not in str(started["url"])
    assert _put(started, DATA).status_code == 200
    assert not direct.store.exists(SHA)  # nothing counts before the server has checked it
    done = _complete(direct, started["upload"], SHA, len(DATA))
    assert done.status_code == 201, done.text
    assert done.json() == {
        "sha256": SHA,
        "size": len(DATA),
        "md5": hashlib.md5(DATA, usedforsecurity=False).hexdigest(),
        "created": True,
    }
    assert b"".join(direct.store.read(SHA)) == DATA
    missing = direct.client.post(
        "/api/v1/blobs/missing",
        json={"blobs": [{"sha256": SHA, "size": len(DATA)}]},
        headers=auth(direct.admin),
    )
    assert missing.json() == {"missing": []}
    again = _complete(direct, started["upload"], SHA, len(DATA))
    assert again.status_code == 404  # the uploaded object is gone once completed


def test_bytes_that_do_not_match_are_refused_and_dropped(direct: Direct) -> None:
    started = _start(direct, len(DATA))
    assert _put(started, DATA).status_code == 200
    wrong = hashlib.sha256(b"something else").hexdigest()
    refused = _complete(direct, started["upload"], wrong, len(DATA))
    assert refused.status_code == 422, refused.text
    assert "does not match its digest" in refused.json()["error"]["message"]
    assert not direct.store.exists(wrong)
    assert not direct.store.exists(SHA)
    assert _complete(direct, started["upload"], SHA, len(DATA)).status_code == 404


def test_a_size_other_than_declared_is_refused(direct: Direct) -> None:
    started = _start(direct, len(DATA))
    assert _put(started, DATA).status_code == 200
    refused = _complete(direct, started["upload"], SHA, len(DATA) - 1)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert f"storage holds more than {len(DATA) - 1} bytes" in message
    assert not direct.store.exists(SHA)
    short = _start(direct, len(DATA))
    assert _put(short, DATA).status_code == 200
    refused = _complete(direct, short["upload"], SHA, len(DATA) + 5)
    assert refused.status_code == 422
    assert f"storage holds {len(DATA)} bytes" in refused.json()["error"]["message"]


def test_the_url_carries_only_the_declared_length(direct: Direct) -> None:
    started = _start(direct, len(DATA))
    longer = httpx.put(str(started["url"]), content=DATA + b"more")
    assert longer.status_code == 403, longer.text  # the signed Content-Length differs
    assert _complete(direct, started["upload"], SHA, len(DATA)).status_code == 404


def test_bytes_swapped_while_verified_never_become_the_blob(
    direct: Direct, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy into place is conditional on the version that was read and hashed."""
    started = _start(direct, len(DATA))
    assert _put(started, DATA).status_code == 200
    read = direct.store.read_staged
    forged = os.urandom(len(DATA))

    def read_then_swap(name: str) -> tuple[str, Iterator[bytes]]:
        version, chunks = read(name)

        def then_swap() -> Iterator[bytes]:
            yield from chunks
            assert _put(started, forged).status_code == 200  # the URL is still valid

        return version, then_swap()

    monkeypatch.setattr(direct.store, "read_staged", read_then_swap)
    refused = _complete(direct, started["upload"], SHA, len(DATA))
    assert refused.status_code == 422, refused.text
    assert "changed in storage while they were verified" in refused.json()["error"]["message"]
    assert not direct.store.exists(SHA)
    assert not direct.store.exists(hashlib.sha256(forged).hexdigest())
    monkeypatch.undo()
    assert _complete(direct, started["upload"], SHA, len(DATA)).status_code == 404


def test_content_stored_already_is_written_again_for_the_garbage_collector(
    direct: Direct,
) -> None:
    first = _start(direct, len(DATA))
    assert _put(first, DATA).status_code == 200
    assert _complete(direct, first["upload"], SHA, len(DATA)).json()["created"] is True
    stored_at = direct.store.modified(SHA)
    assert stored_at is not None
    time.sleep(1.1)  # LastModified counts whole seconds
    second = _start(direct, len(DATA))
    assert _put(second, DATA).status_code == 200
    again = _complete(direct, second["upload"], SHA, len(DATA))
    assert again.status_code == 201
    assert again.json()["created"] is False
    assert b"".join(direct.store.read(SHA)) == DATA
    # gc's orphan pass keeps bytes written after its cutoff, as a re-upload through the
    # server rewrites them too
    rewritten_at = direct.store.modified(SHA)
    assert rewritten_at is not None
    assert rewritten_at > stored_at


def test_only_the_caller_who_started_an_upload_completes_it(
    direct: Direct, make_user: MakeUser
) -> None:
    other = make_user("mallory")
    started = _start(direct, len(DATA))
    assert _put(started, DATA).status_code == 200
    stolen = _complete(direct, started["upload"], SHA, len(DATA), key=other)
    assert stolen.status_code == 404
    assert not direct.store.exists(SHA)
    assert _complete(direct, started["upload"], SHA, len(DATA)).status_code == 201


@pytest.mark.parametrize("upload", ["0" * 32, "../../blobs/x", "ABCDEF" + "0" * 26, "0" * 33])
def test_unknown_or_malformed_uploads_are_404(direct: Direct, upload: str) -> None:
    resp = _complete(direct, upload, SHA, len(DATA))
    assert resp.status_code == 404, resp.text


def test_nothing_over_one_put_is_offered(direct: Direct) -> None:
    resp = direct.client.post(START, json={"size": (5 << 30) + 1}, headers=auth(direct.admin))
    assert resp.status_code == 422
    assert "at most 5368709120 bytes" in resp.json()["error"]["message"]


def test_an_abandoned_upload_is_collected(direct: Direct) -> None:
    started = _start(direct, len(DATA))
    assert _put(started, DATA).status_code == 200
    assert direct.store.clean_staging(timedelta(hours=1)) == 0  # still within its grace
    assert direct.store.clean_staging(timedelta(0)) >= 1
    assert _complete(direct, started["upload"], SHA, len(DATA)).status_code == 404


def test_strangers_get_no_url(direct: Direct) -> None:
    assert direct.client.post(START, json={"size": 5}).status_code == 401
    assert _complete(direct, "0" * 32, SHA, 5, key="cairn_x_y").status_code == 401


def test_without_presigned_uploads_the_routes_answer_404(
    state: AppState, seaweedfs: S3Server, app_client: httpx.Client, admin_key: str
) -> None:
    local = app_client.post(START, json={"size": 5}, headers=auth(admin_key))
    assert local.status_code == 404
    assert "CAIRN_S3_PRESIGNED_UPLOADS" in local.json()["error"]["message"]
    settings = s3_settings(state.settings, seaweedfs, s3_presigned_downloads=True)
    _, client = s3_app(state, settings)  # downloads only
    with client:
        off = client.post(START, json={"size": 5}, headers=auth(admin_key))
    assert off.status_code == 404


def test_presigned_uploads_need_blobs_in_s3(tmp_path: Path) -> None:
    from cairn.server.blobs.factory import open_store
    from cairn.server.settings import Settings

    with pytest.raises(ValueError, match="CAIRN_S3_PRESIGNED_UPLOADS needs blobs in S3"):
        open_store(Settings(data_dir=tmp_path, s3_presigned_uploads=True))


class _Spy:
    """A DirectUploads store that only records what it is asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def upload_url(self, name: str, size: int) -> str | None:
        self.calls.append(name)
        return "http://bucket.example/x"

    def read_staged(self, name: str) -> tuple[str, Iterator[bytes]]:
        self.calls.append(name)
        raise FileNotFoundError(name)

    def promote(self, name: str, version: str, sha256: str, size: int) -> bool:
        self.calls.append(name)
        return False

    def discard(self, name: str) -> None:
        self.calls.append(name)


@pytest.mark.parametrize("upload", ["../1/" + "0" * 27, "0" * 31 + "/", "a" * 31 + "\n", ""])
def test_an_upload_id_reaches_the_store_only_as_32_hex_digits(upload: str) -> None:
    """HTTP routing already keeps slashes out; the service checks again, whoever calls it."""
    spy = _Spy()
    caller = Principal(7, "eve", is_superuser=False, is_service=False, auth_method="key")
    with pytest.raises(NotFoundError):
        direct_uploads.finish(spy, caller, upload, SHA, 1, 1 << 20)  # type: ignore[arg-type]
    assert spy.calls == []
