"""Uploads clients send straight to the bucket: a presigned URL per file, then the bytes read
back through an ordinary verified upload (size, sha256, md5) before they count as stored."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from cairn.server.blobs.base import BlobStore, DirectUploads
from cairn.server.domain.errors import NotFoundError, ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.services.uploads import BlobSink

MAX_SINGLE_PUT = 5 << 30  # the largest object one S3 PUT may create
FEED_BYTES = 8 << 20
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_OFF = (
    "this server takes no uploads straight to storage (CAIRN_S3_PRESIGNED_UPLOADS); "
    "send the bytes to it with PUT /blobs/{sha256}"
)


@dataclass(frozen=True)
class Started:
    """Where the client sends one file's bytes, and the id that completes the upload."""

    upload: str
    url: str


def _direct(store: BlobStore) -> DirectUploads:
    if isinstance(store, DirectUploads):
        return store
    raise NotFoundError(_OFF)


def _name(caller: Principal, upload: str) -> str:
    """The staging object of `upload`: under the caller's own id, so no one else can finish it."""
    if not _UPLOAD_ID.fullmatch(upload):
        raise NotFoundError(f"upload {upload[:64]!r} not found")
    return f"{caller.user_id}/{upload}"


def start(store: BlobStore, caller: Principal, size: int, max_bytes: int) -> Started:
    """A presigned PUT for a file of `size` bytes (404 when uploads to storage are off)."""
    direct = _direct(store)
    limit = min(max_bytes, MAX_SINGLE_PUT)
    if size > limit:
        raise ValidationError(
            f"a file sent straight to storage must be at most {limit} bytes; "
            "send larger ones to the server (PUT /blobs/{sha256})"
        )
    upload = uuid.uuid4().hex
    url = direct.upload_url(_name(caller, upload), size)
    if url is None:
        raise NotFoundError(_OFF)
    return Started(upload, url)


def finish(
    store: BlobStore, caller: Principal, upload: str, sha256: str, size: int, max_bytes: int
) -> tuple[BlobSink, str]:
    """Read the uploaded bytes back into a verified blob; the sink and the md5.

    The staging object is removed whatever the outcome: a refused one must be sent again.
    """
    direct = _direct(store)
    name = _name(caller, upload)
    stored = direct.staged_size(name)
    if stored is None:
        raise NotFoundError(
            f"upload {upload} not found: its bytes never reached storage (the URL may have "
            "expired), or it was completed already"
        )
    try:
        if stored != size:
            raise ValidationError(
                f"storage holds {stored} bytes for upload {upload}, declared {size}; upload again"
            )
        sink = BlobSink(store, sha256, size, max_bytes)
        try:
            batch: list[bytes] = []
            batched = 0
            for chunk in direct.read_staged(name):
                batch.append(chunk)
                batched += len(chunk)
                if batched >= FEED_BYTES:
                    sink.feed(batch)
                    batch, batched = [], 0
            if batch:
                sink.feed(batch)
            return sink, sink.finish()
        except BaseException:
            sink.abort()
            raise
    finally:
        direct.discard(name)
