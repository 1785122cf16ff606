"""BodyProtocol: bodies received into the route's buffers, on a real uvicorn and socket.

A small ASGI app (not Cairn's) reads bodies through ``fill()`` and answers their digest, so
each rule of the protocol is checked alone, on both event loops: the bytes arrive intact
whatever the piece sizes, the next request on the connection is read from where the body
ended, even after a body its route stopped reading, and none of a body's bytes is ever
taken for a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from starlette.requests import Request

from cairn.server.http import rawbody
from cairn.server.http.rawbody import BodyProtocol, _declared_length, body_reader, unzeroed_buffer
from tests import servers

Headers = list[tuple[bytes, bytes]]
KEEP_ALIVE_SECONDS = 1


class EchoApp:
    """Answers each request's body digest, and whether it came through a reader."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.disconnects = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.paths.append(scope["path"])
        query = parse_qs(scope["query_string"].decode())
        piece = int(query.get("piece", ["65536"])[0])
        stop = int(query.get("stop", ["0"])[0])
        listen = query.get("listen") == ["1"]
        await asyncio.sleep(float(query.get("sleep", ["0"])[0]))
        reader = body_reader(scope)
        digest, got = hashlib.sha256(), 0
        try:
            if reader is not None:
                unzeroed = query.get("unzeroed") == ["1"]
                buf = unzeroed_buffer(piece).obj if unzeroed else bytearray(piece)
                assert isinstance(buf, bytearray)
                view = memoryview(buf).cast("I") if query.get("wide") == ["1"] else memoryview(buf)
                while n := await reader.fill(view):
                    digest.update(buf[:n])
                    got += n
                    if listen:  # what Request.is_disconnected() does, then other work
                        assert not await Request(scope, receive).is_disconnected()
                        await asyncio.sleep(0.03)
                    if stop and got >= stop:
                        await _answer(send, 400, {"stopped_at": got})
                        return
            else:
                while True:
                    message = await receive()
                    digest.update(message.get("body", b""))
                    got += len(message.get("body", b""))
                    if not message.get("more_body"):
                        break
        except Exception as exc:
            if type(exc).__name__ == "ClientDisconnect":
                self.disconnects += 1
            raise
        await _answer(
            send, 200, {"raw": reader is not None, "sha256": digest.hexdigest(), "bytes": got}
        )


