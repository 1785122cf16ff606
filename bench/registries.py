"""Benchmark: list, read and create registries through the real HTTP stack (SQLite, PostgreSQL)."""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The helpers beside this file are plain scripts, imported as top-level modules.
from bench import _dataset as ds
from bench import _explain, _http, _pg, _report, _scaling, _server, _setup, _stats

ORG = _setup.ORG
LIST_CALLERS = (ds.MEMBER, ds.VIEWER, ds.LONER, ds.ADMIN)
WARMUP = 5


@dataclass(frozen=True)
class Config:
    """What to build and how much to measure."""

    registries: int
    small: int
    shape: _setup.Shape
    per_page: int
    walks: int
    first_page_samples: int
    get_samples: int
    creates: int
    clients: int


def _first_pages(server: _server.Server, bench: _setup.Bench, cfg: Config) -> dict[str, Any]:
    """First-page latencies of bench-member, and the server's CPU per request."""
    with _http.client(server.base_url, bench.keys[ds.MEMBER]) as c:
        _http.first_pages(c, ORG, cfg.per_page, WARMUP)
        meter = _server.CpuMeter(server)
        times = _http.first_pages(c, ORG, cfg.per_page, cfg.first_page_samples)
    return {**asdict(_stats.summarize(times)), "server_cpu_ms": meter.per_request_ms(len(times))}


def _listing(
    server: _server.Server, bench: _setup.Bench, cfg: Config, caller: str
) -> tuple[dict[str, Any], _http.Walk]:
    """Walk every page `cfg.walks` times; the summary and the first walk."""
    with _http.client(server.base_url, bench.keys[caller]) as c:
        _http.first_pages(c, ORG, cfg.per_page, WARMUP)
        meter = _server.CpuMeter(server)
        walks = [_http.walk(c, ORG, cfg.per_page) for _ in range(cfg.walks)]
    pages = [t for w in walks for t in w.latencies]
    summary = {
        "org_role": bench.people.roles[bench.people.ids[caller]].value,
        "visible": len(walks[0].names),
        "pages": len(walks[0].latencies),
        "page": asdict(_stats.summarize(pages)),
        "server_cpu_ms": meter.per_request_ms(len(pages)),
        "walk_seconds": [round(w.seconds, 3) for w in walks],
    }
    return summary, walks[0]


def _reads(server: _server.Server, bench: _setup.Bench, cfg: Config, names: list[str]) -> Any:
    """GET registry for random names bench-member can see."""
    with _http.client(server.base_url, bench.keys[ds.MEMBER]) as c:
        meter = _server.CpuMeter(server)
        times = _http.reads(c, ORG, names, cfg.get_samples, cfg.shape.seed)
    return {**asdict(_stats.summarize(times)), "server_cpu_ms": meter.per_request_ms(len(times))}


def _create_series(
    server: _server.Server, bench: _setup.Bench, label: str, who: list[str], count: int
) -> dict[str, Any]:
    clients = [_http.client(server.base_url, bench.keys[w]) for w in who]
    try:
        for c in clients:
            _http.first_pages(c, ORG, 1, 1)
        _report.progress(f"main: {count} creates, {len(clients)} client(s)")
        meter = _server.CpuMeter(server)
        result = _http.creates(clients, ORG, [f"Bench {label} {i:05d}" for i in range(count)])
    finally:
        for c in clients:
            c.close()
    return {
        "clients": result.clients,
        "count": len(result.latencies),
        "seconds": round(result.seconds, 3),
        "per_second": round(result.per_second, 1),
        "latency": asdict(_stats.summarize(result.latencies)),
        "server_cpu_ms": meter.per_request_ms(len(result.latencies)),
    }


def _creates(server: _server.Server, bench: _setup.Bench, cfg: Config) -> dict[str, Any]:
    """Registries created by one client in sequence, then by `cfg.clients` at once."""
    writers = list(ds.WRITERS[: cfg.clients])
    return {
        "sequential": _create_series(server, bench, "sequential", [ds.MEMBER], cfg.creates),
        "concurrent": _create_series(server, bench, "concurrent", writers, cfg.creates),
    }


