"""The BlobStore protocol every backend implements, and the one digest → key function."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

_SHA256 = re.compile(r"[0-9a-f]{64}")
READ_CHUNK = 1 << 20
# What writers take: bytes, or a view into a received body (no copy).
Chunk = bytes | memoryview


class InvalidDigestError(ValueError):
    """A string that is not a lower-case hex sha256 was offered as a blob address."""


def blob_key(sha256: str) -> str:
    """The storage key of a blob: the ONLY way a client-supplied string reaches storage."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidDigestError("a blob address must be 64 lower-case hex characters")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class BlobWriter(Protocol):
    """A temporary object being written; nothing is visible under a digest until commit."""

    def write(self, chunk: Chunk) -> None:
        """Append bytes."""

    def commit(self, sha256: str) -> None:
        """Durably move the bytes into place under `sha256` (already verified by the caller)."""

    def abort(self) -> None:
        """Throw the temporary object away."""


class BlobStore(Protocol):
    """Where blob bytes live. Addresses are sha256 digests, validated by blob_key()."""

    # Whether blobs are files in a local folder (``local_path`` names each one's file),
    # rather than objects elsewhere.
    holds_files: bool

    def begin(self, size: int | None = None) -> BlobWriter:
        """Start writing a new temporary object of ``size`` bytes, when known (a local
        store sets their space aside as the bytes arrive)."""

    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under `sha256`."""

    def size(self, sha256: str) -> int | None:
        """The stored size of a blob, or None when absent."""

    def sizes(self, digests: Sequence[str]) -> list[int | None]:
        """``size()`` of each of ``digests``, in order (for many at once: S3 asks in parallel)."""

    def modified(self, sha256: str) -> float | None:
        """When the blob was last written (UNIX time; a re-commit counts), or None."""

    def check(self) -> None:
        """Fail fast when the store is unreachable or misconfigured."""

    def read(
        self, sha256: str, start: int = 0, end: int | None = None, *, piece: int = READ_CHUNK
    ) -> Iterator[bytes]:
        """Stream bytes [start, end) of a blob (end None: to the end), ``piece`` bytes at a
        time (the last one may be shorter)."""

    def local_path(self, sha256: str) -> Path | None:
        """The file holding the blob, where storage is a local folder (its bytes can then be
        sent by the kernel); None for remote storage."""

    def download_url(self, sha256: str, content_disposition: str) -> str | None:
        """A short-lived URL the client may fetch the blob from itself (the response carrying
        `content_disposition`), or None when its bytes are served through this server."""

    def delete(self, sha256: str) -> None:
        """Remove a blob; absent blobs are ignored."""

    def digests(self) -> Iterator[tuple[str, float]]:
        """Every stored (sha256, modification time as a UNIX timestamp)."""

    def clean_staging(self, older_than: timedelta) -> int:
        """Remove temporary objects abandoned longer than `older_than`; return how many."""


@runtime_checkable
class DirectUploads(Protocol):
    """A store clients may write to themselves: a presigned PUT of a staging object, which the
    server reads back and verifies, then copies into place only if it is still the version
    that was verified."""

    def upload_url(self, name: str, size: int) -> str | None:
        """A short-lived URL to PUT staging object `name`, or None when this is turned off."""

    def read_staged(self, name: str) -> tuple[str, Iterator[bytes]]:
        """The version (ETag) of staging object `name` and its bytes; FileNotFoundError when
        there is none."""

    def promote(self, name: str, version: str, sha256: str, size: int) -> bool:
        """Make staging object `name` blob `sha256` by a copy inside the store, provided it is
        still `version` (the one whose bytes were verified); False when it changed since."""

    def discard(self, name: str) -> None:
        """Remove staging object `name`; an absent one is ignored."""