async def _answer(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


@pytest.fixture(params=["uvloop", "asyncio"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[EchoApp, int]]:
    """The echo app on uvicorn with BodyProtocol, on each event loop, in a thread."""
    app = EchoApp()
    with servers.in_thread(
        app, http=BodyProtocol, loop=request.param, log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    ) as port:  # fmt: skip
        yield app, port


def head(path: str, length: int | None, extra: str = "") -> bytes:
    sized = "" if length is None else f"Content-Length: {length}\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: t\r\n{sized}{extra}\r\n".encode()


def read_response(sock: socket.socket, pending: bytearray) -> tuple[int, dict[str, Any]]:
    """One response (status, JSON body) from ``sock``; bytes past it stay in ``pending``."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        assert data, f"connection closed before a response: {bytes(pending)!r}"
        pending += data
    end = pending.index(b"\r\n\r\n") + 4
    lines = bytes(pending[:end]).decode().split("\r\n")
    length = next(
        int(v) for k, _, v in (x.partition(": ") for x in lines) if k.lower() == "content-length"
    )
    while len(pending) < end + length:
        data = sock.recv(65536)
        assert data, "connection closed inside a response"
        pending += data
    body = json.loads(bytes(pending[end : end + length]))
    del pending[: end + length]
    return int(lines[0].split()[1]), body


def send_slowly(sock: socket.socket, data: bytes, pieces: int = 4) -> None:
    """In a few writes with pauses, so that the body is not all there with its headers."""
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        time.sleep(0.02)


def answers_nothing_more(sock: socket.socket, request: bytes) -> bool:
    """Whether the server has closed this connection: ``request`` gets no answer, at once
    (a connection left open and silent is not closed)."""
    sock.settimeout(2)
    try:
        sock.sendall(request)
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    return sock


@pytest.mark.parametrize("piece", [1, 4096, (1 << 20) + 7, 8 << 20])
def test_a_body_arrives_intact_in_buffers_of_any_size_and_the_connection_goes_on(
    served: tuple[EchoApp, int], piece: int
) -> None:
    app, port = served
    body = os.urandom((3 << 20) + 1234 if piece > 1 else 70_001)
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head(f"/one?piece={piece}", len(body)))
        time.sleep(0.05)
        send_slowly(sock, body)
        status, answer = read_response(sock, pending)
        assert (status, answer["raw"], answer["bytes"]) == (200, True, len(body))
        assert answer["sha256"] == hashlib.sha256(body).hexdigest()
        second = os.urandom(100_000)
        sock.sendall(head("/two", len(second)) + second)  # the same connection, from a new parser
        status, answer = read_response(sock, pending)
        assert (status, answer["sha256"]) == (200, hashlib.sha256(second).hexdigest())
    assert app.paths == ["/one", "/two"]


def test_a_buffer_of_wide_items_is_filled_by_bytes_never_past_the_body(
    served: tuple[EchoApp, int],
) -> None:
    app, port = served
    body, second = os.urandom(100_003), b"next"
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head("/wide?piece=65536&wide=1", len(body)))
        time.sleep(0.05)
        sock.sendall(body + head("/next", len(second)) + second)
        status, answer = read_response(sock, pending)
        assert (status, answer["bytes"]) == (200, len(body))
        assert answer["sha256"] == hashlib.sha256(body).hexdigest()
        assert read_response(sock, pending)[1]["sha256"] == hashlib.sha256(second).hexdigest()
    assert app.paths == ["/wide", "/next"]


def test_a_body_arrives_intact_in_buffers_whose_memory_was_not_cleared(
    served: tuple[EchoApp, int],
) -> None:
    app, port = served
    body = os.urandom((2 << 20) + 77)
    with connect(port) as sock:
        pending = bytearray()
        for _ in range(3):  # buffers made after others were freed reuse their memory
            sock.sendall(head("/unzeroed?piece=1048576&unzeroed=1", len(body)))
            send_slowly(sock, body)
            status, answer = read_response(sock, pending)
            assert (status, answer["raw"], answer["bytes"]) == (200, True, len(body))
            assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    assert app.paths == ["/unzeroed"] * 3


@pytest.mark.parametrize("cpython", [True, False], ids=["c-api", "fallback"])
def test_an_unzeroed_buffer_is_a_writable_bytearray_of_the_size_asked(
    monkeypatch: pytest.MonkeyPatch, cpython: bool
) -> None:
    if cpython:
        assert rawbody._bytearray_from_c() is not None
    else:
        monkeypatch.setattr(rawbody, "_bytearray_from_c", lambda: None)
    for size in (1, 4096, 1 << 20):
        view = unzeroed_buffer(size)
        assert isinstance(view.obj, bytearray)
        assert (len(view), view.readonly, view.contiguous) == (size, False, True)
        view[-1] = 0xAB
        assert view.obj[-1] == 0xAB
        if not cpython:
            assert bytes(view[:-1]) == bytes(size - 1)


def test_a_small_body_that_came_with_its_headers_is_read_from_the_parser(
    served: tuple[EchoApp, int],
) -> None:
    _, port = served
    body = b"x" * 1000
    with connect(port) as sock:
        sock.sendall(head("/small?piece=300", len(body)) + body)
        status, answer = read_response(sock, bytearray())
    assert (status, answer["raw"], answer["bytes"]) == (200, True, 1000)
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_request_sent_right_behind_a_body_is_answered_not_read_as_body(
    served: tuple[EchoApp, int],
) -> None:
    app, port = served
    body, second = os.urandom(2 << 20), b"after"
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head("/first?piece=1000000", len(body)))
        time.sleep(0.05)
        sock.sendall(body + head("/second", len(second)) + second)  # one write, no pause
        first = read_response(sock, pending)
        after = read_response(sock, pending)
    assert first[1]["sha256"] == hashlib.sha256(body).hexdigest()
    assert after[1]["sha256"] == hashlib.sha256(second).hexdigest()
    assert app.paths == ["/first", "/second"]


def test_the_rest_of_a_body_its_route_stopped_reading_is_dropped_never_read_as_a_request(
    served: tuple[EchoApp, int],
) -> None:
    app, port = served
    smuggled = head("/smuggled", 0)
    body = os.urandom(1 << 20) + smuggled * 1000 + os.urandom(1 << 20)
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head(f"/stops?piece=65536&stop={1 << 20}", len(body)))
        time.sleep(0.05)
        # The answer comes early; the client sends all the body and, right behind it, the
        # next request on the same connection, which must be read from where the body ends.
        send_slowly(sock, body + head("/next", 0), pieces=16)
        assert read_response(sock, pending)[0] == 400
        assert read_response(sock, pending)[0] == 200
    with connect(port) as sock:  # and once the rest is dropped, the keep-alive timeout runs
        pending = bytearray()
        sock.sendall(head(f"/idle?piece=65536&stop={1 << 20}", len(body)))
        send_slowly(sock, body, pieces=16)
        assert read_response(sock, pending)[0] == 400
        time.sleep(KEEP_ALIVE_SECONDS + 0.5)
        assert answers_nothing_more(sock, head("/late", 0)), "idle past the keep-alive timeout"
    assert "/smuggled" not in app.paths
    assert app.paths == ["/stops", "/next", "/idle"]


@pytest.mark.parametrize("with_headers", [0, 150_000], ids=["after", "with-headers"])
def test_a_route_that_listens_for_a_disconnect_between_fills_gets_its_body_intact(
    served: tuple[EchoApp, int], with_headers: int
) -> None:
    """Bytes arrive while the route is between fills, into the socket or (sent with the
    headers) into the parser's hands: receive() in between must take none of them."""
    app, port = served
    smuggled = head("/smuggled", 0)
    body = os.urandom(200_000) + smuggled * 100 + os.urandom(200_000)
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head("/listens?piece=65536&listen=1", len(body)) + body[:with_headers])
        time.sleep(0.05)
        send_slowly(sock, body[with_headers:], pieces=12)
        sock.sendall(head("/next", 0))
        status, answer = read_response(sock, pending)
        assert (status, answer["sha256"]) == (200, hashlib.sha256(body).hexdigest())
        assert read_response(sock, pending)[0] == 200
    assert app.paths == ["/listens", "/next"]


def test_a_request_asking_for_an_upgrade_ends_its_connection(served: tuple[EchoApp, int]) -> None:
    """llhttp leaves the body of an upgrade request unparsed: it must never be read as the
    next request (uvicorn alone serves the request inside it)."""
    app, port = served
    inside = head("/inside", 0)
    upgrade = "Connection: Upgrade\r\nUpgrade: foo\r\n"
    with connect(port) as sock:
        sock.sendall(head("/upgrade", len(inside), upgrade))
        time.sleep(0.05)
        sock.sendall(inside)
        assert read_response(sock, bytearray())[0] == 200
        assert answers_nothing_more(sock, head("/after", 0))
    assert app.paths == ["/upgrade"]


def test_an_answer_sent_as_the_body_ends_leaves_one_keep_alive_timeout(
    served: tuple[EchoApp, int],
) -> None:
    """The echo app answers as soon as its last fill returns, before the connection is
    handed back: a second keep-alive timer then would close the next request's connection."""
    _, port = served
    body = os.urandom(300_000)
    with connect(port) as sock:
        pending = bytearray()
        sock.sendall(head("/quick?piece=1000000", len(body)))
        send_slowly(sock, body)
        assert read_response(sock, pending)[0] == 200
        slow = f"/slow?sleep={KEEP_ALIVE_SECONDS + 0.5}"
        sock.sendall(head(slow, 0))  # in progress when a stray timer would fire
        assert read_response(sock, pending)[0] == 200


def test_a_client_that_waits_for_100_continue_gets_it_then_sends_the_body(
    served: tuple[EchoApp, int],
) -> None:
    _, port = served
    body = os.urandom(1 << 20)
    with connect(port) as sock:
        sock.sendall(head("/expect", len(body), "Expect: 100-continue\r\n"))
        interim = sock.recv(64)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        pending = bytearray(interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :])
        sock.sendall(body)
        status, answer = read_response(sock, pending)
    assert (status, answer["sha256"]) == (200, hashlib.sha256(body).hexdigest())


