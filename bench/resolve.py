"""Latency, throughput and RSS of `GET /api/v1/resolve` on a real `cairn server` (1, 2 workers)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import _pg, _proc
from bench._resolve_report import (
    TARGET_P50_MS,
    TARGET_RPS,
    TARGET_RSS_MIB,
    TARGET_WORKER_GAP_MS,
    print_report,
    run_line,
)

ORG = "default"
REGISTRY = "Models"
COLLECTION = "x"
COLD_COLLECTION = "cold"
PROJECT = ("admin", "bench")
HOT_REF = f"{REGISTRY}/{COLLECTION}:production"
SETUP_THREADS = 4
CONTROL_REQUESTS = 200
CONTROL_WRK_SECONDS = 5
HIDE_UVLOOP = 'raise ImportError("hidden by bench.resolve: use the asyncio event loop")\n'


# -- setup through the HTTP API ------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """What the measurements need: an API key and the refs of the cold versions."""

    key: str
    cold_refs: list[str]


def _log_version(client: httpx.Client, name: str, path: str, blob: bytes) -> str:
    sha = hashlib.sha256(blob).hexdigest()
    files = [{"path": path, "sha256": sha, "size": len(blob)}]
    entity, project = PROJECT
    response = client.post(
        f"/projects/{entity}/{project}/artifacts",
        json={"name": name, "type": "model", "files": files},
    )
    version: str = _proc.expect(response, 201, 200).json()["version"]
    return f"{entity}/{project}/{name}:{version}"


def _link(client: httpx.Client, collection: str, source: str, aliases: list[str]) -> str:
    response = client.post(
        f"/orgs/{ORG}/registries/{REGISTRY}/collections/{collection}/versions",
        json={"source": source, "aliases": aliases},
    )
    version: str = _proc.expect(response, 201, 200).json()["version"]
    return version


def build_fixture(base_url: str, cold: int) -> Fixture:
    """PUT a blob, POST versions, link `Models/x:v0` as `production` (and v1), plus `cold`
    more linked versions `Models/cold:v0..` for uncached resolutions; a dedicated API key."""
    login_key = _proc.admin_key(base_url)
    with _proc.api_client(base_url, login_key) as client:
        created = _proc.expect(client.post("/keys", json={"name": "resolve-bench"}), 201)
        key: str = created.json()["key"]
    blob = b"cairn resolve benchmark weights\n" * 64
    sha = hashlib.sha256(blob).hexdigest()
    with _proc.api_client(base_url, key) as client:
        _proc.expect(
            client.put(
                f"/blobs/{sha}",
                content=blob,
                headers={"Content-Type": "application/octet-stream"},
            ),
            201,
        )
        first = _log_version(client, COLLECTION, "model.bin", blob)
        second = _log_version(client, COLLECTION, "model-2.bin", blob)
        if _link(client, COLLECTION, first, ["production"]) != "v0":
            raise RuntimeError("expected Models/x:v0")
        _link(client, COLLECTION, second, [])

        def one_cold(i: int) -> str:
            source = _log_version(client, COLD_COLLECTION, f"w-{i:05d}.bin", blob)
            return f"{REGISTRY}/{COLD_COLLECTION}:{_link(client, COLD_COLLECTION, source, [])}"

        with ThreadPoolExecutor(SETUP_THREADS) as pool:
            cold_refs = list(pool.map(one_cold, range(cold)))
        check = client.get("/resolve", params={"ref": HOT_REF, "org": ORG})
        if _proc.expect(check, 200).json()["linked"]["version"] != "v0":
            raise RuntimeError(f"{HOT_REF} does not resolve to v0")
    return Fixture(key, cold_refs)


# -- Python asyncio + httpx single client --------------------------------------------------


async def _sequential(
    base_url: str, key: str, refs: Sequence[str], warmup: Sequence[str]
) -> list[float]:
    """Latency in ms of each resolution of `refs`, one at a time on one keep-alive connection."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    latencies = []
    async with httpx.AsyncClient(
        base_url=f"{base_url}/api/v1", headers=headers, limits=limits, trust_env=False
    ) as client:
        for ref in warmup:
            _proc.expect(await client.get("/resolve", params={"ref": ref, "org": ORG}), 200)
        for ref in refs:
            start = time.perf_counter()
            response = await client.get("/resolve", params={"ref": ref, "org": ORG})
            latencies.append((time.perf_counter() - start) * 1000)
            _proc.expect(response, 200)
    return latencies


