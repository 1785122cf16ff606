"""The server refuses manifest paths inside ``.cairn-partial/``, the SDK's download folder."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from cairn.server.domain import manifest
from cairn.server.domain.errors import ValidationError
from tests.conftest import auth

PROJECT = "/api/v1/projects/admin/reserved"
DATA = b"half a file"
SHA = hashlib.sha256(DATA).hexdigest()


def log(client: httpx.Client, key: str, path: str) -> httpx.Response:
    put = client.put(
        f"/api/v1/blobs/{SHA}",
        content=DATA,
        headers={**auth(key), "Content-Type": "application/octet-stream"},
    )
    assert put.status_code in (200, 201), put.text
    files = [{"path": "model.bin", "sha256": SHA, "size": len(DATA)}]
    files.append({"path": path, "sha256": SHA, "size": len(DATA)})
    body = {"name": "weights", "type": "model", "files": files}
    return client.post(f"{PROJECT}/artifacts", headers=auth(key), json=body)


@pytest.mark.parametrize(
    "path",
    [
        ".cairn-partial/x",
        ".cairn-partial",
        ".CAIRN-Partial/x",
        ".cairn-partial./x",
        "\uff0e\uff43\uff41\uff49\uff52\uff4e\uff0d\uff50\uff41\uff52\uff54\uff49\uff41\uff4c/x",
    ],
)
def test_paths_in_the_download_folder_are_422(
    app_client: httpx.Client, admin_key: str, path: str
) -> None:
    answer = log(app_client, admin_key, path)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert ".cairn-partial/" in error["message"]
    assert "remove that folder" in error["message"]
    gone = app_client.get(f"{PROJECT}/artifacts/weights/versions/v0", headers=auth(admin_key))
    assert gone.status_code == 404


def test_the_same_folder_name_deeper_down_is_fine(app_client: httpx.Client, admin_key: str) -> None:
    answer = log(app_client, admin_key, "data/.cairn-partial/x")
    assert answer.status_code == 201, answer.text


def test_the_domain_rule_covers_whole_manifests() -> None:
    with pytest.raises(ValidationError, match="cairn-partial"):
        manifest.entries([("a", SHA, 1), (".cairn-partial/b", SHA, 1)])
    assert [e.path for e in manifest.entries([("a/.cairn-partial/b", SHA, 1)])] == [
        "a/.cairn-partial/b"
    ]
