"""An idle keep-alive connection outlives the clients' pools, with one worker or several: a
client that reuses it after 5 s idle (httpx's pool does) is answered, not reset."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from pathlib import Path

from tests import servers
from tests.reliability.client import PASSWORD, read_response

# httpx keeps an idle connection for reuse up to 5 s; the server must keep it longer.
CLIENT_POOL_IDLE_S = 5.0
REQUEST = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _connected(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(REQUEST)
    assert read_response(sock, bytearray())[0] == 200, "the first request was not answered"
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
            sock.sendall(REQUEST)  # the old 5 s timeout: closed, or reset, before an answer
            assert read_response(sock, bytearray())[0] == 200, f"{workers} worker(s)"
