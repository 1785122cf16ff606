"""Web security in a real browser: cookies, session rotation, CSRF, headers, redirects, limits."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from playwright.sync_api import Page, Response, expect

from tests.conftest import ADMIN_PASSWORD
from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site

EVIL = "http://evil.test"


def session_cookie(page: Page) -> dict[str, object]:
    cookies = [c for c in page.context.cookies() if c["name"] == "cairn_session"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


def visibility_of(site: Site, name: str) -> str:
    resp = site.api("GET", f"/orgs/default/registries/{name}")
    assert resp.status_code == 200, resp.text
    visibility: str = resp.json()["visibility"]
    return visibility


def test_session_cookie_is_hardened_rotated_and_ended(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    page = new_page()
    page.goto(f"{site.base}/login")
    shoot(page, "login")
    world.sign_in(page, site, "admin")
    first = session_cookie(page)
    assert first["httpOnly"] is True
    assert first["sameSite"] == "Lax"
    assert first["secure"] is False  # plain HTTP here; tests/web/test_session_unit.py: HTTPS
    assert page.evaluate("document.cookie") == "", "scripts cannot read the session"

    world.sign_in(page, site, "admin")  # signing in again rotates the session id
    second = session_cookie(page)
    assert second["value"] != first["value"]
    stale = httpx.get(
        f"{site.base}/registry", cookies={"cairn_session": str(first["value"])}
    )  # the old id is gone
    assert stale.status_code == 303
    assert stale.headers["location"].startswith("/login")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{site.base}/login")
    assert [c for c in page.context.cookies() if c["name"] == "cairn_session"] == []
    ended = httpx.get(f"{site.base}/registry", cookies={"cairn_session": str(second["value"])})
    assert ended.status_code == 303, "a signed-out session no longer works"


def test_wrong_password_and_next_only_to_this_site(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    page = new_page()
    page.goto(f"{site.base}/login")
    page.get_by_label("Username or email").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid username or password")
    expect(page.get_by_label("Username or email")).to_have_value("admin")

    for target in (f"{EVIL}/x", "//evil.test/x", "/\\evil.test", "javascript:alert(1)"):
        page.context.clear_cookies()
        page.goto(f"{site.base}/login?next={quote(target, safe='')}")
        world.sign_in(page, site, "admin")  # waits for the home page, not the foreign target
    page.context.clear_cookies()
    page.goto(f"{site.base}/keys")  # a same-site page asked for before signing in
    assert page.url.startswith(f"{site.base}/login?next=")
    page.get_by_label("Username or email").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.base}/keys")


def test_csrf_and_cross_site_posts_are_refused(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name = world.unique("Csrf")
    resp = site.api(
        "POST", "/orgs/default/registries", json={"name": name, "visibility": "restricted"}
    )
    assert resp.status_code == 201
    page = new_page()
    world.sign_in(page, site, "admin")
    action = f"{site.base}/registry/default/{name}/settings/visibility"
    page.goto(f"{site.base}/registry/default/{name}/settings")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token

    # With the session cookie (the page's own request context) but no or a wrong token.
    forms: list[dict[str, str | float | bool]] = [
        {"visibility": "organization"},
        {"visibility": "organization", "csrf_token": "x"},
    ]
    for form in forms:
        refused = page.request.post(action, form=form, max_redirects=0)
        assert refused.status == 403
    # With the right token but another origin.
    refused = page.request.post(
        action,
        form={"visibility": "organization", "csrf_token": token},
        headers={"Origin": EVIL},
        max_redirects=0,
    )
    assert refused.status == 403
    # A real cross-site form in the browser: another site's page posting to Cairn.
    evil_page = (
        f'<form method="post" action="{action}"><input name="visibility" value="organization">'
        f'<input name="csrf_token" value="{token}"><button>Win a prize</button></form>'
    )
    page.route(f"{EVIL}/", lambda route: route.fulfill(body=evil_page, content_type="text/html"))
    page.goto(f"{EVIL}/")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Win a prize").click()
    landed: Response | None = navigation.value
    assert landed is not None
    assert landed.status == 403
    assert visibility_of(site, name) == "restricted", "no refused post changed anything"

    # The same form from Cairn's own page works.
    page.goto(f"{site.base}/registry/default/{name}/settings")
    page.get_by_label("Registry visibility").select_option("organization")
    world.submit(page, page.get_by_role("button", name="Save visibility"))
    expect(page.get_by_label("Registry visibility")).to_have_value("organization")
    assert visibility_of(site, name) == "organization"


def test_every_html_page_sends_csp_and_nosniff(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    page = new_page()
    documents: list[Response] = []
    page.on(
        "response", lambda r: documents.append(r) if r.request.resource_type == "document" else None
    )
    page.goto(f"{site.base}/login")
    world.sign_in(page, site, "admin")
    for path in (
        "/registry",
        "/registry/new",
        "/registry/default/Models",
        "/registry/default/Models/settings",
        "/keys",
        "/registry/default/absent",
    ):
        page.goto(f"{site.base}{path}")
    assert len(documents) >= 8
    for resp in documents:
        headers = resp.all_headers()
        if resp.status in (301, 302, 303, 307, 308):
            continue
        assert headers.get("x-content-type-options") == "nosniff", resp.url
        csp = headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp, resp.url
        assert "unsafe-inline" not in csp, resp.url
        assert "unsafe-eval" not in csp, resp.url
        assert "frame-ancestors 'none'" in csp, resp.url
