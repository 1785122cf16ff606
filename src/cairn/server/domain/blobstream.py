"""Blob stream rules on the server: header and trailer parsing, limits (cairn._blobformat)."""

from __future__ import annotations

import re

from cairn._blobformat import MAX_HEADER, MEDIA_TYPE, TRAILER, header
from cairn.server.domain.errors import ValidationError

__all__ = [
    "MAX_FILES",
    "MAX_HEADER",
    "MEDIA_TYPE",
    "RECORD_FRAMING",
    "TRAILER",
    "header",
    "parse_header",
    "parse_trailer",
]

# The most bytes a record adds to its file's: a stream holding one file of the size cap fits
# within the cap plus this.
RECORD_FRAMING = MAX_HEADER + TRAILER
# Files one upload stream may carry: each costs the server a file and an fsync, so one
# request must not stand for unbounded work (the same bound as a /blobs/missing check).
MAX_FILES = 10_000
_HEADER = re.compile(rb"([0-9a-f]{64}|-) (0|[1-9][0-9]{0,19})\n")
_TRAILER = re.compile(rb"[0-9a-f]{64}\n")


def parse_header(line: bytes) -> tuple[str | None, int]:
    """``(sha256, size)`` of one header line, its line feed included, the sha256 ``None`` when
    it follows the bytes; anything else is refused."""
    match = _HEADER.fullmatch(line)
    if match is None:
        raise ValidationError(
            "a blob stream record starts with '<sha256> <size>' (or '- <size>', the sha256 "
            "then following the bytes on a line of its own) and a line feed "
            "(64 lower-case hex digits, a space, a decimal size)"
        )
    digest = match.group(1).decode("ascii")
    return (None if digest == "-" else digest), int(match.group(2))


def parse_trailer(line: bytes) -> str:
    """The sha256 of a trailer line (line feed included) after a `- <size>` record's bytes."""
    if _TRAILER.fullmatch(line) is None:
        raise ValidationError(
            "a '- <size>' record's bytes are followed by its sha256 (64 lower-case hex "
            "digits) and a line feed"
        )
    return line[:64].decode("ascii")
