"""Client-test fixtures: an isolated config directory and SDK/CLI helpers on the in-process app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.client.cli._context import CliState
from tests.client.cli_support import Run, invoker

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every client test gets its own CAIRN_CONFIG_DIR and no CAIRN_* settings from outside."""
    for name in ("CAIRN_BASE_URL", "CAIRN_API_KEY", "CAIRN_ORG"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "cairn-config"
    monkeypatch.setenv("CAIRN_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def api(app_client: httpx.Client, admin_key: str) -> Iterator[cairn.Api]:
    """An SDK client of the in-process app, authenticated as the bootstrap admin."""
    with cairn.Api(client=app_client, api_key=admin_key) as client:
        yield client


@pytest.fixture
def cli_state(app_client: httpx.Client) -> Callable[[], CliState]:
    """Builds the ``obj`` that makes the CLI talk to the in-process app."""
    return lambda: CliState(client=app_client)


@pytest.fixture
def run(cli_state: Callable[[], CliState], admin_key: str) -> Run:
    """Invoke ``cairn ARGS`` as the admin on the in-process app (modules may define their own)."""
    return invoker(cli_state, "--api-key", admin_key)


def mock_client(handler: Handler, base_url: str = "http://cairn.test") -> httpx.Client:
    """An httpx client whose requests are answered by ``handler``."""
    return httpx.Client(transport=httpx.MockTransport(handler), base_url=base_url)


def error(status: int, code: str, message: str) -> httpx.Response:
    """A Cairn error answer."""
    return httpx.Response(status, json={"error": {"code": code, "message": message}})
