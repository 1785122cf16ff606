"""What only the S3 store has: key layout, request sequences, multipart copy, endpoint faults."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import SecretStr

from cairn.server.blobs.base import blob_key
from cairn.server.blobs.s3 import MAX_PARTS, GiB, MiB, S3BlobStore, part_size
from cairn.server.settings import Settings
from tests.blobs.conftest import bucket_listing, s3_store
from tests.blobs.seaweed import S3Server

BIG = 20 * MiB + 3
PROMPT_SECONDS = 15


class Calls:
    """The S3 operations a store's client makes, by name, in order."""

    def __init__(self, store: S3BlobStore) -> None:
        self.names: list[str] = []
        for client in {id(c): c for c in (store.client, store.slow_client)}.values():
            client.meta.events.register("before-call.s3", self._record)

    def _record(self, event_name: str, **_: Any) -> None:
        self.names.append(event_name.rsplit(".", 1)[-1])

    def take(self) -> list[str]:
        """The calls since the last take()."""
        names, self.names = self.names, []
        return names


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}/cairn"


@pytest.fixture
def store(seaweedfs: S3Server, prefix: str) -> S3BlobStore:
    return s3_store(seaweedfs, prefix)


def commit(store: S3BlobStore, data: bytes) -> str:
    writer = store.begin()
    for first in range(0, len(data), MiB):
        writer.write(data[first : first + MiB])
    digest = hashlib.sha256(data).hexdigest()
    writer.commit(digest)
    return digest


def test_keys_are_prefix_blobs_and_blob_key(
    seaweedfs: S3Server, store: S3BlobStore, prefix: str
) -> None:
    digest = commit(store, b"layout")
    assert bucket_listing(seaweedfs, prefix + "/") == {f"blobs/{blob_key(digest)}"}


def test_an_empty_prefix_puts_blobs_at_the_bucket_root(seaweedfs: S3Server) -> None:
    store = s3_store(seaweedfs, "/")
    assert store.key_of("ab" * 32) == f"blobs/{blob_key('ab' * 32)}"
    assert store.staging_key("x") == "staging/x"


def test_a_small_commit_is_one_put_in_place(store: S3BlobStore) -> None:
    calls = Calls(store)
    writer = store.begin()
    writer.write(b"small")
    assert calls.take() == []
    writer.commit(hashlib.sha256(b"small").hexdigest())
    assert calls.take() == ["PutObject"]
    # Committing it again rewrites it, so its modification time restarts gc's grace period.
    commit(store, b"small")
    assert calls.take() == ["PutObject"]


def test_prompt_requests_send_their_body_without_waiting_for_100_continue(
    store: S3BlobStore,
) -> None:
    """A hung store must not add botocore's 1 s wait for `100 Continue` to the deadline."""
    expects: list[str | None] = []

    def note(request: Any, **_: Any) -> None:
        expects.append(request.headers.get("Expect"))

    store.client.meta.events.register("before-send.s3.PutObject", note)
    commit(store, b"sent at once")
    assert expects == [None]


def test_a_large_commit_stages_copies_and_cleans_up(
    seaweedfs: S3Server, store: S3BlobStore, prefix: str
) -> None:
    calls = Calls(store)
    data = os.urandom(BIG)
    digest = commit(store, data)
    assert calls.take() == [
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
        "CopyObject",
        "DeleteObject",
    ]
    assert bucket_listing(seaweedfs, prefix + "/") == {f"blobs/{blob_key(digest)}"}
    commit(store, data)
    assert "CopyObject" in calls.take(), "a re-commit refreshes the object's time"
    assert bucket_listing(seaweedfs, prefix + "/") == {f"blobs/{blob_key(digest)}"}


def test_above_the_copy_threshold_the_copy_is_multipart(
    seaweedfs: S3Server, store: S3BlobStore, prefix: str
) -> None:
    store = S3BlobStore(
        store.client, store.bucket, prefix, copy_threshold=8 * MiB, copy_part_size=8 * MiB
    )
    calls = Calls(store)
    data = os.urandom(BIG)
    digest = commit(store, data)
    names = calls.take()
    assert "CopyObject" not in names
    assert names.count("UploadPartCopy") == 3
    assert b"".join(store.read(digest)) == data
    assert bucket_listing(seaweedfs, prefix + "/") == {f"blobs/{blob_key(digest)}"}


