"""The application on a test's database with its blobs under a fresh prefix in the tests' S3."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from cairn.server.app import build_state, create_app
from cairn.server.blobs.s3 import S3BlobStore
from cairn.server.http.deps import AppState
from cairn.server.settings import Settings
from tests.blobs.seaweed import S3Server


def s3_settings(base: Settings, seaweedfs: S3Server, **extra: Any) -> Settings:
    """``base`` with blobs in the tests' bucket, under a prefix of their own, plus ``extra``."""
    return base.model_copy(
        update={
            "blob_url": f"s3://{seaweedfs.bucket}/t-{uuid.uuid4().hex[:10]}",
            "s3_endpoint_url": seaweedfs.endpoint,
            "s3_access_key_id": seaweedfs.access_key,
            "s3_secret_access_key": SecretStr(seaweedfs.secret_key),
            **extra,
        }
    )


def s3_app(state: AppState, settings: Settings) -> tuple[AppState, TestClient]:
    """The state and a client (redirects not followed) of an app on ``settings``, sharing the
    test's database engine; the bucket is checked first."""
    s3_state = build_state(settings)
    s3_state.engine.dispose()
    s3_state.engine, s3_state.readers, s3_state.writers = state.engine, state.readers, state.writers
    assert isinstance(s3_state.blobs, S3BlobStore)
    s3_state.blobs.check()
    app = create_app(settings, state=s3_state)
    return s3_state, TestClient(app, raise_server_exceptions=False, follow_redirects=False)
