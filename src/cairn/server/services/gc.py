"""Garbage collection: delete blobs no version references, after a grace period."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, delete, exists, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from cairn.server.blobs.base import BlobStore, InvalidDigestError, blob_key
from cairn.server.db.base import utcnow
from cairn.server.db.models import ArtifactFile, Blob, BlobUpload

log = logging.getLogger("cairn.gc")
DEFAULT_GRACE = timedelta(hours=24)


@dataclass
class GcReport:
    """What one collection pass removed."""

    blobs: int = 0
    bytes: int = 0
    orphans: int = 0
    staging: int = 0


def initialized(engine: Engine) -> bool:
    """Whether the database holds Cairn's catalogue (``cairn server`` or ``db upgrade`` ran)."""
    return inspect(engine).has_table(Blob.__tablename__)


def collect(
    sessions: sessionmaker[Session],
    store: BlobStore,
    grace: timedelta = DEFAULT_GRACE,
    *,
    dry_run: bool = False,
) -> GcReport:
    """Delete unreferenced blobs whose last upload is older than `grace`.

    Each blob is removed in its own short transaction, the catalogue row first: a version
    committed meanwhile keeps its blob (the foreign key refuses the delete), and bytes are
    removed only after their row is gone. Bytes with no row at all (a crash between storing and
    cataloguing) and abandoned temporary objects older than `grace` go too.
    """
    report = GcReport()
    cutoff = utcnow() - grace
    unreferenced = (
        select(Blob.id, Blob.sha256, Blob.size)
        .where(~exists().where(ArtifactFile.blob_id == Blob.id))
        .where(~exists().where(BlobUpload.blob_id == Blob.id, BlobUpload.uploaded_at >= cutoff))
        .where(Blob.created_at < cutoff)
    )
    with sessions() as s:
        candidates = s.execute(unreferenced).all()
    for blob_id, sha256, size in candidates:
        if dry_run:
            report.blobs += 1
            report.bytes += size
            continue
        with sessions() as s, s.begin():
            result = s.execute(
                delete(Blob).where(
                    Blob.id == blob_id,
                    ~exists().where(ArtifactFile.blob_id == Blob.id),
                    ~exists().where(
                        BlobUpload.blob_id == Blob.id, BlobUpload.uploaded_at >= cutoff
                    ),
                )
            )
        if cast("CursorResult[Any]", result).rowcount:
            store.delete(sha256)
            report.blobs += 1
            report.bytes += size
    report.orphans = _orphans(sessions, store, cutoff.timestamp(), dry_run)
    if not dry_run:
        report.staging = store.clean_staging(grace)
    log.info("gc: %s", report)
    return report


def _orphans(
    sessions: sessionmaker[Session], store: BlobStore, cutoff: float, dry_run: bool
) -> int:
    removed = 0
    batch: list[str] = []

    def flush() -> int:
        with sessions() as s:
            known = set(s.scalars(select(Blob.sha256).where(Blob.sha256.in_(batch))))
        count = 0
        for sha in batch:
            if sha in known:
                continue
            # Re-read the time just before deleting: a re-upload of this content in the
            # meantime rewrote it and is about to catalogue it.
            stamp = store.modified(sha)
            if stamp is None or stamp >= cutoff:
                continue
            if not dry_run:
                store.delete(sha)
            count += 1
        batch.clear()
        return count

    for sha256, mtime in store.digests():
        try:
            blob_key(sha256)
        except InvalidDigestError:
            continue
        if mtime < cutoff:
            batch.append(sha256)
        if len(batch) >= 500:
            removed += flush()
    if batch:
        removed += flush()
    return removed
