"""Browser fixtures: one real `cairn server` and one headless Chromium (Debian's) per session."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests import servers
from tests.conftest import ADMIN_PASSWORD
from tests.web import world

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[world.Site]:
    """A real server process with the admin's password set, and an API key for seeding."""
    data = tmp_path_factory.mktemp("web-server")
    with servers.running(data, env={"CAIRN_ADMIN_PASSWORD": ADMIN_PASSWORD}) as server:
        resp = httpx.post(
            f"{server.base}/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD, "key_name": "web-tests"},
        )
        resp.raise_for_status()
        yield world.Site(server.base, resp.json()["key"])


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Headless Debian Chromium (installed by scripts/ensure-chromium.sh when missing).

    Playwright gives every launch a fresh temporary user-data-dir and deletes it afterwards.
    """
    if not CHROMIUM.exists():
        subprocess.run([str(ROOT / "scripts" / "ensure-chromium.sh")], check=True)
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


NewPage = Callable[[], Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """new_page() → a page in a fresh context (its own cookies): one per signed-in user."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shoot(page: Page, name: str) -> None:
    """Save a full-page screenshot under test-output/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
