"""Zero-copy sends (cairn.server.http.zerocopy) on a real uvicorn with BodyProtocol and a
socket, on both event loops: file bytes handed to the kernel arrive intact and in order
with the bytes around them, the connection goes on after them, a slow or vanished client
holds up neither the event loop nor a thread, and a file missing or shorter than promised
never passes for a complete answer.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from cairn.server.http import zerocopy
from cairn.server.http.rawbody import BodyProtocol
from cairn.server.http.zerocopy import (
    EXTENSION,
    FilePartsResponse,
    FileRange,
    ZeroCopyCycle,
    offer_zero_copy,
)
from tests import servers
from tests.api.conftest import wait_for_total

MIB = 1 << 20


class FileApp:
    """``GET /f?start=&end=`` answers bytes [start, end) of ``path``; ``/mixed`` answers
    b"<" + the first 1,000 bytes + b"|" + bytes 5,000-9,000 + b">"; ``/many`` 300 small
    ranges each behind a label; ``/short`` promises more bytes than the file holds and
    ``/missing`` bytes of a file that does not exist; ``/ping`` answers b"pong"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offered: list[bool] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.offered.append(EXTENSION in scope.get("extensions", {}))
        query = {k: int(v[0]) for k, v in parse_qs(scope["query_string"].decode()).items()}
        size = self.path.stat().st_size
        if scope["path"] == "/ping":
            parts: list[bytes | FileRange] = [b"pong"]
        elif scope["path"] == "/mixed":
            parts = [b"<", FileRange(self.path, 0, 1000), b"|", FileRange(self.path, 5000, 9000)]
            parts.append(b">")
        elif scope["path"] == "/short":
            parts = [FileRange(self.path, 0, size + 10)]
        elif scope["path"] == "/missing":
            parts = [FileRange(self.path, 0, 1000), FileRange(self.path.with_name("gone"), 0, 10)]
        elif scope["path"] == "/many":
            parts = [p for i in range(300) for p in (b"%d:" % i, FileRange(self.path, i, i + 999))]
        else:
            parts = [FileRange(self.path, query.get("start", 0), query.get("end", size))]
        length = sum(len(p) if isinstance(p, bytes) else p.end - p.start for p in parts)

        async def streamed() -> AsyncIterator[bytes]:
            for part in parts:
                if isinstance(part, bytes):
                    yield part
                else:
                    yield part.path.read_bytes()[part.start : part.end]

        response = FilePartsResponse(parts, streamed, headers={"Content-Length": str(length)})
        await response(scope, receive, send)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(24 * MIB + 123))
    return path


@pytest.fixture(params=["uvloop", "asyncio"])
def served(request: pytest.FixtureRequest, data_file: Path) -> Iterator[tuple[FileApp, int]]:
    app = FileApp(data_file)
    with servers.in_thread(
        app, http=BodyProtocol, loop=request.param, log_level="critical", timeout_keep_alive=30
    ) as port:
        yield app, port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    return sock


def request(sock: socket.socket, target: str, method: str = "GET") -> None:
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