def sequential(base_url: str, key: str, refs: Sequence[str], warmup: Sequence[str]) -> list[float]:
    return asyncio.run(_sequential(base_url, key, refs, warmup))


def blocking_sequential(base_url: str, key: str, count: int, warmup: int) -> list[float]:
    """Latency in ms of `count` hot resolutions with the standard library's blocking
    `http.client` on one keep-alive connection: a client that adds little of its own."""
    host, port = base_url.removeprefix("http://").split(":")
    target = "/api/v1/resolve?" + urlencode({"ref": HOT_REF, "org": ORG})
    headers = {"Authorization": f"Bearer {key}"}
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    latencies = []
    try:
        for i in range(warmup + count):
            start = time.perf_counter()
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            response.read()
            if i >= warmup:
                latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET {target} -> {response.status}")
    finally:
        connection.close()
    return latencies


def latency_summary(ms: Sequence[float]) -> dict[str, Any]:
    return {
        "requests": len(ms),
        "p50_ms": round(_proc.median(ms), 3),
        "p90_ms": round(_proc.percentile(ms, 90), 3),
        "p99_ms": round(_proc.percentile(ms, 99), 3),
        "max_ms": round(max(ms), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
    }


def alias_moves(base_url: str, key: str, rounds: int, per_round: int) -> dict[str, Any]:
    """Move `production` between v0 and v1 every `per_round` resolutions (each move invalidates
    every cached answer); latency of the first resolution after a move vs the others."""
    first: list[float] = []
    rest: list[float] = []
    with _proc.api_client(base_url, key) as client:
        for i in range(rounds):
            target = "v1" if i % 2 == 0 else "v0"
            url = f"/orgs/{ORG}/registries/{REGISTRY}/collections/{COLLECTION}/aliases/production"
            _proc.expect(client.put(url, json={"version": target}), 200)
            ms = sequential(base_url, key, [HOT_REF] * per_round, [])
            first.append(ms[0])
            rest.extend(ms[1:])
        _proc.expect(client.put(url, json={"version": "v0"}), 200)
    return {
        "moves": rounds,
        "requests_per_move": per_round,
        "first_after_move": latency_summary(first),
        "others": latency_summary(rest),
    }


# -- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read wrk time {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    """Requests/s, latency percentiles and errors from `wrk --latency` output."""
    result: dict[str, Any] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+\w+)", out)
    if not rps or not total:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    result["requests_per_s"] = float(rps.group(1))
    result["requests"] = int(total.group(1))
    for pct, value in re.findall(r"^\s*(50|75|90|99)%\s+([\d.]+[a-z]+)\s*$", out, re.M):
        result[f"p{pct}_ms"] = round(_ms(value), 3)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: (.*)", out)
    result["socket_errors"] = errors.group(1).strip() if errors else None
    return result


