"""The SDK's side of blob streams: its strict reader; the writer is cairn._blobformat's."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

from cairn._blobformat import MAX_HEADER, MEDIA_TYPE, TRAILER, header, trailer
from cairn.client._errors import CairnError

# A piece of a received body: the bytes as they came, or a view into them.
Piece = bytes | memoryview

__all__ = [
    "MAX_HEADER",
    "MEDIA_TYPE",
    "TRAILER",
    "BlobStreamError",
    "RecordSink",
    "header",
    "parse_header",
    "read_stream",
    "trailer",
]

_HEADER = re.compile(rb"([0-9a-f]{64}) (0|[1-9][0-9]{0,19})\n")


class BlobStreamError(CairnError):
    """A blob stream that is malformed, cut short, or not the records that were asked for."""

    code = "bad_blob_stream"


class RecordSink(Protocol):
    """Where the records of a stream go, one at a time: begin, data pieces, end."""

    def begin(self, sha256: str, size: int) -> None:
        """A record of ``size`` bytes for ``sha256`` starts."""

    def data(self, piece: Piece) -> None:
        """The next bytes of the current record (never past its size); a view into the
        received bytes, which a source refilling one buffer overwrites once this returns."""

    def end(self) -> None:
        """The current record's bytes are complete."""


def parse_header(line: bytes) -> tuple[str, int]:
    """``(sha256, size)`` of one header line (line feed included); anything else is refused."""
    match = _HEADER.fullmatch(line)
    if match is None:
        raise BlobStreamError(f"a malformed blob stream record header: {line[:MAX_HEADER]!r}")
    return match.group(1).decode("ascii"), int(match.group(2))


def read_stream(
    pieces: Iterable[Piece], expected: Sequence[tuple[str, int]], sink: RecordSink
) -> None:
    """Hand the records of a stream to ``sink``; the stream must hold exactly ``expected``
    (``(sha256, size)`` pairs), in that order, and nothing else. A record is ended only once
    all its bytes arrived; anything off raises ``BlobStreamError`` at once. Each piece is
    done with before the next is asked for, so a source may refill one buffer."""
    index = 0
    left = -1  # bytes the current record still lacks; -1 while reading a header
    header = bytearray()
    for piece in pieces:
        at = 0
        while at < len(piece):
            if left < 0:
                window = bytes(piece[at : at + MAX_HEADER - len(header)])
                found = window.find(b"\n")
                if found < 0:
                    header += window
                    if len(header) >= MAX_HEADER:
                        raise BlobStreamError("a blob stream record header is too long")
                    break
                header += window[: found + 1]
                at += found + 1
                left = _begin(bytes(header), index, expected, sink)
                header.clear()
            else:
                take = min(left, len(piece) - at)
                whole = (at, take) == (0, len(piece))
                sink.data(piece if whole else memoryview(piece)[at : at + take])  # no copy
                at += take
                left -= take
            if left == 0:
                sink.end()
                index += 1
                left = -1
    if left >= 0 or header:
        raise BlobStreamError("the blob stream ended inside a record")
    if index != len(expected):
        raise BlobStreamError(f"the blob stream ended after {index} of {len(expected)} records")


def _begin(line: bytes, index: int, expected: Sequence[tuple[str, int]], sink: RecordSink) -> int:
    """Check a record's header against the one expected there; start it; its size."""
    sha256, size = parse_header(line)
    if index >= len(expected):
        raise BlobStreamError(f"the blob stream holds more than the {len(expected)} records asked")
    want_sha, want_size = expected[index]
    if sha256 != want_sha:
        raise BlobStreamError(f"record {index + 1} of the blob stream is {sha256}, not {want_sha}")
    if size != want_size:
        raise BlobStreamError(
            f"record {sha256} of the blob stream has {size} bytes, not {want_size}"
        )
    sink.begin(sha256, size)
    return size
