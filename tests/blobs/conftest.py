"""Blob-store fixtures: contract-test stores (a local directory, SeaweedFS's S3) and syncs seen."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from cairn.server.blobs.base import BlobStore
from cairn.server.blobs.local import LocalBlobStore
from cairn.server.blobs.s3 import S3BlobStore
from cairn.server.settings import Settings
from tests.blobs.seaweed import S3Server

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class Backend:
    """A store under test and ways to look at what it left behind, without going through it."""

    name: str
    store: BlobStore
    contents: Callable[[], set[str]]
    """Everything stored under the store's root: files, objects, unfinished uploads."""
    world: Callable[[], set[str]]
    """Everything around the store too: the whole test folder, or the whole bucket."""
    requests: Callable[[], int] | None
    """How many requests the store has sent so far (S3 only)."""


def s3_store(server: S3Server, prefix: str) -> S3BlobStore:
    """An S3BlobStore built the way the server builds it: from Settings."""
    settings = Settings(
        s3_endpoint_url=server.endpoint,
        s3_region="us-east-1",
        s3_access_key_id=server.access_key,
        s3_secret_access_key=SecretStr(server.secret_key),
    )
    return S3BlobStore.from_settings(settings, bucket=server.bucket, prefix=prefix)


def bucket_listing(server: S3Server, prefix: str = "") -> set[str]:
    """Every object key and unfinished multipart upload under `prefix`, relative to it."""
    client = server.client()
    found: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=server.bucket, Prefix=prefix
    ):
        found.update(item["Key"].removeprefix(prefix) for item in page.get("Contents", []))
    for uploads in client.get_paginator("list_multipart_uploads").paginate(
        Bucket=server.bucket, Prefix=prefix
    ):
        found.update(
            "upload:" + item["Key"].removeprefix(prefix) for item in uploads.get("Uploads", [])
        )
    return found


def tree(root: Path, *, files_only: bool = False) -> set[str]:
    """Every file (and folder, unless `files_only`) under `root`, relative to it."""
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if not files_only or not path.is_dir()
    }


def _local(tmp_path: Path) -> Backend:
    root = tmp_path / "store"
    store = LocalBlobStore(root)
    return Backend(
        "local", store, lambda: tree(root, files_only=True), lambda: tree(tmp_path), None
    )


@pytest.fixture(scope="session")
def s3_client(seaweedfs: S3Server) -> S3Client:
    """The client of a store built from Settings, shared by the contract tests' stores."""
    return s3_store(seaweedfs, "").client


def _s3(server: S3Server, client: S3Client) -> Iterator[Backend]:
    prefix = f"t-{uuid.uuid4().hex[:12]}/cairn"
    sent = [0]

    def count(**_: Any) -> None:
        sent[0] += 1

    client.meta.events.register("before-send.s3", count, unique_id=prefix)
    try:
        yield Backend(
            "s3",
            S3BlobStore(client, server.bucket, prefix),
            lambda: bucket_listing(server, prefix + "/"),
            lambda: bucket_listing(server),
            lambda: sent[0],
        )
    finally:
        client.meta.events.unregister("before-send.s3", unique_id=prefix)


@pytest.fixture(params=["local", "s3"])
def blob_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty store: a LocalBlobStore in tmp_path, or S3 under a new prefix."""
    if request.param == "local":
        yield _local(tmp_path)
    else:
        yield from _s3(request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_client"))


@pytest.fixture
def store(blob_backend: Backend) -> BlobStore:
    """The store of `blob_backend`."""
    return blob_backend.store


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of the file each background fdatasync found."""
    seen: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        seen.append(os.fstat(fd).st_size)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return seen