@dataclass
class RssSampler:
    """Polls the server tree's VmRSS while a load runs; keeps the largest total."""

    server: _proc.CairnServer
    interval_s: float = 0.25
    peak_mib: float = 0.0
    peak: _proc.Memory | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.interval_s):
                memory = self.server.memory()
                if memory.rss_mib > self.peak_mib:
                    self.peak_mib, self.peak = memory.rss_mib, memory

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def wrk(
    server: _proc.CairnServer, key: str, connections: int, threads: int, seconds: int
) -> dict[str, Any]:
    """`wrk -c{connections} -t{threads} -d{seconds}s --latency` on the hot ref, no Lua."""
    query = urlencode({"ref": HOT_REF, "org": ORG})
    url = f"{server.base_url}/api/v1/resolve?{query}"
    command = ["wrk", f"-c{connections}", f"-t{threads}", f"-d{seconds}s", "--latency"]
    command += ["-H", f"Authorization: Bearer {key}", url]
    sampler = RssSampler(server)
    cpu_before = _proc.cpu_seconds(server.pids())
    with sampler.running():
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    cpu = _proc.cpu_seconds(server.pids()) - cpu_before
    result = parse_wrk(done.stdout)
    result["output"] = done.stdout
    result["command"] = " ".join([*command[:-3], "-H", "'Authorization: Bearer …'", url])
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(result["requests"], 1), 3)
    result["server_cpu_cores"] = round(cpu / seconds, 2)
    result["rss_peak_mib"] = sampler.peak_mib
    result["rss_peak_processes"] = sampler.peak.as_dict()["processes"] if sampler.peak else {}
    if result["non_2xx"]:
        raise RuntimeError(f"wrk got error answers:\n{done.stdout}")
    if result["socket_errors"]:  # e.g. requests slower than wrk's 2 s timeout: a finding
        print(f"  note: wrk -c{connections}: socket errors {result['socket_errors']}", flush=True)
    return result


# -- one server ------------------------------------------------------------------------------