def test_an_object_left_in_staging_by_a_crash_is_cleaned(
    seaweedfs: S3Server, store: S3BlobStore
) -> None:
    seaweedfs.client().put_object(
        Bucket=store.bucket, Key=store.staging_key("crashed"), Body=b"half-done"
    )
    assert store.clean_staging(timedelta(hours=1)) == 0
    time.sleep(1.1)  # S3 stamps objects to the second
    assert store.clean_staging(timedelta(0)) == 1
    assert store.clean_staging(timedelta(0)) == 0


def test_digests_skips_keys_that_are_not_blobs(seaweedfs: S3Server, store: S3BlobStore) -> None:
    digest = commit(store, b"real")
    other = hashlib.sha256(b"other").hexdigest()
    client = seaweedfs.client()
    for junk in (f"ab/cd/{'x' * 64}", f"00/00/{other}", other, f"{blob_key(other)}/extra"):
        client.put_object(Bucket=store.bucket, Key=store.blobs_prefix + junk, Body=b"junk")
    assert [sha for sha, _ in store.digests()] == [digest]


def test_part_sizes_reach_a_terabyte_within_the_part_limit() -> None:
    sizes = [part_size(number) for number in range(1, MAX_PARTS + 1)]
    assert sizes[0] == sizes[999] == 8 * MiB
    assert sizes[1000] == 16 * MiB
    assert sum(sizes) > 1 << 40
    assert max(sizes) <= 5 * GiB
    with pytest.raises(ValueError, match="too large"):
        part_size(MAX_PARTS + 1)


def test_from_settings_configures_timeouts_retries_and_path_style() -> None:
    settings = _settings("http://127.0.0.1:9", s3_region="eu-west-1")
    store = S3BlobStore.from_settings(settings, bucket="cairn", prefix="p")
    quick = vars(store.client.meta.config)
    assert (quick["connect_timeout"], quick["read_timeout"]) == (2, 3), "a hung store: prompt 503"
    assert quick["retries"] == {"mode": "standard", "total_max_attempts": 1}
    slow = vars(store.slow_client.meta.config)
    assert (slow["connect_timeout"], slow["read_timeout"]) == (2, 600), "copies take time"
    assert slow["retries"] == {"mode": "standard", "total_max_attempts": 3}
    for client in (store.client, store.slow_client):
        assert vars(client.meta.config)["s3"] == {"addressing_style": "path"}
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.endpoint_url == "http://127.0.0.1:9"


def _settings(endpoint: str, **extra: Any) -> Settings:
    """Settings with explicit keys: no credential lookup (environment, files, instance metadata)."""
    return Settings(
        s3_endpoint_url=endpoint,
        s3_access_key_id="cairn-test",
        s3_secret_access_key=SecretStr("cairn-test-secret"),
        **extra,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _unreachable() -> S3BlobStore:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    return S3BlobStore.from_settings(_settings(endpoint), bucket="cairn", prefix="p")


def test_an_unreachable_endpoint_fails_promptly() -> None:
    store = _unreachable()
    digest = hashlib.sha256(b"x").hexdigest()
    for act in (
        lambda: store.exists(digest),
        lambda: list(store.read(digest)),
        lambda: commit(store, b"x"),
    ):
        started = time.monotonic()
        with pytest.raises(EndpointConnectionError):
            act()
        assert time.monotonic() - started < PROMPT_SECONDS


@pytest.fixture
def failing_endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    """A loopback HTTP server answering every request with the status in request.param."""
    status: int = request.param

    class Handler(http.server.BaseHTTPRequestHandler):
        def _fail(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = do_PUT = do_POST = do_DELETE = _fail

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("failing_endpoint", [403, 500, 503], indirect=True)
def test_errors_other_than_absent_propagate(failing_endpoint: str) -> None:
    store = S3BlobStore.from_settings(_settings(failing_endpoint), bucket="cairn", prefix="p")
    started = time.monotonic()
    with pytest.raises(ClientError):
        store.exists(hashlib.sha256(b"x").hexdigest())
    with pytest.raises(ClientError):
        store.size(hashlib.sha256(b"x").hexdigest())
    assert time.monotonic() - started < PROMPT_SECONDS
