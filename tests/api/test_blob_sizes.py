"""POST /blobs/sizes: which sizes a blob the caller sent has, never telling about others'."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from cairn.server.api.routing import API_PREFIX
from tests.api import cast
from tests.api.test_blob_stream_upload import missing, post, record, sha
from tests.conftest import MakeUser, auth

pytestmark = pytest.mark.both_backends

SIZES = f"{API_PREFIX}/blobs/sizes"
MAX_SIZES = 10_000
LARGEST = 1 << 50


def ask(client: httpx.Client, key: str | None, body: Any) -> httpx.Response:
    return client.post(SIZES, json=body, headers=auth(key) if key else {})


def sent(client: httpx.Client, key: str, sizes: list[int]) -> list[int]:
    response = ask(client, key, {"sizes": sizes})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"sent"}
    found: list[int] = response.json()["sent"]
    return found


def upload(client: httpx.Client, key: str, *files: bytes) -> None:
    """Send files in a blob stream, the last one (when several) while it is hashed."""
    *first, last = files
    trailer = f"- {len(last)}\n".encode() + last + f"{sha(last)}\n".encode()
    response = post(client, key, b"".join(record(f) for f in first) + trailer)
    assert response.status_code == 201, response.text


def put(client: httpx.Client, key: str, data: bytes) -> None:
    response = cast.send(client, "PUT", f"{API_PREFIX}/blobs/{sha(data)}", key, content=data)
    assert response.status_code == 201, response.text


def test_a_caller_sees_the_sizes_of_the_blobs_they_sent(
    app_client: httpx.Client, admin_key: str
) -> None:
    upload(app_client, admin_key, b"", b"abc", os.urandom(1000))
    put(app_client, admin_key, os.urandom(70_000))
    asked = [0, 1, 2, 3, 4, 999, 1000, 1001, 69_999, 70_000, LARGEST]
    assert sent(app_client, admin_key, asked) == [0, 3, 1000, 70_000]


def test_a_caller_who_sent_nothing_has_sent_no_size(
    app_client: httpx.Client, admin_key: str
) -> None:
    assert sent(app_client, admin_key, [0, 1, 17, LARGEST]) == []


def test_the_answer_is_sorted_and_names_each_size_once(
    app_client: httpx.Client, admin_key: str
) -> None:
    upload(app_client, admin_key, os.urandom(5), os.urandom(700), os.urandom(40), b"q")
    upload(app_client, admin_key, os.urandom(40))  # a second blob of a size already sent
    assert sent(app_client, admin_key, [700, 40, 40, 9, 5, 700, 1, 1, 40]) == [1, 5, 40, 700]


def test_an_empty_question_has_an_empty_answer(app_client: httpx.Client, admin_key: str) -> None:
    upload(app_client, admin_key, b"something")
    assert sent(app_client, admin_key, []) == []


@pytest.mark.parametrize("same_content", [True, False])
def test_sizes_of_other_users_uploads_are_never_revealed(
    app_client: httpx.Client, make_user: MakeUser, same_content: bool
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bobs = os.urandom(1234)
    put(app_client, bob, bobs)
    upload(app_client, bob, os.urandom(77))
    assert sent(app_client, bob, [77, 1234]) == [77, 1234]
    assert sent(app_client, alice, [77, 1234]) == []
    assert missing(app_client, alice, [bobs]) == [sha(bobs)], "a new size is certainly missing"
    alices = bobs if same_content else os.urandom(len(bobs))
    upload(app_client, alice, alices)  # the same bytes: verified, stored once, now hers too
    assert sent(app_client, alice, [77, 1234]) == [1234]
    assert sent(app_client, bob, [77, 1234]) == [77, 1234]


def test_a_refused_upload_does_not_count_as_sent(app_client: httpx.Client, admin_key: str) -> None:
    data = os.urandom(321)
    bad = f"- {len(data)}\n".encode() + data + f"{sha(b'other')}\n".encode()
    response = post(app_client, admin_key, bad)
    assert response.status_code == 422, response.text
    assert sent(app_client, admin_key, [321]) == []


def test_many_sizes_at_once(app_client: httpx.Client, admin_key: str) -> None:
    upload(app_client, admin_key, os.urandom(1), os.urandom(4999), os.urandom(9999))
    asked = list(range(MAX_SIZES, 0, -1))  # more than one query's worth
    assert sent(app_client, admin_key, asked) == [1, 4999, 9999]


def test_as_many_repeats_as_the_limit_allows(app_client: httpx.Client, admin_key: str) -> None:
    upload(app_client, admin_key, b"z")
    assert sent(app_client, admin_key, [1] * MAX_SIZES) == [1]


@pytest.mark.parametrize(
    "body",
    [
        {"sizes": list(range(MAX_SIZES + 1))},
        {"sizes": [1] * (MAX_SIZES + 1)},
        {"sizes": [-1]},
        {"sizes": [3, -5, 7]},
        {"sizes": [LARGEST + 1]},
        {"sizes": [1.5]},
        {"sizes": ["many"]},
        {"sizes": [None]},
        {"sizes": [True]},  # the spec says integer: JSON booleans are not sizes
        {"sizes": [False, True]},
        {"sizes": 5},
        {},
        {"sizes": [1], "extra": True},
    ],
    ids=[
        "too_many",
        "too_many_repeats",
        "negative",
        "negative_among_others",
        "over_largest",
        "fraction",
        "word",
        "null",
        "true",
        "booleans",
        "not_a_list",
        "no_sizes",
        "unknown_field",
    ],
)
def test_a_malformed_question_is_refused(
    app_client: httpx.Client, admin_key: str, body: dict[str, Any]
) -> None:
    response = ask(app_client, admin_key, body)
    assert response.status_code == 422, response.text
    assert "error" in response.json()


def test_the_largest_size_is_a_fair_question(app_client: httpx.Client, admin_key: str) -> None:
    assert sent(app_client, admin_key, [0, LARGEST]) == []


@pytest.mark.parametrize("key", [None, cast.UNKNOWN_KEY, cast.GARBAGE_KEY])
def test_strangers_are_refused(app_client: httpx.Client, admin_key: str, key: str | None) -> None:
    upload(app_client, admin_key, b"abc")
    response = ask(app_client, key, {"sizes": [3]})
    assert response.status_code == 401, response.text
    assert "sent" not in response.json()
