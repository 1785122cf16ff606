"""Fixtures shared by the reliability tests: real server processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg, servers
from tests.reliability.client import PASSWORD


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[servers.Server]:
    """A two-worker server process on a fresh database of each backend."""
    env = {"CAIRN_ADMIN_PASSWORD": PASSWORD}
    if request.param == "sqlite":
        with servers.running(tmp_path / "data", env, workers=2) as running:
            yield running
        return
    with pg.admin_url() as admin, pg.scratch_database(admin) as url:
        env["CAIRN_DATABASE_URL"] = url
        with servers.running(tmp_path / "data", env, workers=2) as running:
            yield running
