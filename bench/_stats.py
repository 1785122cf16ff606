"""Latency summaries (median, nearest-rank p99) and a description of this machine."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import cairn.server
from bench._proc import meminfo_kib

LIBRARIES = ("fastapi", "uvicorn", "sqlalchemy", "psycopg", "httpx", "pydantic")


@dataclass(frozen=True)
class Summary:
    """A latency distribution in milliseconds."""

    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarize(seconds: Sequence[float]) -> Summary:
    """Median, p99, mean and range of durations given in seconds, reported in ms."""
    if not seconds:
        raise ValueError("no samples to summarize")
    ms = sorted(s * 1000 for s in seconds)
    return Summary(
        n=len(ms),
        p50_ms=round(statistics.median(ms), 2),
        p99_ms=round(percentile(ms, 0.99), 2),
        mean_ms=round(statistics.fmean(ms), 2),
        min_ms=round(ms[0], 2),
        max_ms=round(ms[-1], 2),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    kib = meminfo_kib("MemTotal")
    return None if kib is None else round(kib / 1024 / 1024, 1)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the figures."""
    return [round(x, 2) for x in os.getloadavg()]


def _git(*args: str) -> str:
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def code_under_test() -> dict[str, str | bool]:
    """Where `cairn.server` is imported from, this checkout's commit, and whether src/ differs."""
    return {
        "cairn_server": str(Path(cairn.server.__file__).parent),
        "git_head": _git("rev-parse", "--short", "HEAD"),
        "src_modified": bool(_git("status", "--porcelain", "--", "src")),
    }


def machine() -> dict[str, object]:
    """CPU, memory, OS, Python and library versions of the machine running the benchmark."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "load_average_at_start": load_average(),
        "code": code_under_test(),
    }
