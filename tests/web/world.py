"""Seeding the web tests' server through its API and SDK, and signing in through the form."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page

import cairn
from tests.conftest import ADMIN_PASSWORD

PASSWORD = "web-tests-password-1"


@dataclass(frozen=True)
class Site:
    """The server under test: its base URL and an API key of the superuser `admin`."""

    base: str
    admin_key: str

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        """One API call as `admin`."""
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return httpx.request(method, f"{self.base}/api/v1{path}", headers=headers, **kw)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{secrets.token_hex(3)}"


def new_user(site: Site, username: str, *, role: str = "member") -> str:
    """A user of `default` with PASSWORD and an email; returns the email."""
    email = f"{username}@example.com"
    resp = site.api(
        "POST",
        "/orgs/default/users",
        json={"username": username, "email": email, "password": PASSWORD, "role": role},
    )
    assert resp.status_code == 201, resp.text
    return email


def sign_in(page: Page, site: Site, username: str) -> None:
    """Sign in through the form (as `admin` or a user made by new_user) and land on the home."""
    page.goto(f"{site.base}/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(ADMIN_PASSWORD if username == "admin" else PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.base}/registry")


def submit(page: Page, button: Locator) -> None:
    """Click a form's button and wait until the server has answered its POST.

    Pages are boosted by htmx, so a submit is not a navigation Playwright would wait for.
    """
    with page.expect_response(lambda r: r.request.method == "POST"):
        button.click()


def link_versions(site: Site, registry: str, collection: str, folder: Path, count: int) -> None:
    """Log `count` versions of a model as `admin` and link each into registry/collection."""
    with cairn.Api(base_url=site.base, api_key=site.admin_key, organization="default") as api:
        for i in range(count):
            path = folder / f"weights-{i}.bin"
            path.write_bytes(f"weights {i} ".encode() * 100)
            art = cairn.Artifact("classifier", type="model", metadata={"f1": 0.8 + i / 100})
            art.add_file(path, name="model.bin")
            logged = api.log_artifact(art, project="admin/web-tests", progress=False)
            logged.link(f"default/{registry}/{collection}")
