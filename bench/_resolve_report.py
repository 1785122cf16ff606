"""What bench.resolve prints: a line per measured server, then the tables and the targets."""

from __future__ import annotations

from typing import Any

TARGET_P50_MS = 5.0
TARGET_RPS = 1000.0
TARGET_RSS_MIB = 300.0
TARGET_WORKER_GAP_MS = 5.0


def run_line(backend: str, r: dict[str, Any]) -> str:
    """The progress line printed once one server of ``backend`` has been measured."""
    py, w1, w16 = r["python_1_client"], r["wrk_1_client"], r["wrk_16_clients"]
    raw = r["blocking_1_client"]
    return (
        f"{backend} workers={r['workers']}: python p50 {py['p50_ms']:.2f} "
        f"p99 {py['p99_ms']:.2f} ms; http.client p50 {raw['p50_ms']:.2f} "
        f"p99 {raw['p99_ms']:.2f} ms; wrk -c1 p50 {w1['p50_ms']:.2f} ms; "
        f"wrk -c16 {w16['requests_per_s']:.0f} req/s "
        f"p50 {w16['p50_ms']:.1f} p99 {w16['p99_ms']:.1f} ms; cold p50 "
        f"{r['python_cold_distinct_refs']['p50_ms']:.2f} ms; RSS idle {r['rss_idle_mib']:.0f} "
        f"load {w16['rss_peak_mib']:.0f} MiB"
    )


def _ok(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def print_report(results: list[dict[str, Any]]) -> None:
    print()
    header = (
        f"{'backend':9}{'workers':>8}{'py p50':>9}{'py p99':>9}{'wrk1 p50':>10}{'wrk1 p99':>10}"
        f"{'raw p50':>9}{'raw p99':>9}{'16c req/s':>11}{'16c p50':>9}{'16c p99':>9}"
        f"{'cpu/req':>9}{'cold p50':>10}{'cold p99':>10}{'RSS idle':>10}{'RSS load':>10}"
    )
    print("GET /api/v1/resolve?ref=Models/x:production (latencies ms, RSS MiB of server tree;")
    print("py: httpx asyncio client, raw: blocking http.client, both one keep-alive connection)")
    print(header)
    for backend in results:
        for r in backend["runs"]:
            py, w1, w16 = r["python_1_client"], r["wrk_1_client"], r["wrk_16_clients"]
            cold, raw = r["python_cold_distinct_refs"], r["blocking_1_client"]
            print(
                f"{backend['backend']:9}{r['workers']:>8}{py['p50_ms']:>9.2f}{py['p99_ms']:>9.2f}"
                f"{w1['p50_ms']:>10.2f}{w1['p99_ms']:>10.2f}{raw['p50_ms']:>9.2f}"
                f"{raw['p99_ms']:>9.2f}{w16['requests_per_s']:>11.0f}"
                f"{w16['p50_ms']:>9.2f}{w16['p99_ms']:>9.2f}"
                f"{w16['server_cpu_ms_per_request']:>9.2f}{cold['p50_ms']:>10.2f}"
                f"{cold['p99_ms']:>10.2f}{r['rss_idle_mib']:>10.0f}{w16['rss_peak_mib']:>10.0f}"
            )
    print()
    print("RSS per process at the load peak (MiB; with 2 workers: supervisor, workers, helper):")
    for backend in results:
        for r in backend["runs"]:
            w16 = r["wrk_16_clients"]
            parts = [v["VmRSS"] / 1024 for v in w16["rss_peak_processes"].values()]
            errors = f"; wrk socket errors: {w16['socket_errors']}" if w16["socket_errors"] else ""
            print(
                f"  {backend['backend']} workers={r['workers']}: "
                + " + ".join(f"{p:.0f}" for p in parts)
                + errors
            )
    print()
    print("After an alias move (every cached answer invalid), python single client, ms:")
    for backend in results:
        for r in backend["runs"]:
            moves = r["alias_moves"]
            print(
                f"  {backend['backend']} workers={r['workers']}: first after move p50 "
                f"{moves['first_after_move']['p50_ms']:.2f} max "
                f"{moves['first_after_move']['max_ms']:.2f}; others p50 "
                f"{moves['others']['p50_ms']:.2f}"
            )
    print()
    for backend in results:
        print(
            f"load average (1, 5, 15 min) during {backend['backend']}: "
            f"{backend['load_start']} -> {backend['load_end']}"
        )
    print()
    print("Targets:")
    for backend in results:
        runs = {r["workers"]: r for r in backend["runs"]}
        for workers, r in runs.items():
            p50 = r["python_1_client"]["p50_ms"]
            rps = r["wrk_16_clients"]["requests_per_s"]
            rss = max(r["rss_idle_mib"], r["wrk_16_clients"]["rss_peak_mib"])
            print(
                f"  {backend['backend']} workers={workers}: p50 {p50:.2f} ms < {TARGET_P50_MS} "
                f"{_ok(p50 < TARGET_P50_MS)}; {rps:.0f} req/s >= {TARGET_RPS:.0f} "
                f"{_ok(rps >= TARGET_RPS)}; RSS {rss:.0f} MiB < {TARGET_RSS_MIB:.0f} "
                f"{_ok(rss < TARGET_RSS_MIB)}"
            )
        if 1 in runs and 2 in runs:
            gap_py = runs[2]["python_1_client"]["p50_ms"] - runs[1]["python_1_client"]["p50_ms"]
            gap_wrk = runs[2]["wrk_1_client"]["p50_ms"] - runs[1]["wrk_1_client"]["p50_ms"]
            close = max(abs(gap_py), abs(gap_wrk)) < TARGET_WORKER_GAP_MS
            print(
                f"  {backend['backend']} keep-alive p50, 2 workers - 1 worker: python "
                f"{gap_py:+.2f} ms, wrk {gap_wrk:+.2f} ms (|gap| < {TARGET_WORKER_GAP_MS} ms: "
                f"{_ok(close)})"
            )
