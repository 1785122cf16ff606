"""An idle keep-alive connection outlives the clients' pools, with one worker or several: a
client that reuses it after 5 s idle (httpx's pool does) is answered, not reset."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path

from tests import servers
from tests.reliability.client import PASSWORD

# httpx keeps an idle connection for reuse up to 5 s; the server must keep it longer.
CLIENT_POOL_IDLE_S = 5.0
REQUEST = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(sock: socket.socket) -> bytes:
    """One whole answer (head and Content-Length body), or what came before the connection
    ended."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _connected(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(REQUEST)
    assert _answer(sock).startswith(b"HTTP/1.1 200 "), "the first request was not answered"
    return sock


def test_an_idle_connection_is_still_served_after_the_clients_pool_would_reuse_it(
    tmp_path: Path,
) -> None:
    env = {"CAIRN_ADMIN_PASSWORD": PASSWORD}
    with ExitStack() as stack:
        one = stack.enter_context(servers.running(tmp_path / "one", env))
        two = stack.enter_context(servers.running(tmp_path / "two", env, workers=2))
        connections = [stack.enter_context(_connected(s.base)) for s in (one, two)]
        time.sleep(CLIENT_POOL_IDLE_S + 1.0)
        for sock, workers in zip(connections, (1, 2), strict=True):
            try:
                sock.sendall(REQUEST)
                answer = _answer(sock)
            except ConnectionError as exc:
                answer = repr(exc).encode()
            assert answer.startswith(b"HTTP/1.1 200 "), (workers, answer[:200])
