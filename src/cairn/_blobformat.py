"""The blob stream's wire format, written alike by the server and the SDK (docs/api.md)."""

from __future__ import annotations

MEDIA_TYPE = "application/vnd.cairn.blobs"
# 64 hex digits (or "-"), a space, at most 20 decimal digits, a line feed.
MAX_HEADER = 64 + 1 + 20 + 1
# A record whose header is `- <size>` is followed, after its bytes, by a `<sha256>` line:
# a sender that hashes while it sends names the digest once it knows it (uploads only).
TRAILER = 64 + 1


def header(sha256: str | None, size: int) -> bytes:
    """The line that precedes a record's bytes (``None``: the digest follows them)."""
    return f"{sha256 or '-'} {size}\n".encode("ascii")


def trailer(sha256: str) -> bytes:
    """The line after the bytes of a record whose header has no digest."""
    return f"{sha256}\n".encode("ascii")
