"""The SDK's blob-stream parser on crafted bytes: every record as asked, anything else refused."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cairn.client._blobstream import MAX_HEADER, BlobStreamError, read_stream
from tests.client.artifacts_support import sha256
from tests.client.blob_stream_support import stream_of


class Collect:
    """A RecordSink that keeps what it is handed."""

    def __init__(self) -> None:
        self.records: list[tuple[str, int, bytes]] = []
        self.ended = 0
        self.current: list[bytes] = []

    def begin(self, sha256: str, size: int) -> None:
        self.records.append((sha256, size, b""))
        self.current = []

    def data(self, piece: bytes | memoryview) -> None:
        self.current.append(bytes(piece))

    def end(self) -> None:
        sha, size, _ = self.records[-1]
        self.records[-1] = (sha, size, b"".join(self.current))
        self.ended += 1


BLOBS = [b"first", b"", os.urandom(70_000), b"\n\n", b"last"]
EXPECTED = [(sha256(b), len(b)) for b in BLOBS]


@pytest.mark.parametrize("piece", [1, 2, 7, 64, 86, 87, 4096, 1 << 20])
def test_records_are_read_whatever_the_pieces(piece: int) -> None:
    body = stream_of(*BLOBS)
    sink = Collect()
    read_stream((body[i : i + piece] for i in range(0, len(body), piece)), EXPECTED, sink)
    assert sink.records == [(sha256(b), len(b), b) for b in BLOBS]
    assert sink.ended == len(BLOBS)


@pytest.mark.parametrize("piece", [1, 7, 86, 87, 4096, 70_001])
def test_records_are_read_from_one_buffer_refilled_for_every_piece(piece: int) -> None:
    body = stream_of(*BLOBS)
    buffer = bytearray(piece)

    def refilled() -> Iterator[memoryview]:
        for i in range(0, len(body), piece):
            chunk = body[i : i + piece]
            buffer[: len(chunk)] = chunk  # what was handed out before is overwritten
            yield memoryview(buffer)[: len(chunk)]
        buffer[:] = bytes(len(buffer))

    sink = Collect()
    read_stream(refilled(), EXPECTED, sink)
    assert sink.records == [(sha256(b), len(b), b) for b in BLOBS]
    assert sink.ended == len(BLOBS)


def test_nothing_asked_nothing_sent() -> None:
    sink = Collect()
    read_stream([], [], sink)
    assert sink.records == []


GOOD_HEAD = f"{sha256(b'first')} 5\n".encode()
MALFORMED = {
    "upper-case digest": GOOD_HEAD.upper(),
    "short digest": GOOD_HEAD[1:],
    "a path as digest": b"../../../../etc/passwd 5\n",
    "leading zero": GOOD_HEAD.replace(b" 5\n", b" 05\n"),
    "negative size": GOOD_HEAD.replace(b" 5\n", b" -5\n"),
    "two spaces": GOOD_HEAD.replace(b" 5\n", b"  5\n"),
    "tab": GOOD_HEAD.replace(b" ", b"\t"),
    "CRLF": GOOD_HEAD.replace(b"\n", b"\r\n"),
    "no line feed, endless": GOOD_HEAD[:-1] + b"5" * 1000,
    "NUL": GOOD_HEAD.replace(b" ", b"\0"),
}


@pytest.mark.parametrize("header", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_headers_are_refused_before_any_byte(header: bytes) -> None:
    sink = Collect()
    with pytest.raises(BlobStreamError):
        read_stream([header + b"first"], [(sha256(b"first"), 5)], sink)
    assert sink.records == []


def test_a_header_longer_than_the_longest_is_refused_without_reading_on() -> None:
    seen = []

    def pieces() -> Iterator[bytes]:
        for _ in range(1000):
            seen.append(1)
            yield b"a"

    with pytest.raises(BlobStreamError):
        read_stream(pieces(), [(sha256(b"first"), 5)], Collect())
    assert len(seen) == MAX_HEADER


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (stream_of(b"b", b"a"), [(sha256(b"a"), 1), (sha256(b"b"), 1)]),  # out of order
        (stream_of(b"a", b"c"), [(sha256(b"a"), 1), (sha256(b"b"), 1)]),  # never asked
        (stream_of(b"a", b"b"), [(sha256(b"a"), 1)]),  # an extra record
        (stream_of(b"a", b"a"), [(sha256(b"a"), 1)]),  # the same record twice
        (stream_of(b"a") + b"\n", [(sha256(b"a"), 1)]),  # trailing bytes
        (f"{sha256(b'ab')} 1\na".encode(), [(sha256(b"ab"), 2)]),  # another size
        (f"{sha256(b'a')} 2\nab".encode(), [(sha256(b"a"), 1)]),  # a longer record
    ],
    ids=["order", "not asked", "extra", "twice", "trailing", "smaller", "larger"],
)
def test_records_other_than_those_asked_are_refused(
    body: bytes, expected: list[tuple[str, int]]
) -> None:
    with pytest.raises(BlobStreamError):
        read_stream([body], expected, Collect())


@pytest.mark.parametrize("cut", [0, 10, 65, len(stream_of(b"first")) - 1])
def test_a_stream_cut_short_is_refused(cut: int) -> None:
    body = stream_of(b"first", b"second")
    sink = Collect()
    with pytest.raises(BlobStreamError):
        read_stream([body[: len(stream_of(b"first")) + cut]], EXPECTED_TWO, sink)
    assert sink.ended <= 1


EXPECTED_TWO = [(sha256(b"first"), 5), (sha256(b"second"), 6)]


def test_the_parser_never_hands_a_record_more_than_its_size() -> None:
    sink = Collect()
    body = stream_of(b"abc") + b"X" * 100
    with pytest.raises(BlobStreamError):
        read_stream([body], [(sha256(b"abc"), 3)], sink)
    assert sink.records == [(sha256(b"abc"), 3, b"abc")]
