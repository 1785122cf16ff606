"""Organization admin pages in a real browser: users, teams, service accounts and their keys."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.web import admin_world, world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site


def test_admin_creates_a_user_changes_role_and_deactivates(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    name = world.unique("newcomer")
    admin = new_page()
    world.sign_in(admin, site, "admin")
    admin.get_by_role("link", name="Organization").click()
    admin.wait_for_url(f"{site.base}/org/default/users")
    expect(admin.get_by_role("link", name="Audit log")).to_be_visible()

    # The "Create user" dialog works from the keyboard, with a visible focus ring.
    admin.get_by_label("Search by username or email").click()
    admin.keyboard.press("Shift+Tab")
    summary = admin.locator("details.dialog summary")
    expect(summary).to_be_focused()
    assert summary.evaluate("s => getComputedStyle(s).outlineStyle") == "solid"
    admin.keyboard.press("Enter")
    admin.keyboard.press("Tab")
    expect(admin.get_by_label("Username", exact=True)).to_be_focused()
    admin.keyboard.type(name)
    admin.get_by_label("Email (optional)").fill(f"{name}@example.com")
    admin.get_by_label("Organization role", exact=True).select_option("viewer")
    world.submit(admin, admin.get_by_role("button", name="Create user").last)
    expect(admin.get_by_role("status")).to_contain_text(f"Created user {name}")
    password = admin.locator("#new-password").inner_text()
    assert len(password) >= 16
    row = admin.locator(f'tr[data-user="{name}"]')
    expect(row).to_be_visible()
    expect(row.get_by_label(f"Organization role of {name}")).to_have_value("viewer")
    assert admin_world.org_members(site)[name]["role"] == "viewer"
    shoot(admin, "org-users-created")

    # The one-time password works once handed over.
    newcomer = new_page()
    world.sign_in_with(newcomer, site, name, password)
    newcomer.wait_for_url(f"{site.base}/registry")

    # A duplicate is refused inline, keeping what was typed (never the password).
    admin.goto(f"{site.base}/org/default/users")
    admin.get_by_text("Create user", exact=True).first.click()
    admin.get_by_label("Username", exact=True).fill(name)
    admin.get_by_label("Initial password (optional)").fill("a-typed-password")
    with admin.expect_response(lambda r: r.request.method == "POST") as answer:
        admin.get_by_role("button", name="Create user").last.click()
    assert answer.value.status == 409
    expect(admin.locator("#problem-create")).to_contain_text("already taken")
    expect(admin.get_by_label("Username", exact=True)).to_have_value(name)
    expect(admin.get_by_label("Initial password (optional)")).to_have_value("")

    # Change the organization role.
    row = admin.locator(f'tr[data-user="{name}"]')
    row.get_by_label(f"Organization role of {name}").select_option("member")
    world.submit(admin, row.get_by_role("button", name=f"Change role of {name}"))
    expect(
        admin.locator(f'tr[data-user="{name}"]').get_by_label(f"Organization role of {name}")
    ).to_have_value("member")
    assert admin_world.org_members(site)[name]["role"] == "member"

    # Deactivate: the open session ends and signing in is refused.
    world.submit(admin, admin.get_by_role("button", name=f"Deactivate {name}"))
    row = admin.locator(f'tr[data-user="{name}"]')
    expect(row.locator(".status")).to_have_text("Deactivated")
    expect(row.get_by_role("button", name=f"Reactivate {name}")).to_be_visible()
    shoot(admin, "org-users")
    newcomer.goto(f"{site.base}/registry")
    assert newcomer.url.startswith(f"{site.base}/login")
    world.sign_in_with(newcomer, site, name, password)
    expect(newcomer.get_by_role("alert")).to_have_text("invalid username or password")
    assert not admin_world.org_members(site)[name]["active"]

    # Reactivate: they are let in again.
    world.submit(admin, row.get_by_role("button", name=f"Reactivate {name}"))
    expect(admin.locator(f'tr[data-user="{name}"] .status')).to_have_text("Active")
    world.sign_in_with(newcomer, site, name, password)
    newcomer.wait_for_url(f"{site.base}/registry")

    # The admin cannot deactivate or remove themself: no such buttons on their own row.
    own = admin.locator('tr[data-user="admin"]')
    expect(own.get_by_role("button", name="Deactivate admin")).to_have_count(0)
    expect(own.get_by_role("button", name="Remove admin from default")).to_have_count(0)


def test_admin_searches_users_and_removes_one(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    stem = world.unique("finder")
    for suffix in ("a", "b"):
        world.new_user(site, f"{stem}-{suffix}")
    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(f"{site.base}/org/default/users")
    page.get_by_label("Search by username or email").fill(stem.upper())
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tr[data-user]")
    expect(rows).to_have_count(2)
    world.submit(page, page.get_by_role("button", name=f"Remove {stem}-a from default"))
    expect(page.locator(f'tr[data-user="{stem}-a"]')).to_have_count(0)
    assert f"{stem}-a" not in admin_world.org_members(site)
    assert f"{stem}-b" in admin_world.org_members(site)


def test_admin_creates_a_team_adds_a_member_and_changes_its_role(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    team = world.unique("vision-team")
    member = admin_world.new_member(site, "teammate")
    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(f"{site.base}/org/default/users")
    page.get_by_role("link", name="Teams").click()
    page.wait_for_url(f"{site.base}/org/default/teams")
    page.get_by_text("Create team", exact=True).first.click()
    page.get_by_label("Team name").fill(team)
    page.get_by_label("Description (optional)").fill("Computer vision models")
    page.get_by_role("button", name="Create team").last.click()
    page.wait_for_url(f"{site.base}/org/default/teams/{team}")
    expect(page.get_by_role("heading", name=team, level=1)).to_be_visible()
    expect(
        page.locator('tr[data-member="admin"]').get_by_label("Team role of admin")
    ).to_have_value("admin")

    page.get_by_text("Add member", exact=True).click()
    page.get_by_label("Member", exact=True).fill(f"{member}@example.com")  # by email
    page.get_by_label("Team role", exact=True).select_option("member")
    world.submit(page, page.get_by_role("button", name="Add to team"))
    row = page.locator(f'tr[data-member="{member}"]')
    expect(row.get_by_label(f"Team role of {member}")).to_have_value("member")
    assert admin_world.team_roles(site, team)[member] == "member"

    row.get_by_label(f"Team role of {member}").select_option("admin")
    world.submit(page, row.get_by_role("button", name=f"Change role of {member}"))
    expect(
        page.locator(f'tr[data-member="{member}"]').get_by_label(f"Team role of {member}")
    ).to_have_value("admin")
    assert admin_world.team_roles(site, team)[member] == "admin"
    shoot(page, "org-team")

    # Someone outside the organization cannot be added; the refusal shows inline.
    page.get_by_text("Add member", exact=True).click()
    page.get_by_label("Member", exact=True).fill("nobody-at-all")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add to team").click()
    assert answer.value.status == 404
    expect(page.locator("#problem-add")).to_contain_text("is not a member of organization")

    page.goto(f"{site.base}/org/default/teams")
    team_row = page.locator(f'tr[data-team="{team}"]')
    expect(team_row).to_contain_text("Computer vision models")
    expect(team_row.locator("td").nth(2)).to_have_text("2")
    shoot(page, "org-teams")

    # Remove the member, then delete the team after typing its name.
    page.goto(f"{site.base}/org/default/teams/{team}")
    world.submit(page, page.get_by_role("button", name=f"Remove {member}"))
    expect(page.locator(f'tr[data-member="{member}"]')).to_have_count(0)
    page.get_by_label(f"Type {team} to delete").fill(team)
    page.get_by_role("button", name="Delete team").click()
    page.wait_for_url(f"{site.base}/org/default/teams")
    expect(page.locator(f'tr[data-team="{team}"]')).to_have_count(0)
    assert site.api("GET", f"/orgs/default/teams/{team}").status_code == 404


def test_service_account_key_is_shown_once_works_and_is_revoked(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    bot = world.unique("ci-bot")
    page = new_page()
    world.sign_in(page, site, "admin")
    admin_world.create_service_account(page, site, bot)
    expect(page.get_by_text(f"{bot} has no live API keys.")).to_be_visible()

    admin_world.mint_key(page, "deploy")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("cairn_")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.locator('tr[data-key="deploy"]')).to_be_visible()
    shoot(page, "org-service-account")
    bearer = {"Authorization": f"Bearer {key}"}
    viewer = httpx.get(f"{site.base}/api/v1/viewer", headers=bearer)
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["username"] == bot
    assert httpx.get(f"{site.base}/api/v1/orgs/default", headers=bearer).status_code == 200

    page.goto(f"{site.base}/org/default/service-accounts/{bot}")
    expect(page.locator("#new-key")).to_have_count(0)  # shown once
    assert key not in page.content()
    world.submit(page, page.get_by_role("button", name="Revoke deploy"))
    expect(page.locator('tr[data-key="deploy"]')).to_have_count(0)
    assert httpx.get(f"{site.base}/api/v1/viewer", headers=bearer).status_code == 401

    page.goto(f"{site.base}/org/default/service-accounts")
    row = page.locator(f'tr[data-account="{bot}"]')
    expect(row.get_by_role("link", name=bot, exact=True)).to_be_visible()
    expect(row.get_by_label(f"Organization role of {bot}")).to_have_value("member")
    shoot(page, "org-service-accounts")

    # A key's page is reached through its own service account only.
    other = world.unique("other-bot")
    made = site.api("POST", "/orgs/default/users", json={"username": other, "service": True})
    assert made.status_code == 201, made.text
    page.goto(f"{site.base}/org/default/service-accounts/{other}")
    admin_world.mint_key(page, "theirs")
    theirs = page.locator('tr[data-key="theirs"] form').get_attribute("action")
    assert theirs
    key_id = theirs.split("/keys/")[1].split("/")[0]
    token = admin_world.csrf_token(page)
    crossed = page.request.post(
        f"{site.base}/org/default/service-accounts/{bot}/keys/{key_id}/revoke",
        form={"csrf_token": token},
        max_redirects=0,
    )
    assert crossed.status == 404
    page.goto(f"{site.base}/org/default/service-accounts/{other}")
    expect(page.locator('tr[data-key="theirs"]')).to_be_visible()
    # And a person is not a service account: their keys are not managed here.
    person = page.goto(f"{site.base}/org/default/service-accounts/admin")
    assert person is not None
    assert person.status == 404
