"""Who may use the organization admin pages, CSRF on their forms, and inert user strings."""

from __future__ import annotations

from collections.abc import Mapping

from playwright.sync_api import Page, expect

from tests.web import admin_world, world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site

EVIL = "http://evil.test"
PAYLOAD = "<img src=x onerror=\"window.__xss = 1; alert('img')\"><script>window.__xss = 2</script>"


def status_of(page: Page, url: str) -> int:
    answer = page.goto(url)
    assert answer is not None
    return answer.status


def post(
    page: Page,
    url: str,
    form: Mapping[str, str],
    headers: dict[str, str] | None = None,
) -> int:
    """A form post from the page's own session (cookies), bypassing the page's forms."""
    fields: dict[str, str | float | bool] = dict(form)
    return page.request.post(url, form=fields, headers=headers, max_redirects=0).status


def test_plain_member_sees_no_admin_controls_and_is_refused(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    member = admin_world.new_member(site, "plain")
    target = admin_world.new_member(site, "target")
    bot = world.unique("member-bot")
    assert (
        site.api("POST", "/orgs/default/users", json={"username": bot, "service": True}).status_code
        == 201
    )
    admins_team = world.unique("admins-team")
    assert site.api("POST", "/orgs/default/teams", json={"name": admins_team}).status_code == 201
    base = f"{site.base}/org/default"

    page = new_page()
    world.sign_in(page, site, member)
    page.get_by_role("link", name="Organization").click()
    page.wait_for_url(f"{base}/users")
    expect(page.get_by_role("note")).to_contain_text("Only organization admins can add users")
    expect(page.locator(f'tr[data-user="{target}"]')).to_contain_text("member")  # read-only
    expect(page.get_by_text("Create user", exact=True)).to_have_count(0)
    expect(page.locator("main select")).to_have_count(0)
    expect(page.locator("main form[method=post]")).to_have_count(0)
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    shoot(page, "org-users-member")

    # Admin-only pages and posts are refused (403), and nothing changed.
    assert status_of(page, f"{base}/audit") == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("403 · Not allowed")
    shoot(page, "org-audit-forbidden")
    page.goto(f"{base}/users")
    token = admin_world.csrf_token(page)  # the sign-out form's
    intruder = world.unique("intruder")
    created = page.request.post(f"{base}/users", form={"csrf_token": token, "username": intruder})
    assert created.status == 403
    assert "only admins of organization &#39;default&#39; can do this" in created.text()
    assert intruder not in admin_world.org_members(site)
    assert post(page, f"{base}/users/{target}/role", {"csrf_token": token, "role": "admin"}) == 403
    assert post(page, f"{base}/users/{target}/deactivate", {"csrf_token": token}) == 404
    assert post(page, f"{base}/users/{target}/remove", {"csrf_token": token}) == 403
    after = admin_world.org_members(site)[target]
    assert (after["role"], after["active"]) == ("member", True)

    # Service accounts: listed read-only; their keys are not reachable at all.
    page.goto(f"{base}/service-accounts")
    expect(page.locator(f'tr[data-account="{bot}"]')).to_be_visible()
    expect(page.locator(f'tr[data-account="{bot}"] a')).to_have_count(0)
    expect(page.get_by_text("Create service account", exact=True)).to_have_count(0)
    assert status_of(page, f"{base}/service-accounts/{bot}") == 404
    assert (
        post(page, f"{base}/service-accounts/{bot}/keys", {"csrf_token": token, "name": "x"}) == 404
    )
    assert post(page, f"{base}/service-accounts", {"csrf_token": token, "username": "b2"}) == 403

    # Teams: members may create their own team, but not change one they do not run.
    page.goto(f"{base}/teams/{admins_team}")
    expect(page.get_by_role("note")).to_contain_text("Only this team's admins")
    expect(page.get_by_text("Add member", exact=True)).to_have_count(0)
    expect(page.locator("main select")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete team")).to_have_count(0)
    added = page.request.post(
        f"{base}/teams/{admins_team}/members", form={"csrf_token": token, "user": member}
    )
    assert added.status == 403
    assert f"only admins of team &#39;{admins_team}&#39; can change it" in added.text()
    assert member not in admin_world.team_roles(site, admins_team)
    own_team = world.unique("own-team")
    page.goto(f"{base}/teams")
    page.get_by_text("Create team", exact=True).first.click()
    page.get_by_label("Team name").fill(own_team)
    page.get_by_role("button", name="Create team").last.click()
    page.wait_for_url(f"{base}/teams/{own_team}")
    expect(page.get_by_text("Add member", exact=True)).to_be_visible()  # its admin now


def test_viewer_cannot_create_teams(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    viewer = admin_world.new_member(site, "org-viewer", role="viewer")
    page = new_page()
    world.sign_in(page, site, viewer)
    page.goto(f"{site.base}/org/default/teams")
    expect(page.get_by_role("note")).to_contain_text("Organization viewers can see teams")
    expect(page.get_by_text("Create team", exact=True)).to_have_count(0)
    token = admin_world.csrf_token(page)
    name = world.unique("viewer-team")
    assert post(page, f"{site.base}/org/default/teams", {"csrf_token": token, "name": name}) == 403
    assert site.api("GET", f"/orgs/default/teams/{name}").status_code == 404


def test_non_member_of_the_organization_gets_404(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    other = world.unique("other-org")
    made = site.api("POST", "/orgs", json={"name": other})
    assert made.status_code == 201, made.text
    assert site.api("POST", f"/orgs/{other}/teams", json={"name": f"{other}-t"}).status_code == 201
    outsider = admin_world.new_member(site, "outsider")
    page = new_page()
    world.sign_in(page, site, outsider)
    for path in (
        "users",
        "teams",
        f"teams/{other}-t",
        "service-accounts",
        "service-accounts/admin",
        "audit",
    ):
        assert status_of(page, f"{site.base}/org/{other}/{path}") == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("404 · Not found")
    token = admin_world.csrf_token(page)
    assert post(page, f"{site.base}/org/{other}/teams", {"csrf_token": token, "name": "x"}) == 404
    # The same answer as for an organization that does not exist.
    assert status_of(page, f"{site.base}/org/{world.unique('absent')}/users") == 404
    shoot(page, "org-not-found")

    # The admin of both sees both, and can switch between them.
    admin = new_page()
    world.sign_in(admin, site, "admin")
    admin.goto(f"{site.base}/org/default/teams")
    admin.get_by_role("navigation", name="Organizations").get_by_role("link", name=other).click()
    admin.wait_for_url(f"{site.base}/org/{other}/teams")
    expect(admin.locator(f'tr[data-team="{other}-t"]')).to_be_visible()


def test_admin_forms_refuse_posts_without_a_valid_token(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(f"{site.base}/org/default/users")
    token = admin_world.csrf_token(page)
    url = f"{site.base}/org/default/users"
    name = world.unique("forged")
    for form in ({"username": name}, {"username": name, "csrf_token": "x" * 43}):
        assert post(page, url, form) == 403
    assert post(page, url, {"username": name, "csrf_token": token}, headers={"Origin": EVIL}) == 403
    team_url = f"{site.base}/org/default/teams"
    assert post(page, team_url, {"name": name}) == 403
    assert name not in admin_world.org_members(site)
    assert site.api("GET", f"/orgs/default/teams/{name}").status_code == 404
    # A real cross-site form in the browser, carrying a stolen token, is refused too.
    evil_page = (
        f'<form method="post" action="{url}"><input name="username" value="{name}">'
        f'<input name="csrf_token" value="{token}"><button>Win a prize</button></form>'
    )
    page.route(f"{EVIL}/", lambda route: route.fulfill(body=evil_page, content_type="text/html"))
    page.goto(f"{EVIL}/")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Win a prize").click()
    landed = navigation.value
    assert landed is not None
    assert landed.status == 403
    assert name not in admin_world.org_members(site)


def test_user_strings_on_admin_pages_run_nothing(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    odd = world.unique("odd")
    email = f"<script>window.__xss=3</script>{odd}@example.com"
    made = site.api(
        "POST",
        "/orgs/default/users",
        json={"username": odd, "email": email, "password": world.PASSWORD},
    )
    assert made.status_code == 201, made.text
    team = world.unique("xss-team")
    bot = world.unique("xss-bot")
    assert (
        site.api("POST", "/orgs/default/users", json={"username": bot, "service": True}).status_code
        == 201
    )
    page = new_page()
    problems = world.watch_for_script(page, answered=())
    world.sign_in(page, site, "admin")
    base = f"{site.base}/org/default"

    # A team description, through the form.
    page.goto(f"{base}/teams")
    page.get_by_text("Create team", exact=True).first.click()
    page.get_by_label("Team name").fill(team)
    page.get_by_label("Description (optional)").fill(PAYLOAD)
    page.get_by_role("button", name="Create team").last.click()
    page.wait_for_url(f"{base}/teams/{team}")
    expect(page.locator("main p.desc")).to_have_text(PAYLOAD)
    page.goto(f"{base}/teams")
    expect(page.locator(f'tr[data-team="{team}"] .desc')).to_have_text(PAYLOAD)

    # An email address, on the users page.
    page.goto(f"{base}/users?q={odd}")
    expect(page.locator(f'tr[data-user="{odd}"]')).to_contain_text(email.lower())

    # A key name, on the service account's page and in the audit log.
    page.goto(f"{base}/service-accounts/{bot}")
    admin_world.mint_key(page, PAYLOAD[:128])
    expect(page.locator("tr[data-key] td").first).to_have_text(PAYLOAD[:128])
    page.goto(f"{base}/audit?target={bot}")
    expect(page.locator("tr[data-action='key.create']")).to_contain_text(PAYLOAD[:64])

    # A refused value is echoed in the service's message, as text.
    page.goto(f"{base}/users?q={odd}")
    select = page.get_by_label(f"Organization role of {odd}")
    select.evaluate("(s, v) => { s.options[0].value = v; s.selectedIndex = 0; }", PAYLOAD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=f"Change role of {odd}").click()
    assert answer.value.status == 422
    expect(page.locator("#problem-members")).to_contain_text("unknown organization role")
    expect(page.locator("#problem-members")).to_contain_text("<img src=x")

    for path in (f"teams/{team}", "teams", f"users?q={odd}", f"audit?target={bot}"):
        page.goto(f"{base}/{path}")
        assert page.locator("main script, main img, main [onerror]").count() == 0, path
        assert page.evaluate("typeof window.__xss") == "undefined", path
    assert problems == []
