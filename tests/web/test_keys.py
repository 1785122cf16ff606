"""The API keys page in a real browser: create (shown once), list, revoke."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site


def test_create_use_and_revoke_a_key(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    username = world.unique("keyholder")
    world.new_user(site, username)
    page = new_page()
    world.sign_in(page, site, username)
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(f"{site.base}/keys")
    page.get_by_label("Name", exact=True).fill("laptop")
    world.submit(page, page.get_by_role("button", name="Create key"))
    key = page.locator("#new-key").inner_text()
    assert key.startswith("cairn_")
    expect(page.locator('tr[data-key="laptop"]')).to_be_visible()
    shoot(page, "keys")
    viewer = httpx.get(f"{site.base}/api/v1/viewer", headers={"Authorization": f"Bearer {key}"})
    assert viewer.status_code == 200
    assert viewer.json()["username"] == username

    page.goto(f"{site.base}/keys")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once
    assert key not in page.content()
    world.submit(page, page.get_by_role("button", name="Revoke laptop"))
    expect(page.locator('tr[data-key="laptop"]')).to_have_count(0)
    revoked = httpx.get(f"{site.base}/api/v1/viewer", headers={"Authorization": f"Bearer {key}"})
    assert revoked.status_code == 401

    # An API key never opens a web session.
    page.context.clear_cookies()
    page.context.set_extra_http_headers({"Authorization": f"Bearer {site.admin_key}"})
    page.goto(f"{site.base}/registry")
    assert page.url.startswith(f"{site.base}/login")
