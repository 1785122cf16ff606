"""The SDK's transport: reads grow while a large body streams in, and shrink back after."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from cairn.client import _network
from cairn.client._config import Settings
from cairn.client._session import Session

BODY = os.urandom(24 << 20)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = BODY if self.path == "/large" else b"small"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _Inner(httpcore.NetworkStream):
    """A stream that answers each read with ``fill(asked)`` bytes and records what was asked."""

    def __init__(self, fill: list[int]) -> None:
        self.fill = fill
        self.asked: list[int] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.asked.append(max_bytes)
        return b"x" * min(max_bytes, self.fill.pop(0))


def test_reads_double_while_full_up_to_the_largest_and_halve_when_short() -> None:
    big = 1 << 30
    inner = _Inner([big] * 6 + [10] * 6)
    stream = _network._GrowingReads(inner)
    for _ in range(12):
        stream.read(65_536)
    kib = [n >> 10 for n in inner.asked]
    assert kib == [64, 128, 256, 512, 1024, 1024, 1024, 512, 256, 128, 64, 64]


def test_a_larger_request_than_the_current_size_is_honoured() -> None:
    inner = _Inner([5])
    _network._GrowingReads(inner).read(1 << 20)
    assert inner.asked == [1 << 20]


def test_the_sdk_reads_a_large_body_in_large_pieces_and_intact(
    origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[int] = []
    real_read = _network._GrowingReads.read

    def counting(
        self: _network._GrowingReads, max_bytes: int, timeout: float | None = None
    ) -> bytes:
        # Reads grow only while the body arrives faster than it is read. Whether it does is
        # up to the machine's load, so make it so: a receive buffer of fixed size (the
        # kernel's own grows only for a reader that keeps up) and a short pause before each
        # read, which lets the sending thread fill it.
        self.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        time.sleep(0.002)
        data = real_read(self, max_bytes, timeout)
        received.append(len(data))
        return data

    monkeypatch.setattr(_network._GrowingReads, "read", counting)
    session = Session(Settings(base_url=origin, api_key=None, organization=None))
    try:
        digest = hashlib.sha256()
        with session._client.stream("GET", origin + "/large") as response:
            for chunk in response.iter_raw():
                digest.update(chunk)
        assert digest.digest() == hashlib.sha256(BODY).digest()
        assert max(received) > _network.FIRST_READ, "reads grew past httpcore's 64 KiB"
        assert max(received) <= _network.LARGEST_READ
        received.clear()
        small = session._client.get(origin + "/small")
        assert small.content == b"small"
    finally:
        session.close()


def test_a_client_given_to_the_sdk_is_used_as_it_is(origin: str) -> None:
    with httpx.Client() as given:
        session = Session(Settings(base_url=origin, api_key=None, organization=None), client=given)
        assert session._client is given