def receive_headers(sock: socket.socket, pending: bytearray) -> tuple[int, int]:
    """(status, Content-Length) of the next response; its body's first bytes stay pending."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        assert data, "connection closed before a response"
        pending += data
    end = pending.index(b"\r\n\r\n") + 4
    lines = bytes(pending[:end]).decode().split("\r\n")
    del pending[:end]
    fields = {k.lower(): v for k, _, v in (x.partition(": ") for x in lines[1:] if x)}
    return int(lines[0].split()[1]), int(fields["content-length"])


def receive_body(sock: socket.socket, pending: bytearray, length: int) -> bytes:
    while len(pending) < length:
        data = sock.recv(1 << 20)
        if not data:
            break
        pending += data
    body = bytes(pending[:length])
    del pending[:length]
    return body


def fetch(sock: socket.socket, pending: bytearray, target: str) -> bytes:
    request(sock, target)
    status, length = receive_headers(sock, pending)
    assert status == 200
    body = receive_body(sock, pending, length)
    assert len(body) == length, "the body ended early"
    return body


@pytest.mark.parametrize(
    ("start", "end"), [(0, 1), (0, 65_539), (7, 3 * MIB + 5), (MIB, 24 * MIB + 123)]
)
def test_a_file_range_arrives_intact_and_the_connection_goes_on(
    served: tuple[FileApp, int],
    data_file: Path,
    sent_by_kernel: list[int],
    start: int,
    end: int,
) -> None:
    app, port = served
    data = data_file.read_bytes()
    pending = bytearray()
    with connect(port) as sock:
        assert fetch(sock, pending, f"/f?start={start}&end={end}") == data[start:end]
        assert fetch(sock, pending, "/ping") == b"pong"  # framing kept: the next request
        assert fetch(sock, pending, "/f?start=0&end=10") == data[:10]
    assert pending == b""
    assert app.offered == [True, True, True]
    assert wait_for_total(sent_by_kernel, end - start + 10) == end - start + 10, "sendfile"


def test_a_file_is_asked_of_the_disk_ahead_of_its_send_and_never_past_its_range(
    served: tuple[FileApp, int], data_file: Path, asked_ahead: list[tuple[int, int, int]]
) -> None:
    _, port = served
    start, end = MIB + 7, 24 * MIB + 100
    with connect(port) as sock:
        assert (
            fetch(sock, bytearray(), f"/f?start={start}&end={end}")
            == (data_file.read_bytes()[start:end])
        )
    first_window = [(start + i * MIB, MIB, os.POSIX_FADV_WILLNEED) for i in range(4)]
    assert asked_ahead[:4] == first_window, "4 MiB asked for before the first byte is sent"
    assert {advice for _, _, advice in asked_ahead} == {os.POSIX_FADV_WILLNEED}
    assert all(0 < length <= MIB for _, length, _ in asked_ahead)
    # in order, no byte asked for twice (bytes a send already took are skipped), none past
    # the range (how many more are asked for depends on how much each sendfile took)
    ends = [offset + length for offset, length, _ in asked_ahead]
    assert all(ends[i] <= asked_ahead[i + 1][0] for i in range(len(ends) - 1))
    assert ends[-1] <= end


def test_a_system_that_refuses_the_hint_still_sends_every_byte(
    served: tuple[FileApp, int], data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[int] = []

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        refused.append(offset)
        raise OSError(errno.EINVAL, "no hints here")

    monkeypatch.setattr(os, "posix_fadvise", advise)
    _, port = served
    with connect(port) as sock:
        assert fetch(sock, bytearray(), "/f") == data_file.read_bytes()
    assert refused, "the hint was asked for"


def test_bytes_and_file_ranges_go_out_in_order(
    served: tuple[FileApp, int], data_file: Path
) -> None:
    _, port = served
    data = data_file.read_bytes()
    with connect(port) as sock:
        pending = bytearray()
        body = fetch(sock, pending, "/mixed")
    assert body == b"<" + data[:1000] + b"|" + data[5000:9000] + b">"


def test_many_small_ranges_go_out_in_order_a_group_per_message(
    served: tuple[FileApp, int], data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages: list[int] = []
    real = ZeroCopyCycle.send

    async def counting(self: ZeroCopyCycle, message: Any) -> None:
        if message["type"] == EXTENSION:
            messages.append(len(message["parts"]))
        await real(self, message)

    monkeypatch.setattr(ZeroCopyCycle, "send", counting)
    _, port = served
    data = data_file.read_bytes()
    with connect(port) as sock:
        body = fetch(sock, bytearray(), "/many")
    assert body == b"".join(b"%d:" % i + data[i : i + 999] for i in range(300))
    assert messages == [128, 128, 128, 128, 88], "parts go GROUP_PARTS to a message, not one by one"


def test_a_head_request_gets_headers_only_and_the_connection_goes_on(
    served: tuple[FileApp, int], sent_by_kernel: list[int]
) -> None:
    _, port = served
    with connect(port) as sock:
        pending = bytearray()
        request(sock, "/f?start=0&end=5000", method="HEAD")
        assert receive_headers(sock, pending) == (200, 5000)
        assert fetch(sock, pending, "/ping") == b"pong"
    assert sent_by_kernel == []


def test_a_slow_reader_gets_every_byte_while_the_loop_serves_others(
    served: tuple[FileApp, int], data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket stays full for a while: the send hands back to the event loop (no thread
    waits for the client), which meanwhile answers another connection at once."""
    monkeypatch.setattr(zerocopy, "SENDING_THREADS", 1)
    zerocopy._threads.cache_clear()
    try:
        _, port = served
        with connect(port) as slow, connect(port) as other:
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            request(slow, "/f")
            time.sleep(0.5)  # the slow client reads nothing yet: its socket fills up
            began = time.monotonic()
            assert (
                fetch(other, bytearray(), "/f?start=0&end=100000")
                == data_file.read_bytes()[:100000]
            )
            assert time.monotonic() - began < 2, "another client waited behind the slow one"
            pending = bytearray()
            assert receive_headers(slow, pending)[0] == 200
            length = data_file.stat().st_size
            assert receive_body(slow, pending, length) == data_file.read_bytes()
    finally:
        zerocopy._threads.cache_clear()


