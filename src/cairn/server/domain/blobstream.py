"""The blob stream: many files' bytes in one body, each after a `<sha256> <size>` line."""

from __future__ import annotations

import re

from cairn.server.domain.errors import ValidationError

MEDIA_TYPE = "application/vnd.cairn.blobs"
# 64 hex digits, a space, at most 20 decimal digits, a line feed.
MAX_HEADER = 64 + 1 + 20 + 1
# Files one upload stream may carry: each costs the server a file and an fsync, so one
# request must not stand for unbounded work (the same bound as a /blobs/missing check).
MAX_FILES = 10_000
_HEADER = re.compile(rb"([0-9a-f]{64}) (0|[1-9][0-9]{0,19})\n")


def header(sha256: str, size: int) -> bytes:
    """The line that precedes a record's bytes."""
    return f"{sha256} {size}\n".encode("ascii")


def parse_header(line: bytes) -> tuple[str, int]:
    """``(sha256, size)`` of one header line, its line feed included; anything else is refused."""
    match = _HEADER.fullmatch(line)
    if match is None:
        raise ValidationError(
            "a blob stream record starts with '<sha256> <size>' and a line feed "
            "(64 lower-case hex digits, a space, a decimal size)"
        )
    return match.group(1).decode("ascii"), int(match.group(2))