def test_a_chunked_body_gets_no_reader_and_is_read_as_usual(served: tuple[EchoApp, int]) -> None:
    _, port = served
    body = os.urandom(300_000)
    chunked = b"".join(b"%x\r\n%b\r\n" % (len(c), c) for c in (body[:100_000], body[100_000:]))
    with connect(port) as sock:
        sock.sendall(
            head("/chunked", None, "Transfer-Encoding: chunked\r\n") + chunked + b"0\r\n\r\n"
        )
        status, answer = read_response(sock, bytearray())
    assert (status, answer["raw"], answer["sha256"]) == (
        200,
        False,
        hashlib.sha256(body).hexdigest(),
    )


def test_a_client_gone_in_the_middle_of_a_body_is_a_disconnect(served: tuple[EchoApp, int]) -> None:
    app, port = served
    with connect(port) as sock:
        sock.sendall(head("/gone?piece=1000000", 4 << 20))
        time.sleep(0.05)
        sock.sendall(os.urandom(1 << 20))
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while app.disconnects == 0:
        assert time.monotonic() < deadline, "the route never learned that the client left"
        time.sleep(0.02)
    with connect(port) as sock:  # and the server goes on
        sock.sendall(head("/after", 3) + b"abc")
        assert read_response(sock, bytearray())[0] == 200


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-length", b"12")], 12),
        ([(b"content-length", b"0")], 0),
        ([], None),
        ([(b"content-length", b"12"), (b"content-length", b"12")], None),
        ([(b"content-length", b"-1")], None),
        ([(b"content-length", b"12"), (b"transfer-encoding", b"chunked")], None),
    ],
)
def test_only_one_plain_content_length_gets_a_reader(
    headers: Headers, expected: int | None
) -> None:
    assert _declared_length(headers) == expected


def test_the_reader_is_only_offered_where_the_server_made_one() -> None:
    assert body_reader({"type": "http", "extensions": {"cairn.body": "not a reader"}}) is None
    assert body_reader({"type": "http"}) is None
