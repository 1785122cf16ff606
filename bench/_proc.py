"""Shared by bench.transfers and bench.resolve: `cairn server` processes, RSS, machine facts."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

HOST = "127.0.0.1"
ADMIN_PASSWORD = "bench-admin-password-42"
CAIRN = str(Path(sys.executable).parent / "cairn")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
PR_SET_PDEATHSIG = 1
RESULTS = Path(__file__).resolve().parent / "results"


# -- machine -------------------------------------------------------------------------------


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def meminfo_kib(field: str) -> int | None:
    """A field of /proc/meminfo (``MemTotal``, ``MemAvailable``) in KiB; None where it cannot
    be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine() -> dict[str, Any]:
    """Facts about this machine that change the figures."""
    mem_kib = meminfo_kib("MemTotal") or 0
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "git_commit": _git_commit(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(name: str, data: dict[str, Any], out: Path | None = None) -> Path:
    """Write `data` to bench/results/<name>.json (or `out`)."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def install_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so that every `finally` (server stops) runs."""

    def _raise(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


# -- statistics ------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    """statistics.median, for a non-empty sequence."""
    return float(statistics.median(samples))


# -- processes and memory -------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (scans /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of one process, in KiB; empty when it is gone."""
    out: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


@dataclass(frozen=True)
class Memory:
    """RSS of a server and its workers: the sum now, the sum of peaks, and per process."""

    rss_mib: float
    hwm_mib: float
    processes: dict[int, dict[str, int]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rss_mib": self.rss_mib,
            "hwm_mib": self.hwm_mib,
            "processes": {str(k): v for k, v in self.processes.items()},
        }


def tree_memory(pid: int) -> Memory:
    """Memory of `pid` and its descendants."""
    per = {p: m for p in descendants(pid) if (m := memory_kib(p))}
    rss = sum(m.get("VmRSS", 0) for m in per.values()) / 1024
    hwm = sum(m.get("VmHWM", 0) for m in per.values()) / 1024
    return Memory(round(rss, 1), round(hwm, 1), per)


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds of the whole machine so far, all cores (``/proc/stat``): busy (user,
    system and interrupts, whatever process) and stolen: time the hypervisor gave this VM's
    cores to someone else while they had work."""

    busy: float
    stolen: float

    def __sub__(self, earlier: MachineCpu) -> MachineCpu:
        return MachineCpu(self.busy - earlier.busy, self.stolen - earlier.stolen)


def machine_cpu() -> MachineCpu:
    """The machine's CPU seconds so far; zeros where ``/proc/stat`` cannot be read."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return MachineCpu(0.0, 0.0)
    ticks = [int(v) for v in first[1:9]] + [0] * (9 - len(first))
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    hz = os.sysconf("SC_CLK_TCK")
    return MachineCpu((user + nice + system + irq + softirq) / hz, steal / hz)


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


LOG_TAIL_CHARS = 4000  # of a server's log, printed when a benchmark step fails


def _die_with_parent() -> None:
    """In the child: SIGTERM it if the benchmark dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class CairnServer:
    """A running `cairn server` (its own process group): URL, process, log file."""

    base_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    workers: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return descendants(self.proc.pid)

    def memory(self) -> Memory:
        return tree_memory(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it if it does not stop in time."""
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            self.proc.wait()


def _wait_ready(server: CairnServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {server.proc.returncode}:\n{server.log.read_text()}"
                )
            try:
                healthy = client.get("/api/v1/health").status_code == 200
                started = server.log.read_text().count("Application startup complete")
                if healthy and started >= server.workers:  # every worker is serving
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server not ready after {START_TIMEOUT_S:.0f}s:\n{server.log.read_text()}")


def server_env(database_url: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without CAIRN_* variables, plus the benchmark's server settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(CAIRN_ADMIN_PASSWORD=ADMIN_PASSWORD, CAIRN_ALLOWED_HOSTS=HOST, CAIRN_HOST=HOST)
    if database_url:
        env["CAIRN_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


@contextmanager
def _running(
    command: list[str], env: dict[str, str], log: Path, port: int, workers: int
) -> Iterator[CairnServer]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    server = CairnServer(f"http://{HOST}:{port}", proc, log, workers)
    try:
        _wait_ready(server)
        try:
            yield server
        except BaseException:
            # The log lives in the benchmark's temporary folder, removed on the way out.
            server.stop()
            tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
            print(f"--- end of the server's log ({log.name}) ---\n{tail}", file=sys.stderr)
            raise
    finally:
        server.stop()


@contextmanager
def cairn_server(
    data_dir: Path,
    *,
    workers: int = 1,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[CairnServer]:
    """`cairn server --workers N --data-dir D --port P` on 127.0.0.1, stopped afterwards."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [CAIRN, "server", "--port", str(port), "--data-dir", str(data_dir)]
    command += ["--workers", str(workers)]
    env = server_env(database_url, extra_env)
    with _running(command, env, data_dir / f"server-{port}.log", port, workers) as server:
        yield server


@contextmanager
def plain_uvicorn(
    data_dir: Path, *, workers: int, database_url: str | None = None, loop: str = "auto"
) -> Iterator[CairnServer]:
    """`uvicorn cairn.server.app:app_from_env --factory --workers N` (uvicorn's own socket
    handling, without `cairn server`'s), on a database prepared before."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "cairn.server.app:app_from_env", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers), "--loop", loop]
    extra = {"CAIRN_DATA_DIR": str(data_dir), "CAIRN_AUTO_MIGRATE": "false"}
    env = server_env(database_url, extra)
    with _running(command, env, data_dir / f"uvicorn-{port}.log", port, workers) as server:
        yield server


# -- raw HTTP setup --------------------------------------------------------------------------


def admin_key(base_url: str) -> str:
    """A new API key of the `admin` user (one password check)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD, "key_name": "bench"},
        timeout=60,
        trust_env=False,
    )
    response.raise_for_status()
    key: str = response.json()["key"]
    return key


def api_client(base_url: str, key: str, timeout: float = 120.0) -> httpx.Client:
    """A keep-alive client for /api/v1 that never uses proxies from the environment."""
    return httpx.Client(
        base_url=f"{base_url}/api/v1",
        headers={"Authorization": f"Bearer {key}"},
        trust_env=False,
        timeout=timeout,
    )


def expect(response: httpx.Response, *codes: int) -> httpx.Response:
    """`response` when its status is one of `codes`, else an error naming it."""
    if response.status_code not in codes:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:300]}"
        )
    return response


# -- PostgreSQL (the same discovery as tests/pg.py, without importing the tests) ----------
