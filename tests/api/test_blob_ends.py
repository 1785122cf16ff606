"""POST /blobs/ends: which files (size and ends) a blob the caller sent may be; the server
takes the ends of every blob it receives, never tells about others' blobs, and counts a blob
of unknown ends (stored before they were kept) as a possible match."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from cairn._ends import ENDS_BYTES, Ends
from cairn.server.api.routing import API_PREFIX
from cairn.server.db.models import Blob
from cairn.server.http.deps import AppState
from tests.api.test_blob_sizes import put, upload
from tests.api.test_blob_stream_upload import post, record, sha
from tests.conftest import MakeUser, auth

pytestmark = pytest.mark.both_backends

ENDS = f"{API_PREFIX}/blobs/ends"
MAX_FILES = 10_000


def ends_of(data: bytes) -> str:
    ends = Ends()
    ends.update(data)
    return ends.hexdigest()


def ask(client: httpx.Client, key: str, body: Any) -> httpx.Response:
    return client.post(ENDS, json=body, headers=auth(key))


def maybe_sent(client: httpx.Client, key: str, *files: bytes) -> list[dict[str, Any]]:
    body = {"files": [{"size": len(f), "ends": ends_of(f)} for f in files]}
    response = ask(client, key, body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"sent"}
    found: list[dict[str, Any]] = response.json()["sent"]
    return found


def entry(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "ends": ends_of(data)}


def retrained(data: bytes) -> bytes:
    """Other bytes of the same size: the last byte differs, as new weights' would."""
    return data[:-1] + bytes([data[-1] ^ 1])


def middle_changed(data: bytes) -> bytes:
    """Other bytes of the same size and the same ends."""
    middle = ENDS_BYTES + 1
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


@pytest.mark.parametrize("how", ["put", "stream", "stream, digest after the bytes"])
def test_the_ends_of_every_upload_are_kept(
    app_client: httpx.Client, admin_key: str, how: str
) -> None:
    small, large = os.urandom(ENDS_BYTES // 2), os.urandom(3 * ENDS_BYTES + 5)
    if how == "put":
        put(app_client, admin_key, small)
        put(app_client, admin_key, large)
    elif how == "stream":
        response = post(app_client, admin_key, record(small) + record(large), step=1000)
        assert response.status_code == 201, response.text
    else:
        upload(app_client, admin_key, small, large)
    assert maybe_sent(app_client, admin_key, small, large) == [entry(small), entry(large)]
    other = os.urandom(len(large))
    assert maybe_sent(app_client, admin_key, retrained(large), retrained(small), other) == []
    alike = middle_changed(large)
    assert maybe_sent(app_client, admin_key, alike) == [entry(alike)], "same size and ends"


def test_the_answer_is_sorted_and_names_each_file_once(
    app_client: httpx.Client, admin_key: str
) -> None:
    files = [os.urandom(n) for n in (9000, 30, 30, 5)]
    upload(app_client, admin_key, *files)
    asked = [files[0], files[2], files[1], files[0], files[3], os.urandom(30)]
    expected = sorted((entry(f) for f in files), key=lambda e: (e["size"], e["ends"]))
    assert maybe_sent(app_client, admin_key, *asked) == expected


def test_other_users_blobs_are_never_revealed(
    app_client: httpx.Client, make_user: MakeUser
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bobs = os.urandom(20_000)
    put(app_client, bob, bobs)
    assert maybe_sent(app_client, bob, bobs) == [entry(bobs)]
    assert maybe_sent(app_client, alice, bobs) == []
    put(app_client, alice, bobs)  # the same bytes: now hers too
    assert maybe_sent(app_client, alice, bobs) == [entry(bobs)]


def test_a_blob_of_unknown_ends_may_be_any_file_of_its_size(
    app_client: httpx.Client, admin_key: str, state: AppState
) -> None:
    """Blobs stored before the server kept ends have none: every file of their size may be
    one of them, so none is taken for certainly missing."""
    old = os.urandom(10_000)
    put(app_client, admin_key, old)
    with state.writers.begin() as s:
        s.execute(update(Blob).where(Blob.sha256 == sha(old)).values(ends=None))
    other = retrained(old)
    assert maybe_sent(app_client, admin_key, other) == [entry(other)]
    assert maybe_sent(app_client, admin_key, os.urandom(10_001)) == []


def test_many_files_at_once(app_client: httpx.Client, admin_key: str) -> None:
    kept = [os.urandom(n) for n in (1, 700, 4097)]
    upload(app_client, admin_key, *kept)
    asked = [{"size": n, "ends": f"{n:064x}"} for n in range(1, MAX_FILES - 2)]
    asked += [entry(f) for f in kept]
    response = ask(app_client, admin_key, {"files": asked})
    assert response.status_code == 200, response.text
    assert response.json()["sent"] == [entry(f) for f in kept]


@pytest.mark.parametrize(
    "body",
    [
        {"files": [{"size": 1, "ends": "0" * 64}] * (MAX_FILES + 1)},
        {"files": [{"size": -1, "ends": "0" * 64}]},
        {"files": [{"size": (1 << 50) + 1, "ends": "0" * 64}]},
        {"files": [{"size": "1", "ends": "0" * 64}]},
        {"files": [{"size": 1, "ends": "0" * 63}]},
        {"files": [{"size": 1, "ends": "A" * 64}]},
        {"files": [{"size": 1, "ends": "../" + "0" * 61}]},
        {"files": [{"size": 1}]},
        {"files": [{"size": 1, "ends": "0" * 64, "sha256": "0" * 64}]},
        {"files": 5},
        {},
    ],
    ids=[
        "too_many",
        "negative",
        "over_largest",
        "size_as_text",
        "short",
        "upper_case",
        "not_hex",
        "no_ends",
        "extra_field",
        "not_a_list",
        "empty",
    ],
)
def test_malformed_questions_are_refused(
    app_client: httpx.Client, admin_key: str, body: Any
) -> None:
    response = ask(app_client, admin_key, body)
    assert response.status_code == 422, response.text


def test_an_anonymous_caller_is_refused(app_client: httpx.Client) -> None:
    response = app_client.post(ENDS, json={"files": []})
    assert response.status_code == 401, response.text
