"""Bodies left in the socket: headers read to their end only, the body received into buffers."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cairn._filewriter import SpliceRefused
from cairn.client import _network

BODY = os.urandom(3 * _network.HEAD_PEEK + 12_345)  # more than one peek's worth
Script = Callable[[socket.socket], None]


@dataclass
class ScriptedServer:
    """A loopback server answering each request on a connection with the next script."""

    scripts: list[Script]
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while self.scripts:
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = conn.recv(65_536)
                    if not piece:
                        return
                    head += piece
                self.requests.append(head)
                self.scripts.pop(0)(conn)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    made: list[ScriptedServer] = []

    def start(*scripts: Script) -> ScriptedServer:
        made.append(ScriptedServer(list(scripts)))
        return made[-1]

    yield start
    for server in made:
        server.close()


def answer(body: bytes = BODY, status: str = "200 OK", extra: str = "") -> Script:
    def send(conn: socket.socket) -> None:
        head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
        conn.sendall(head + body)

    return send


def receive_all(body: _network.RawBody, piece: int = 100_000) -> bytes:
    buffer = bytearray(piece)
    received = b""
    with memoryview(buffer) as view:
        while n := body.receive_into(view):
            received += bytes(view[:n])
    return received


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=_network.transport(), timeout=5) as made:
        yield made


def get_raw(client: httpx.Client, url: str) -> tuple[httpx.Response, bytes]:
    """GET ``url`` with its body left in the socket; the answer and the body received."""
    with _network.body_left_in_socket(), client.stream("GET", url) as response:
        body = _network.raw_body(response)
        assert body is not None
        return response, receive_all(body)


def test_the_body_is_received_from_the_socket_intact_and_the_connection_not_reused(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(answer(extra="X-Test: yes\r\n"), answer(b"second"))
    response, body = get_raw(client, server.origin + "/one")
    assert response.status_code == 200
    assert response.headers["x-test"] == "yes"
    assert body == BODY
    # httpx never saw the body end, so the next request opens a new connection
    assert client.get(server.origin + "/two").content == b"second"
    assert server.connections == 2


def test_headers_arriving_byte_by_byte_end_exactly_at_their_blank_line(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def trickle(conn: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        for byte in head:
            conn.sendall(bytes([byte]))
            time.sleep(0.001)
        conn.sendall(BODY)

    server = serve(trickle)
    response, body = get_raw(client, server.origin)
    assert response.headers["content-length"] == str(len(BODY))
    assert body == BODY


def test_headers_ending_in_bare_line_feeds_end_where_h11_ends_them(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    body = b"col1,col2\r\n\r\n" + BODY  # a blank CRLF line early in the body
    server = serve(
        lambda conn: conn.sendall(b"HTTP/1.1 200 OK\nContent-Length: %d\n\n" % len(body) + body)
    )
    _, received = get_raw(client, server.origin)
    assert received == body


def test_an_informational_answer_first_leaves_the_final_body_in_the_socket(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def continue_first(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        time.sleep(0.01)
        answer()(conn)

    server = serve(continue_first)
    response, body = get_raw(client, server.origin)
    assert response.status_code == 200
    assert body == BODY


def test_outside_the_block_httpx_reads_the_body_and_keeps_the_connection(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(answer(), answer(b"second"))
    with client.stream("GET", server.origin) as response:
        assert _network.raw_body(response) is None
        assert response.read() == BODY
    assert client.get(server.origin).content == b"second"
    assert server.connections == 1


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            lambda conn: conn.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n" % len(BODY)
                + BODY
                + b"\r\n0\r\n\r\n"
            ),
            id="chunked",
        ),
        pytest.param(answer(extra="Content-Encoding: identity, gzip\r\n"), id="encoded"),
    ],
)
def test_a_body_that_is_not_plain_content_length_bytes_is_left_to_httpx(
    serve: Callable[..., ScriptedServer], client: httpx.Client, script: Script
) -> None:
    server = serve(script)
    with _network.body_left_in_socket(), client.stream("GET", server.origin) as response:
        assert _network.raw_body(response) is None
        raw = b"".join(response.iter_raw())
    assert raw == BODY


def test_an_error_answer_inside_the_block_is_still_read_by_httpx(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(answer(b'{"detail": "gone"}', status="404 Not Found"), answer(b"next"))
    with _network.body_left_in_socket(), client.stream("GET", server.origin) as response:
        assert response.status_code == 404
        assert response.read() == b'{"detail": "gone"}'
    assert client.get(server.origin).content == b"next"
    assert server.connections == 1  # the error's body was read whole: the connection goes on


def test_receiving_stops_at_content_length_even_on_an_open_connection(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    def short_then_more(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more")
        time.sleep(3)  # the connection stays open: a read past the body would wait here

    server = serve(short_then_more)
    started = time.monotonic()
    _, body = get_raw(client, server.origin)
    assert body == b"hello"
    assert time.monotonic() - started < 1.5


def stall(conn: socket.socket) -> None:
    """Seven bytes of a 100-byte body, then nothing (the connection stays open)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    time.sleep(3)