def measure_server(
    server: _proc.CairnServer, fixture: Fixture, cold_refs: Sequence[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Every measurement on one running server (fresh per-process caches)."""
    out: dict[str, Any] = {"workers": server.workers}
    out["rss_idle_mib"] = server.memory().rss_mib
    hot = [HOT_REF] * args.requests
    cpu_before = _proc.cpu_seconds(server.pids())
    ms = sequential(server.base_url, fixture.key, hot, [HOT_REF] * args.warmup)
    cpu = _proc.cpu_seconds(server.pids()) - cpu_before
    out["python_1_client"] = latency_summary(ms)
    out["python_1_client"]["server_cpu_ms_per_request"] = round(
        cpu * 1000 / (args.requests + args.warmup), 3
    )
    out["rss_after_warm_mib"] = server.memory().rss_mib
    out["blocking_1_client"] = latency_summary(
        blocking_sequential(server.base_url, fixture.key, args.requests, args.warmup)
    )
    out["wrk_1_client"] = wrk(server, fixture.key, 1, 1, args.single_seconds)
    out["wrk_16_clients"] = wrk(server, fixture.key, args.clients, 2, args.duration)
    out["rss_idle_after_load_mib"] = server.memory().rss_mib
    cold_ms = sequential(server.base_url, fixture.key, cold_refs, [HOT_REF] * 20)
    out["python_cold_distinct_refs"] = latency_summary(cold_ms)
    out["alias_moves"] = alias_moves(server.base_url, fixture.key, args.moves, 100)
    out["memory_end"] = server.memory().as_dict()
    return out


def keepalive_control(tmp: Path, data_dir: Path, url: str | None, key: str) -> list[dict[str, Any]]:
    """Single-client keep-alive latency where the pitfall can show: on the asyncio event loop
    (uvloop hidden), `cairn server` with 1 and 2 workers, and plain `uvicorn --workers 2`."""
    hidden = tmp / "no-uvloop"
    (hidden / "uvloop").mkdir(parents=True, exist_ok=True)
    (hidden / "uvloop" / "__init__.py").write_text(HIDE_UVLOOP)
    asyncio_env = {"PYTHONPATH": str(hidden)}
    rows: list[dict[str, Any]] = []
    configs: list[tuple[str, Any]] = [
        (
            "cairn server --workers 1, asyncio loop",
            lambda: _proc.cairn_server(
                data_dir, workers=1, database_url=url, extra_env=asyncio_env
            ),
        ),
        (
            "cairn server --workers 2, asyncio loop",
            lambda: _proc.cairn_server(
                data_dir, workers=2, database_url=url, extra_env=asyncio_env
            ),
        ),
        (
            "plain uvicorn --workers 2 --loop asyncio",
            lambda: _proc.plain_uvicorn(data_dir, workers=2, database_url=url, loop="asyncio"),
        ),
        (
            "plain uvicorn --workers 2 (uvloop)",
            lambda: _proc.plain_uvicorn(data_dir, workers=2, database_url=url, loop="auto"),
        ),
    ]
    for name, start in configs:
        with start() as server:
            ms = sequential(server.base_url, key, [HOT_REF] * CONTROL_REQUESTS, [HOT_REF] * 50)
            one = wrk(server, key, 1, 1, CONTROL_WRK_SECONDS)
            loop = "uvloop" if "uvloop" in server.log.read_text() else None
        rows.append(
            {"server": name, "python": latency_summary(ms), "wrk_1_client": one, "log_loop": loop}
        )
    return rows


@contextmanager
def backend_database(backend: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """The database URL for a backend (None: SQLite in the data dir) and facts about it."""
    if backend == "sqlite":
        import sqlite3

        yield None, {"sqlite": sqlite3.sqlite_version}
        return
    with _pg.admin_url() as admin, _pg.scratch_database(admin) as url:
        yield url, {"postgres": _pg.server_version(admin)}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "load_start": _proc.loadavg()}
    with (
        tempfile.TemporaryDirectory(prefix=f"cairn-bench-resolve-{backend}-") as tmp,
        backend_database(backend) as (url, facts),
    ):
        result["database"] = facts
        data_dir = Path(tmp) / "data"
        started = time.monotonic()
        with _proc.cairn_server(data_dir, workers=1, database_url=url) as server:
            fixture = build_fixture(server.base_url, args.cold)
        result["setup_seconds"] = round(time.monotonic() - started, 1)
        print(
            f"{backend}: fixture ready in {result['setup_seconds']} s "
            f"({len(fixture.cold_refs)} cold versions)",
            flush=True,
        )
        runs = []
        for workers in args.workers:
            with _proc.cairn_server(data_dir, workers=workers, database_url=url) as server:
                run = measure_server(server, fixture, fixture.cold_refs, args)
            runs.append(run)
            print(run_line(backend, run), flush=True)
        result["runs"] = runs
        if args.control:
            result["keepalive_control"] = keepalive_control(Path(tmp), data_dir, url, fixture.key)
            for row in result["keepalive_control"]:
                print(
                    f"{backend} control {row['server']}: python p50 {row['python']['p50_ms']:.2f}"
                    f" ms, wrk -c1 p50 {row['wrk_1_client']['p50_ms']:.2f} ms",
                    flush=True,
                )
    result["load_end"] = _proc.loadavg()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int, default=2000, help="timed single-client requests")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16, help="wrk connections")
    parser.add_argument("--duration", type=int, default=15, help="seconds of the wrk load")
    parser.add_argument("--single-seconds", type=int, default=10, help="seconds of wrk -c1")
    parser.add_argument("--cold", type=int, default=500, help="distinct refs per server")
    parser.add_argument("--moves", type=int, default=10, help="alias moves")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the keep-alive control runs on the asyncio loop",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON (bench/results/resolve.json)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)")
        return 2
    _proc.install_sigterm()
    started = time.monotonic()
    load_start = _proc.loadavg()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [run_backend(b, args) for b in backends]
    print_report(results)
    summary = {
        "benchmark": "resolve",
        "machine": _proc.machine(),
        "ref": HOT_REF,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "targets": {
            "p50_ms_below": TARGET_P50_MS,
            "requests_per_s_at_least": TARGET_RPS,
            "rss_mib_below": TARGET_RSS_MIB,
            "keepalive_p50_gap_workers_ms_below": TARGET_WORKER_GAP_MS,
        },
        "backends": results,
        "load_start": load_start,
        "load_end": _proc.loadavg(),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    path = _proc.write_json("resolve", summary, args.out)
    print(f"\nwrote {path} in {summary['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
