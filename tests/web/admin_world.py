"""Helpers for the organization admin pages' browser tests: sign-in, CSRF, API look-ups."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Dialog, Error, Page

from tests.web import world
from tests.web.world import Site


def sign_in_with(page: Page, site: Site, username: str, password: str) -> None:
    """Fill the sign-in form with any password (the caller checks where it lands)."""
    page.goto(f"{site.base}/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def csrf_token(page: Page) -> str:
    """The CSRF token of the page's session, read from one of its forms."""
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return token


def watch_for_script(page: Page) -> list[str]:
    """Dialogs opened and page errors raised on `page`; any dialog means injected script ran."""
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        seen.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_error(error: Error) -> None:
        seen.append(f"pageerror: {error}")

    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)
    return seen


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
