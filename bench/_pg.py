"""PostgreSQL for the benchmarks: the test suite's finder (local server or embedded), reused."""

from __future__ import annotations

import psycopg
from tests.pg import admin_url, scratch_database

__all__ = ["admin_url", "scratch_database", "server_version"]


def server_version(url: str) -> str:
    """The PostgreSQL server's version string."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"
