"""Progress lines and the human-readable tables the benchmark prints."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

START = time.perf_counter()


def elapsed() -> float:
    """Seconds since the benchmark started."""
    return time.perf_counter() - START


def progress(message: str) -> None:
    """One timestamped progress line, flushed at once."""
    print(f"[{elapsed():6.1f}s] {message}", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(parts))
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _latency_rows(rows: dict[str, dict[str, Any]]) -> list[list[object]]:
    return [
        [name, s["n"], *(_ms(s[k]) for k in ("p50_ms", "p99_ms", "max_ms", "server_cpu_ms"))]
        for name, s in rows.items()
    ]


def _dataset(backend: str, result: dict[str, Any]) -> None:
    d = result["dataset"]
    print(
        f"\n=== {backend} {result['version']}: {d['registries']:,} registries "
        f"({d['restricted']:,} restricted), {d['users']:,} users, {d['teams']} teams, "
        f"{d['registry_members']:,} registry members; populated in {d['populate_seconds']:.1f} s"
    )
    print(f"  load average after the run: {result['load_average_after']}")


def _listing(result: dict[str, Any]) -> None:
    rows = [
        [
            name,
            r["org_role"],
            f"{r['visible']:,}",
            r["pages"],
            r["page"]["n"],
            _ms(r["page"]["p50_ms"]),
            _ms(r["page"]["p99_ms"]),
            _ms(r["server_cpu_ms"]),
            f"{min(r['walk_seconds']):.2f} s",
        ]
        for name, r in result["listing"].items()
    ]
    headers = ["caller", "org role", "visible", "pages", "samples", "page p50", "page p99"]
    print(f"\nListing, per_page={result['per_page']}, every page via next_cursor:")
    print(table([*headers, "server CPU", "best walk"], rows))


def _requests(result: dict[str, Any]) -> None:
    print("\nSingle requests:")
    rows = {
        "first page (bench-member)": result["first_page"],
        "GET registry (random visible)": result["get"],
    }
    print(table(["request", "n", "p50", "p99", "max", "server CPU"], _latency_rows(rows)))
    print("\nCreate registry:")
    create_rows = [
        [
            f"{c['clients']} client(s)",
            c["count"],
            f"{c['seconds']:.2f} s",
            f"{c['per_second']:.1f}/s",
            _ms(c["latency"]["p50_ms"]),
            _ms(c["latency"]["p99_ms"]),
            _ms(c["server_cpu_ms"]),
        ]
        for c in result["create"].values()
    ]
    headers = ["clients", "creates", "wall", "throughput", "p50", "p99", "server CPU"]
    print(table(headers, create_rows))


def _scaling(result: dict[str, Any]) -> None:
    """First-page latency before and after adding registries the callers cannot see."""
    s = result["scaling"]
    print(
        f"\nFirst page, {s['small_registries']:,} registries vs the same plus hidden restricted "
        f"ones ({s['large_registries']:,}); two servers, requests interleaved:"
    )
    rows = [
        [
            name,
            f"{r['visible_small']:,} / {r['visible_large']:,}",
            f"{_ms(r['small']['p50_ms'])} / {_ms(r['small']['p99_ms'])}",
            f"{_ms(r['large']['p50_ms'])} / {_ms(r['large']['p99_ms'])}",
            f"{r['ratio_p50']:.2f}",
            f"{r['ratio_p99']:.2f}",
            f"{_ms(r['server_cpu_ms_small'])} / {_ms(r['server_cpu_ms_large'])}",
        ]
        for name, r in s["callers"].items()
    ]
    headers = ["caller", "visible", "small p50/p99", "large p50/p99", "ratio p50", "ratio p99"]
    headers.append("server CPU small / large")
    print(table(headers, rows))
    for label, (small_ms, large_ms) in (
        ("median", s["member_sql_ms"]),
        ("best", s["member_sql_min_ms"]),
    ):
        print(
            f"  bench-member's page query alone, in-process, {label} of 50: {_ms(small_ms)} → "
            f"{_ms(large_ms)} (x{large_ms / small_ms:.2f})"
        )


def _plans(plans: list[dict[str, Any]]) -> None:
    for plan in plans:
        timing = f"{_ms(plan['sql_ms'])} median, {_ms(plan['sql_min_ms'])} best"
        print(f"\n-- plan: {plan['title']} (the SQL alone: {timing})")
        print("\n".join(f"   {line}" for line in plan["plan"]))


def print_backend(backend: str, result: dict[str, Any]) -> None:
    """Everything measured on one backend, as tables (server CPU: milliseconds per request)."""
    _dataset(backend, result)
    _listing(result)
    _requests(result)
    _scaling(result)
    _plans(result["scaling"]["explain"] + result["explain"])