def cut(conn: socket.socket) -> None:
    """Seven bytes of a 100-byte body, then the connection closes."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
    conn.shutdown(socket.SHUT_RDWR)


def test_a_body_that_stops_arriving_times_out(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(stall)
    with (
        _network.body_left_in_socket(),
        client.stream("GET", server.origin, timeout=0.5) as response,
    ):
        body = _network.raw_body(response)
        assert body is not None
        with pytest.raises(httpx.ReadTimeout):
            receive_all(body)


def test_a_connection_closed_mid_body_is_an_error_after_what_arrived(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(cut)
    buffer = bytearray(100)
    with _network.body_left_in_socket(), client.stream("GET", server.origin) as response:
        body = _network.raw_body(response)
        assert body is not None
        with memoryview(buffer) as view:
            assert body.receive_into(view) == len(b"partial")
            with pytest.raises(httpx.RemoteProtocolError, match="93 bytes missing"):
                body.receive_into(view[7:])
    assert bytes(buffer[:7]) == b"partial"


def test_the_request_flag_is_per_thread_and_cleared_after_the_block(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(answer(), answer(), answer())
    seen: list[bool] = []

    def other_thread() -> None:
        with client.stream("GET", server.origin) as response:
            seen.append(_network.raw_body(response) is None)
            response.read()

    with _network.body_left_in_socket():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        with _network.body_left_in_socket():  # nested: leaving it keeps the outer one on
            pass
        _, body = get_raw(client, server.origin)
        assert body == BODY
    with client.stream("GET", server.origin) as response:
        seen.append(_network.raw_body(response) is None)
        response.read()
    assert seen == [True, True]


class _RecordingSocket:
    """A socket stand-in that fills whatever it is asked for and records the sizes."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv_into(self, view: memoryview) -> int:
        self.asked.append(len(view))
        return len(view)


def test_each_receive_asks_for_at_most_the_largest_receive() -> None:
    sock = _RecordingSocket()
    length = 3 * _network.LARGEST_RECEIVE + 5
    body = _network.RawBody(sock, length, None)  # type: ignore[arg-type]
    buffer = bytearray(length + 100)
    with memoryview(buffer) as view:
        got = 0
        while n := body.receive_into(view[got:]):
            got += n
    assert got == length
    assert sock.asked == [_network.LARGEST_RECEIVE] * 3 + [5]


def splice_all(body: _network.RawBody, piece: int = 100_000) -> bytes:
    """The body, moved from the socket into a pipe inside the kernel, then read from it."""
    read_end, write_end = os.pipe()
    received = b""
    try:
        while n := body.splice_into(write_end, piece):
            while n:
                data = os.read(read_end, n)
                received += data
                n -= len(data)
    finally:
        os.close(read_end)
        os.close(write_end)
    return received


def splice_raw(client: httpx.Client, url: str, **options: Any) -> bytes:
    with _network.body_left_in_socket(), client.stream("GET", url, **options) as response:
        body = _network.raw_body(response)
        assert body is not None
        return splice_all(body)


needs_splice = pytest.mark.skipif(not hasattr(os, "splice"), reason="splice() is Linux's")


@needs_splice
def test_a_spliced_body_arrives_intact_and_stops_at_content_length(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    large = os.urandom(3 * _network.LARGEST_RECEIVE + 7)

    def large_then_more(conn: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(large)}\r\n\r\n".encode()
        conn.sendall(head + large + b"and more")
        time.sleep(3)  # the connection stays open: a splice past the body would wait here

    server = serve(large_then_more)
    started = time.monotonic()
    assert splice_raw(client, server.origin) == large
    assert time.monotonic() - started < 1.5


@needs_splice
def test_a_spliced_body_that_stops_arriving_times_out(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(stall)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        splice_raw(client, server.origin, timeout=0.5)
    assert time.monotonic() - started < 2


@needs_splice
def test_a_connection_closed_mid_splice_is_an_error_after_what_arrived(
    serve: Callable[..., ScriptedServer], client: httpx.Client
) -> None:
    server = serve(cut)
    read_end, write_end = os.pipe()
    try:
        with _network.body_left_in_socket(), client.stream("GET", server.origin) as response:
            body = _network.raw_body(response)
            assert body is not None
            assert body.splice_into(write_end, 100) == len(b"partial")
            with pytest.raises(httpx.RemoteProtocolError, match="93 bytes missing"):
                body.splice_into(write_end, 100)
        assert os.read(read_end, 100) == b"partial"
    finally:
        os.close(read_end)
        os.close(write_end)


@needs_splice
@pytest.mark.parametrize(
    ("code", "raised"),
    [
        (errno.EINVAL, SpliceRefused),
        (errno.ENOSYS, SpliceRefused),
        (errno.ECONNRESET, httpx.ReadError),
    ],
)
def test_a_socket_that_cannot_splice_says_so_and_a_broken_one_is_a_read_error(
    code: int,
    raised: type[Exception],
    serve: Callable[..., ScriptedServer],
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(*args: Any, **named: Any) -> int:
        raise OSError(code, os.strerror(code))

    server = serve(answer())
    with _network.body_left_in_socket(), client.stream("GET", server.origin) as response:
        body = _network.raw_body(response)
        assert body is not None
        monkeypatch.setattr(os, "splice", failing)
        with pytest.raises(raised):
            body.splice_into(0, 100)
        monkeypatch.undo()
        assert receive_all(body) == BODY  # nothing was taken from the socket