@pytest.mark.parametrize(("path", "kept"), [("/short", 24 * MIB + 123), ("/missing", 1000)])
def test_a_file_missing_or_shorter_than_its_range_cuts_the_answer_short(
    served: tuple[FileApp, int], data_file: Path, path: str, kept: int
) -> None:
    _, port = served
    with connect(port) as sock:
        pending = bytearray()
        began = time.monotonic()
        request(sock, path)
        status, length = receive_headers(sock, pending)
        body = receive_body(sock, pending, length)
        assert time.monotonic() - began < 3, "closed at once, not left to the keep-alive timeout"
        assert status == 200
        assert body == data_file.read_bytes()[:kept]
        assert len(body) < length, "the answer must not look complete"


def test_a_client_gone_mid_send_leaves_the_server_serving(
    served: tuple[FileApp, int], data_file: Path
) -> None:
    """No byte meant for a connection that is gone reaches the next one, which the system
    may give the same descriptor number (the send keeps a descriptor of its own)."""
    _, port = served
    data = data_file.read_bytes()
    for _ in range(50):
        sock = connect(port)
        request(sock, "/f")
        sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset, in the middle of the file
        with connect(port) as fresh:
            assert fetch(fresh, bytearray(), "/f?start=0&end=5") == data[:5]


def test_a_client_that_stops_reading_is_given_up_on(
    served: tuple[FileApp, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zerocopy, "STALL_S", 0.5)
    _, port = served
    with connect(port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        request(sock, "/f")
        time.sleep(2)  # far past STALL_S without reading
        pending = bytearray()
        _, length = receive_headers(sock, pending)
        assert len(receive_body(sock, pending, length)) < length, "the server gave up"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_without_the_extension_the_body_is_streamed(data_file: Path, loop: str) -> None:
    app = FileApp(data_file)
    with (
        servers.in_thread(app, http="httptools", loop=loop, log_level="critical") as port,
        connect(port) as sock,
    ):
        pending = bytearray()
        assert fetch(sock, pending, "/mixed")[:1] == b"<"
        assert fetch(sock, pending, "/f?start=3&end=70000") == data_file.read_bytes()[3:70000]
    assert app.offered == [False, False]


def test_never_offered_over_tls() -> None:
    def cycle(ssl: object) -> RequestResponseCycle:
        made = RequestResponseCycle.__new__(RequestResponseCycle)
        made.transport = SimpleNamespace(  # type: ignore[assignment]
            get_extra_info=lambda name: ssl if name == "sslcontext" else None
        )
        return made

    plain: dict[str, Any] = {}
    offered = cycle(None)
    offer_zero_copy(offered, plain)
    assert EXTENSION in plain["extensions"]
    assert isinstance(offered, ZeroCopyCycle)
    secure: dict[str, Any] = {}
    refused = cycle(object())
    offer_zero_copy(refused, secure)
    assert EXTENSION not in secure.get("extensions", {})
    assert not isinstance(refused, ZeroCopyCycle)
