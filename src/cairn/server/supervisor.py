"""The multi-worker parent process: the shared socket and uvicorn's supervisor, without the app.

`cairn server --workers N` prepares the database, then replaces itself with this module
(`python -m cairn.server.supervisor`), so the process that only watches the workers does
not keep the application's ~100 MiB of imports resident. Each worker builds the app itself
from the CAIRN_* environment.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

import uvicorn
from uvicorn.supervisors import Multiprocess

WORKER_APP = "cairn.server.app:app_from_env"
# Named, not imported: the supervisor keeps no part of the application resident.
WORKER_HTTP = "cairn.server.http.rawbody:BodyProtocol"
# How long an idle keep-alive connection stays open (uvicorn's default is 5 s). It must
# outlast the clients' own pools: httpx, and so the SDK, reuses a connection idle for up to
# 5 s, and a request sent just as the server closes that connection fails with a reset.
# Proxies keep upstream connections up to 60 s (nginx, AWS load balancers); 75 s is nginx's
# own client-side default.
KEEP_ALIVE_S = 75


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The shared socket, with TCP_NODELAY set so every accepted connection inherits it.

    Workers receive the socket by file descriptor; asyncio then does not recognise it as TCP
    and leaves Nagle's algorithm on, which costs keep-alive clients ~40 ms per response.
    """
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def command(host: str, port: int, workers: int, access_log: bool) -> list[str]:
    """The arguments of `python -m cairn.server.supervisor` for these settings."""
    args = ["-m", __name__, "--host", host, "--port", str(port), "--workers", str(workers)]
    return [*args, "--access-log"] if access_log else args


def main(argv: Sequence[str] | None = None) -> None:
    """Serve with `--workers` processes until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m cairn.server.supervisor")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        WORKER_APP,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        http=WORKER_HTTP,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    Multiprocess(config, sockets=[listening_socket(config)]).run()


if __name__ == "__main__":
    main()
