"""What a caller has sent: which sizes, and which sizes and ends, its blobs have.

A file of any other size, or of a size sent but other ends (``cairn._ends``), is certainly
missing (see uploads.missing()), so the client may send it while it hashes it instead of
hashing it first. Like missing(), these tell a caller about its own uploads only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from cairn.server.db.models import Blob, BlobUpload
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.principal import Principal

MAX_PER_CHECK = 10_000
QUERY_BATCH = 500


def sent_ends(
    s: Session, actor: Principal, files: Iterable[tuple[int, str]]
) -> list[tuple[int, str]]:
    """Which of ``files`` (size, ends) a blob this caller sent may be: one of that size whose
    ends are those, or unknown (a blob stored before ends were kept, migration 0006). Any
    other file is certainly missing, as in sent_sizes()."""
    wanted = sorted(set(files))
    if len(wanted) > MAX_PER_CHECK:
        raise ValidationError(f"check at most {MAX_PER_CHECK} files at a time")
    known: dict[int, set[str | None]] = {}
    for start in range(0, len(wanted), QUERY_BATCH):
        batch = wanted[start : start + QUERY_BATCH]
        rows = s.execute(
            _own(actor, Blob.size, Blob.ends).where(
                Blob.size.in_(sorted({size for size, _ in batch})),
                or_(Blob.ends.is_(None), Blob.ends.in_(sorted({e for _, e in batch}))),
            )
        )
        for size, ends in rows:
            known.setdefault(size, set()).add(ends)
    return [
        (size, ends)
        for size, ends in wanted
        if size in known and (ends in known[size] or None in known[size])
    ]


def sent_sizes(s: Session, actor: Principal, sizes: Iterable[int]) -> list[int]:
    """Which of ``sizes`` a blob this caller sent has.

    A file of any other size is certainly missing (see missing()), so the client may send it
    while it hashes it instead of hashing it first. Like missing(), this tells a caller about
    its own uploads only.
    """
    wanted = sorted(set(sizes))
    if len(wanted) > MAX_PER_CHECK:
        raise ValidationError(f"check at most {MAX_PER_CHECK} sizes at a time")
    found: set[int] = set()
    for start in range(0, len(wanted), QUERY_BATCH):
        batch = wanted[start : start + QUERY_BATCH]
        found.update(s.scalars(_own(actor, Blob.size).where(Blob.size.in_(batch))))
    return sorted(found)


def _own(actor: Principal, *columns: Any) -> Select[Any]:
    """The distinct ``columns`` of the blobs this caller sent."""
    return (
        select(*columns)
        .distinct()
        .join(BlobUpload, BlobUpload.blob_id == Blob.id)
        .where(BlobUpload.user_id == actor.user_id)
    )