def _plans(bench: _setup.Bench, walk: _http.Walk, cfg: Config) -> list[dict[str, Any]]:
    state = bench.state
    middle = walk.cursors[len(walk.cursors) // 2] if walk.cursors else None
    wanted = [
        ("listing, bench-member, first page", ds.MEMBER, None),
        ("listing, bench-member, middle page (cursor)", ds.MEMBER, middle),
        ("listing, bench-admin (org admin), first page", ds.ADMIN, None),
    ]
    plans = []
    for title, who, cursor in wanted:
        sql, params = _explain.listing_sql(state, who, ORG, cfg.per_page, cursor)
        plans.append(_explain.explain(state.engine, title, sql, params))
    sql, params = _explain.role_sql(state, ds.MEMBER, ORG, walk.names[len(walk.names) // 2])
    plans.append(_explain.explain(state.engine, "GET registry: effective role", sql, params))
    return [asdict(p) for p in plans]


def _measure_main(server: _server.Server, bench: _setup.Bench, cfg: Config) -> dict[str, Any]:
    listing, walks = {}, {}
    for who in LIST_CALLERS:
        _report.progress(f"main: walking every page as {who} ({cfg.walks} times)")
        listing[who], walks[who] = _listing(server, bench, cfg, who)
    names = walks[ds.MEMBER].names
    _report.progress(f"main: {cfg.first_page_samples} first pages, {cfg.get_samples} GETs")
    first = _first_pages(server, bench, cfg)
    gets = _reads(server, bench, cfg, names)
    _report.progress("main: EXPLAIN of the listing and role queries")
    plans = _plans(bench, walks[ds.MEMBER], cfg)
    return {
        "per_page": cfg.per_page,
        "listing": listing,
        "first_page": first,
        "get": gets,
        "explain": plans,
        "create": _creates(server, bench, cfg),
    }


def run_main(cfg: Config, admin_url: str | None, tmp: Path) -> dict[str, Any]:
    """Listing walks, first pages, GETs, plans and creates on the full dataset."""
    with _setup.database(admin_url, tmp) as url:
        _report.progress(f"main: building {cfg.registries:,} registries")
        bench = _setup.build(url, tmp, cfg.shape, cfg.registries)
        try:
            with bench.state.engine.connect() as conn:
                dataset: dict[str, Any] = ds.counts(conn)
            dataset["populate_seconds"] = round(bench.populate_seconds, 2)
            _report.progress(f"main: populated in {bench.populate_seconds:.1f} s; starting server")
            with _server.running(url, tmp) as server:
                measured = _measure_main(server, bench, cfg)
        finally:
            bench.state.engine.dispose()
    return {"dataset": dataset, **measured}


def run_backend(backend: str, cfg: Config) -> dict[str, Any]:
    """Every measurement on one backend, each on a fresh database."""
    with (
        tempfile.TemporaryDirectory(prefix=f"cairn-bench-{backend}-") as folder,
        _setup.postgres_admin(backend) as admin_url,
    ):
        tmp = Path(folder)
        version = (
            f"PostgreSQL {_pg.server_version(admin_url)}"
            if admin_url
            else f"SQLite {sqlite3.sqlite_version}"
        )
        params = _scaling.Params(
            cfg.shape, cfg.small, cfg.registries - cfg.small, cfg.per_page, cfg.first_page_samples
        )
        scaling = _scaling.run(params, admin_url, tmp)
        main = run_main(cfg, admin_url, tmp)
    return {
        "backend": backend,
        "version": version,
        **main,
        "scaling": scaling,
        "load_average_after": _stats.load_average(),
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.registries", description=__doc__)
    add = p.add_argument
    add("--backend", choices=("sqlite", "postgres", "both"), default="both")
    add("--registries", type=int, default=10_000, help="registries in the main database")
    add("--small", type=int, default=1_000, help="registries before hidden ones are added")
    add("--users", type=int, default=1_000, help="users in the organization")
    add("--teams", type=int, default=50, help="teams in the organization")
    add("--per-page", type=int, default=100, help="page size of every listing request")
    add("--walks", type=int, default=2, help="full listing walks per caller")
    add("--first-page-samples", type=int, default=150, help="first-page requests per series")
    add("--get-samples", type=int, default=500, help="GET registry requests")
    add("--creates", type=int, default=300, help="registries created per series")
    add("--clients", type=int, default=4, help="concurrent clients creating registries")
    add("--seed", type=int, default=1, help="seed of the generated organization")
    add("--out", type=Path, default=Path("bench/results/registries.json"), help="JSON results")
    return p


def _config(args: argparse.Namespace) -> Config:
    if args.users < 2 * len(ds.SPECIAL_ROLES) or args.teams < 3:
        raise SystemExit("need at least 16 users and 3 teams")
    if not 0 < args.small < args.registries:
        raise SystemExit("--small must be between 1 and --registries")
    if not 1 <= args.clients <= len(ds.WRITERS):
        raise SystemExit(f"--clients must be between 1 and {len(ds.WRITERS)}")
    return Config(
        registries=args.registries,
        small=args.small,
        shape=_setup.Shape(args.users, args.teams, args.seed),
        per_page=args.per_page,
        walks=args.walks,
        first_page_samples=args.first_page_samples,
        get_samples=args.get_samples,
        creates=args.creates,
        clients=args.clients,
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the `with` blocks: servers stop, databases drop


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print tables, write the JSON results."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = _parser().parse_args(argv)
    cfg = _config(args)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results: dict[str, Any] = {"machine": _stats.machine(), "config": asdict(cfg), "backends": {}}
    for backend in backends:
        _report.progress(f"{backend}: start")
        results["backends"][backend] = run_backend(backend, cfg)
        _report.print_backend(backend, results["backends"][backend])
    results["duration_seconds"] = round(_report.elapsed(), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    _report.progress(f"wrote {args.out}")


if __name__ == "__main__":
    main()
