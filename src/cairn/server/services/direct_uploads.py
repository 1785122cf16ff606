"""Uploads clients send straight to the bucket: a presigned URL per file, then the bytes read
back and verified (size, sha256; md5 recorded) before they are copied into place."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from cairn._ends import Ends
from cairn.server.blobs.base import BlobStore, DirectUploads
from cairn.server.domain.errors import NotFoundError, ValidationError
from cairn.server.domain.manifest import sha256_digest
from cairn.server.domain.principal import Principal
from cairn.server.services.uploads import check_size

MAX_SINGLE_PUT = 5 << 30  # the largest object one S3 PUT may create
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
) -> tuple[str, str, str]:
    """Verify the uploaded bytes (read back: size, sha256) and copy them into place if they are
    still the version that was read; the sha256, the md5 and the ends (``cairn._ends``).

    The staging object is removed whatever the outcome: a refused one must be sent again.
    """
    direct = _direct(store)
    name = _name(caller, upload)
    declared = sha256_digest(sha256)
    check_size(size, max_bytes)
    try:
        version, chunks = direct.read_staged(name)
    except FileNotFoundError:
        raise NotFoundError(
            f"upload {upload} not found: its bytes never reached storage (the URL may have "
            "expired), or it was completed already"
        ) from None
    try:
        sha, md5, ends, received = _digests(chunks, size)
        if received != size:
            held = f"more than {size}" if received > size else str(received)
            raise ValidationError(
                f"storage holds {held} bytes for upload {upload}, declared {size}; upload again"
            )
        if sha != declared:
            raise ValidationError(
                f"content does not match its digest: declared {declared}, got {sha}"
            )
        if not direct.promote(name, version, declared, size):
            raise ValidationError(
                f"the bytes of upload {upload} changed in storage while they were verified; "
                "upload again"
            )
        return declared, md5, ends
    finally:
        direct.discard(name)


def _digests(chunks: Iterator[bytes], size: int) -> tuple[str, str, str, int]:
    """sha256, md5 and ends (hex) of the bytes, and how many there were (reading stops past
    size)."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    ends = Ends()
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > size:
            break
        sha.update(chunk)
        md5.update(chunk)
        ends.update(chunk)
    return sha.hexdigest(), md5.hexdigest(), ends.hexdigest(), received
