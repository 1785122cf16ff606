"""Helpers for the organization admin pages' browser tests: CSRF, service accounts, API look-ups."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.web import world
from tests.web.world import Site


def csrf_token(page: Page) -> str:
    """The CSRF token of the page's session, read from one of its forms."""
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return token


def create_service_account(page: Page, site: Site, name: str) -> None:
    """Create a service account of `default` through its dialog and land on its keys page."""
    page.goto(f"{site.base}/org/default/service-accounts")
    page.get_by_text("Create service account", exact=True).first.click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create service account").last.click()
    page.wait_for_url(f"{site.base}/org/default/service-accounts/{name}")


def mint_key(page: Page, name: str) -> None:
    """Mint a key named `name` on the service account's page that is open."""
    page.get_by_label("Key name").fill(name)
    world.submit(page, page.get_by_role("button", name="Mint key"))


def org_members(site: Site, org: str = "default") -> dict[str, dict[str, Any]]:
    """The organization's members by username, as the API lists them."""
    resp = site.api("GET", f"/orgs/{org}/members")
    assert resp.status_code == 200, resp.text
    return {m["username"]: m for m in resp.json()}


def team_roles(site: Site, team: str, org: str = "default") -> dict[str, str]:
    """A team's members and their roles, as the API shows them."""
    resp = site.api("GET", f"/orgs/{org}/teams/{team}")
    assert resp.status_code == 200, resp.text
    return {m["username"]: m["role"] for m in resp.json()["members"]}


def audit(site: Site, **query: str) -> list[dict[str, Any]]:
    """The default organization's audit log through the API (newest first)."""
    resp = site.api("GET", "/orgs/default/audit", params=query)
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()
    return rows


def new_member(site: Site, prefix: str, role: str = "member") -> str:
    """A new user of `default` with world.PASSWORD; returns the username."""
    username = world.unique(prefix)
    world.new_user(site, username, role=role)
    return username
