"""The organization audit log page in a real browser: what it shows, filters, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.web import admin_world, world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site


def shown_actions(page: Page) -> list[str]:
    """The action of every event row on the page, top (newest) first."""
    actions: list[str] = page.locator("tr[data-action]").evaluate_all(
        "rows => rows.map(r => r.dataset.action)"
    )
    return actions


def shown_ids(page: Page) -> list[int]:
    ids: list[str] = page.locator("tr[data-event]").evaluate_all(
        "rows => rows.map(r => r.dataset.event)"
    )
    return [int(i) for i in ids]


def filter_by(page: Page, site: Site, **fields: str) -> None:
    """Fill the filter form from a cleared state and apply it."""
    page.goto(f"{site.base}/org/default/audit")
    labels = {
        "actor": "Actor",
        "action": "Action",
        "target": "Target",
        "registry": "Registry",
        "since": "From",
        "until": "To",
    }
    for name, value in fields.items():
        page.get_by_label(labels[name], exact=True).fill(value)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/org/default/audit?**")


def test_audit_log_shows_admin_actions_and_filters_narrow_it(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    bot = world.unique("audit-bot")
    leaver = admin_world.new_member(site, "leaver")
    page = new_page()
    world.sign_in(page, site, "admin")

    # Actions taken on the admin pages: a service account, a key minted and revoked, a user
    # deactivated.
    admin_world.create_service_account(page, site, bot)
    admin_world.mint_key(page, "nightly")
    world.submit(page, page.get_by_role("button", name="Revoke nightly"))
    page.goto(f"{site.base}/org/default/users?q={leaver}")
    world.submit(page, page.get_by_role("button", name=f"Deactivate {leaver}"))

    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"{site.base}/org/default/audit")
    newest = shown_actions(page)[:5]
    assert newest == [
        "user.deactivate",
        "key.revoke",
        "key.create",
        "org.member.add",
        "user.create",
    ], newest
    first_row = page.locator("tr[data-event]").first
    expect(first_row).to_contain_text("admin")
    expect(first_row).to_contain_text("via session")
    expect(first_row).to_contain_text(leaver)
    expect(first_row).to_contain_text('{"active": true} → {"active": false}')
    shoot(page, "org-audit")
    ids = shown_ids(page)
    assert ids == sorted(ids, reverse=True), "newest first"

    # Target: the service account and what is under it (its keys).
    filter_by(page, site, target=bot)
    assert shown_actions(page) == ["key.revoke", "key.create", "org.member.add", "user.create"]
    expect(page.get_by_label("Target", exact=True)).to_have_value(bot)
    # Action prefix, combined with the target.
    filter_by(page, site, target=bot, action="key.")
    assert shown_actions(page) == ["key.revoke", "key.create"]
    # Actor: someone who did nothing shows nothing; the admin's own actions show.
    filter_by(page, site, actor=leaver)
    expect(page.get_by_text("No events match.")).to_be_visible()
    filter_by(page, site, actor="admin", target=leaver)
    assert shown_actions(page)[0] == "user.deactivate"
    # Time range, in whole UTC days.
    today = datetime.now(UTC).date()
    filter_by(page, site, target=bot, since=str(today + timedelta(days=1)))
    expect(page.locator("tr[data-event]")).to_have_count(0)
    filter_by(page, site, target=bot, until=str(today - timedelta(days=1)))
    expect(page.locator("tr[data-event]")).to_have_count(0)
    filter_by(page, site, target=bot, since=str(today), until=str(today))
    expect(page.locator("tr[data-event]")).to_have_count(4)
    # The same rows as the API's audit log for the same filter.
    api_ids = [e["id"] for e in admin_world.audit(site, action="key.")][:2]
    filter_by(page, site, action="key.")
    assert shown_ids(page)[:2] == api_ids


def test_audit_log_by_registry_and_refused_filters(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name = world.unique("Audited")
    made = site.api(
        "POST", "/orgs/default/registries", json={"name": name, "visibility": "restricted"}
    )
    assert made.status_code == 201, made.text
    changed = site.api(
        "PATCH", f"/orgs/default/registries/{name}", json={"visibility": "organization"}
    )
    assert changed.status_code == 200, changed.text
    page = new_page()
    world.sign_in(page, site, "admin")
    filter_by(page, site, registry=name)
    actions = shown_actions(page)
    assert actions[0] == "registry.update", actions
    assert actions[-1] == "registry.create", actions
    assert all(a.startswith("registry.") for a in actions)
    expect(page.locator("tr[data-event]").first).to_contain_text("via key")

    # Refusals show inline above an empty table, with the service's status.
    answer = page.goto(f"{site.base}/org/default/audit?registry=absent-registry")
    assert answer is not None
    assert answer.status == 404
    expect(page.locator("#problem-filters")).to_contain_text("not found")
    expect(page.get_by_label("Registry", exact=True)).to_have_value("absent-registry")
    answer = page.goto(f"{site.base}/org/default/audit?since=yesterday")
    assert answer is not None
    assert answer.status == 422
    expect(page.locator("#problem-filters")).to_have_text("dates must be written YYYY-MM-DD")


def test_audit_log_pages_by_keyset(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    team = world.unique("paged-team")
    member = admin_world.new_member(site, "paged")
    assert site.api("POST", "/orgs/default/teams", json={"name": team}).status_code == 201
    added = site.api(
        "POST", f"/orgs/default/teams/{team}/members", json={"user": member, "role": "member"}
    )
    assert added.status_code == 201, added.text
    for i in range(55):  # 57 events about the team: more than one page of 50
        role = "admin" if i % 2 == 0 else "member"
        resp = site.api(
            "PATCH", f"/orgs/default/teams/{team}/members/{member}", json={"role": role}
        )
        assert resp.status_code == 200, resp.text
    page = new_page()
    world.sign_in(page, site, "admin")
    filter_by(page, site, target=team)
    first = shown_ids(page)
    assert len(first) == 50
    expect(page.get_by_role("link", name="First page")).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url("**before=**")
    second = shown_ids(page)
    assert len(second) == 7
    assert max(second) < min(first), "the next page holds only older events"
    assert shown_actions(page)[-2:] == ["team.member.add", "team.create"]
    expect(page.get_by_label("Target", exact=True)).to_have_value(team)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    page.wait_for_url(lambda url: "before=" not in url)
    assert shown_ids(page) == first
