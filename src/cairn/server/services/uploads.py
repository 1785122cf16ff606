"""Receiving blobs: hash while streaming to a temporary object, verify, then move into place."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cairn.server.blobs.base import BlobStore, BlobWriter
from cairn.server.db.base import utcnow
from cairn.server.db.models import Blob, BlobUpload
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.manifest import sha256_digest
from cairn.server.domain.principal import Principal

MAX_DIGESTS_PER_CHECK = 10_000


class BlobSink:
    """One upload in progress: feed() chunks, then finish() verifies and commits, or abort()."""

    def __init__(self, store: BlobStore, sha256: str, size: int, max_bytes: int) -> None:
        self.sha256 = sha256_digest(sha256)
        if size < 0 or size > max_bytes:
            raise ValidationError(f"a file must be between 0 and {max_bytes} bytes")
        self.expected_size = size
        self.received = 0
        self._sha = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._writer: BlobWriter | None = store.begin()

    def feed(self, chunk: bytes) -> None:
        """Hash and write one chunk; more bytes than declared aborts the upload."""
        self.received += len(chunk)
        if self.received > self.expected_size:
            self.abort()
            raise ValidationError(
                f"received more than the declared {self.expected_size} bytes for {self.sha256}"
            )
        self._sha.update(chunk)
        self._md5.update(chunk)
        assert self._writer is not None
        self._writer.write(chunk)

    def finish(self) -> str:
        """Verify size and digest, then move the bytes into place; returns the md5 (hex)."""
        if self.received != self.expected_size:
            self.abort()
            raise ValidationError(
                f"received {self.received} bytes for {self.sha256}, "
                f"declared {self.expected_size}; upload again"
            )
        actual = self._sha.hexdigest()
        if actual != self.sha256:
            self.abort()
            raise ValidationError(
                f"content does not match its digest: declared {self.sha256}, got {actual}"
            )
        assert self._writer is not None
        self._writer.commit(self.sha256)
        self._writer = None
        return self._md5.hexdigest()

    def abort(self) -> None:
        """Discard the temporary object."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None


def record(s: Session, actor: Principal, sha256: str, size: int, md5: str) -> bool:
    """Catalogue a verified blob and who sent it; True when the blob was new."""
    created = False
    blob = s.scalar(select(Blob).where(Blob.sha256 == sha256))
    if blob is None:
        try:
            with s.begin_nested():
                blob = Blob(sha256=sha256, size=size, md5=md5)
                s.add(blob)
            created = True
        except IntegrityError:
            blob = s.scalar(select(Blob).where(Blob.sha256 == sha256))
            assert blob is not None
    upload = s.get(BlobUpload, (blob.id, actor.user_id))
    if upload is not None:
        upload.uploaded_at = utcnow()  # restarts the garbage collector's grace period
        return created
    try:
        with s.begin_nested():
            s.add(BlobUpload(blob_id=blob.id, user_id=actor.user_id))
    except IntegrityError:
        pass
    return created


def missing(s: Session, actor: Principal, wanted: Iterable[tuple[str, int]]) -> list[str]:
    """Digests the caller must upload.

    A blob counts as present only when this caller sent it before: telling anyone whether
    *somebody* stored some content would leak it across tenants. A re-sent blob that the
    server already has is verified and then stored once.
    """
    pairs = [(sha256_digest(d), n) for d, n in wanted]
    if len(pairs) > MAX_DIGESTS_PER_CHECK:
        raise ValidationError(f"check at most {MAX_DIGESTS_PER_CHECK} digests at a time")
    have: set[str] = set()
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        have.update(
            s.scalars(
                select(Blob.sha256)
                .join(BlobUpload, BlobUpload.blob_id == Blob.id)
                .where(
                    BlobUpload.user_id == actor.user_id,
                    tuple_(Blob.sha256, Blob.size).in_(chunk),
                )
            )
        )
    return sorted({d for d, _ in pairs} - have)
