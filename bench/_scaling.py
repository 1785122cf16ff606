"""Does listing cost grow with registries the caller cannot see? Two servers, A/B interleaved."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import _dataset as ds
from bench import _explain, _http, _report, _server, _setup, _stats

CALLERS = (ds.MEMBER, ds.VIEWER, ds.LONER)
WARMUP = 5


@dataclass(frozen=True)
class Params:
    """Two databases built alike; the large one gets `hidden` extra registries."""

    shape: _setup.Shape
    small: int
    hidden: int
    per_page: int
    samples: int


def _interleaved(
    small: httpx.Client, large: httpx.Client, p: Params
) -> tuple[list[float], list[float]]:
    """First-page latencies on both servers, taking turns, so background load hits both alike."""
    url, params = _http.registries_url(_setup.ORG), {"per_page": p.per_page}
    for c in (small, large):
        for _ in range(WARMUP):
            _http.timed(c, "GET", url, 200, params=params)
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(p.samples):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for side in order:
            c = (small, large)[side]
            times[side].append(_http.timed(c, "GET", url, 200, params=params)[0])
    return times


def _caller(
    servers: tuple[_server.Server, _server.Server],
    benches: tuple[_setup.Bench, _setup.Bench],
    who: str,
    p: Params,
) -> dict[str, Any]:
    with (
        _http.client(servers[0].base_url, benches[0].keys[who]) as small,
        _http.client(servers[1].base_url, benches[1].keys[who]) as large,
    ):
        visible = [len(_http.walk(c, _setup.ORG, p.per_page).names) for c in (small, large)]
        meters = [_server.CpuMeter(s) for s in servers]
        a, b = _interleaved(small, large, p)
    n = p.samples + WARMUP
    cpu = [m.per_request_ms(n) for m in meters]
    s_small, s_large = _stats.summarize(a), _stats.summarize(b)
    return {
        "visible_small": visible[0],
        "visible_large": visible[1],
        "small": asdict(s_small),
        "large": asdict(s_large),
        "ratio_p50": round(s_large.p50_ms / s_small.p50_ms, 2),
        "ratio_p99": round(s_large.p99_ms / s_small.p99_ms, 2),
        "server_cpu_ms_small": cpu[0],
        "server_cpu_ms_large": cpu[1],
    }


def _plan(bench: _setup.Bench, p: Params, total: int) -> dict[str, Any]:
    sql, params = _explain.listing_sql(bench.state, ds.MEMBER, _setup.ORG, p.per_page, None)
    title = f"listing, bench-member, first page, scaling database of {total:,} registries"
    return asdict(_explain.explain(bench.state.engine, title, sql, params))


def _count(bench: _setup.Bench) -> int:
    with bench.state.engine.connect() as conn:
        return ds.counts(conn)["registries"]


def run(p: Params, admin_url: str | None, tmp: Path) -> dict[str, Any]:
    """Build both databases, serve each from its own process, compare first pages."""
    with ExitStack() as stack:
        benches = []
        for label in ("small", "large"):
            url = stack.enter_context(_setup.database(admin_url, tmp))
            _report.progress(f"scaling: building the {label} database")
            bench = _setup.build(url, tmp, p.shape, p.small)
            stack.callback(bench.state.engine.dispose)
            benches.append(bench)
        _setup.add_hidden(benches[1], p.hidden, p.shape.seed)
        totals = [_count(b) for b in benches]
        plans = [_plan(b, p, n) for b, n in zip(benches, totals, strict=True)]
        servers = [stack.enter_context(_server.running(b.url, tmp)) for b in benches]
        callers = {}
        for who in CALLERS:
            _report.progress(f"scaling: {p.samples} interleaved first pages as {who}")
            callers[who] = _caller((servers[0], servers[1]), (benches[0], benches[1]), who, p)
    return {
        "small_registries": totals[0],
        "large_registries": totals[1],
        "callers": callers,
        "member_sql_ms": [plan["sql_ms"] for plan in plans],
        "member_sql_min_ms": [plan["sql_min_ms"] for plan in plans],
        "explain": plans,
    }
