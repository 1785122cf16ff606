"""Runs the Cairn app in a real uvicorn process on 127.0.0.1 and stops it afterwards."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Server:
    """A running server: where to reach it, and its process for CPU accounting."""

    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 of proc(5), `state`
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Server CPU milliseconds per request over a series: robust to other load on the machine."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.start = server.cpu_seconds()

    def per_request_ms(self, requests: int) -> float:
        used = self.server.cpu_seconds() - self.start
        return round(used * 1000 / max(requests, 1), 2)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """This process's environment without CAIRN_* variables, plus the server's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(
        CAIRN_DATABASE_URL=database_url,
        CAIRN_DATA_DIR=str(data_dir),
        CAIRN_ALLOWED_HOSTS=HOST,
        CAIRN_AUTO_MIGRATE="false",
    )
    return env


def _command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "cairn.server.app:app_from_env",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM if the benchmark process dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=base_url, trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if client.get("/api/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {START_TIMEOUT_S:.0f}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running(database_url: str, data_dir: Path) -> Iterator[Server]:
    """A single-worker uvicorn serving Cairn on `database_url`."""
    port = free_port()
    log = data_dir / f"server-{port}.log"
    env = server_env(database_url, data_dir)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _command(port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        base_url = f"http://{HOST}:{port}"
        _wait_ready(proc, base_url, log)
        yield Server(base_url, proc.pid)
    finally:
        _stop(proc)
