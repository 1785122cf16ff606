"""Real `cairn server` processes for tests that need one: start, wait, stop or kill."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

CAIRN = str(Path(sys.executable).parent / "cairn")
START_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def in_thread(app: Any, **options: Any) -> Iterator[int]:
    """``app`` served by uvicorn (``options`` as for ``uvicorn.Config``) in a thread of this
    process, on a free port of 127.0.0.1, which it yields; stopped on exit."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Server:
    """A running server process: its base URL, and what it printed (once stopped)."""

    base: str
    process: subprocess.Popen[str]
    output: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.output, _ = self.process.communicate(timeout=30)

    def stop(self) -> None:
        """A graceful stop (SIGTERM)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.output, _ = self.process.communicate(timeout=30)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            out, _ = server.process.communicate()
            raise AssertionError(f"server exited during start:\n{out}")
        try:
            if httpx.get(f"{server.base}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"server did not start within {START_TIMEOUT} s")


def start(
    data_dir: Path,
    env: dict[str, str] | None = None,
    workers: int = 1,
    file_size_limit: int | None = None,
) -> Server:
    """Start `cairn server` on a free port and wait until it answers.

    With `file_size_limit`, no file the server writes may grow past that many bytes (a disk
    that fills up): writes beyond it fail with EFBIG.
    """
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    full_env.update(env or {})
    command = [CAIRN, "server", "--port", str(port), "--data-dir", str(data_dir)]
    if workers > 1:
        command += ["--workers", str(workers)]

    def limit_files() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        preexec_fn=limit_files,
    )
    server = Server(f"http://127.0.0.1:{port}", process, env=full_env)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


@contextmanager
def running(
    data_dir: Path,
    env: dict[str, str] | None = None,
    workers: int = 1,
    file_size_limit: int | None = None,
) -> Iterator[Server]:
    """A server for the duration of a block."""
    server = start(data_dir, env, workers, file_size_limit)
    try:
        yield server
    finally:
        server.stop()
