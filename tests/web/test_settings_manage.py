"""Registry settings in a real browser: rename, owning team, the keyboard-usable member dialog."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site


def test_rename_registry_and_set_owning_team(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name, taken, team = world.unique("Renamed"), world.unique("Taken"), world.unique("owners")
    world.new_registry(site, name)
    world.new_registry(site, taken)
    made = site.api("POST", "/orgs/default/teams", json={"name": team})
    assert made.status_code == 201, made.text

    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(f"{site.base}/registry/default/{name}/settings")
    field = page.get_by_label("Registry name", exact=True)
    field.fill(taken.upper())
    world.submit(page, page.get_by_role("button", name="Rename registry"))
    expect(page.locator("#name-name-error")).to_contain_text("already exists")
    expect(field).to_have_value(taken.upper())
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("bad/name")
    world.submit(page, page.get_by_role("button", name="Rename registry"))
    expect(page.locator("#name-name-error")).to_contain_text("must not contain")
    expect(field).to_have_value("bad/name")

    new_name = f"{name}-new"
    field.fill(new_name)
    page.get_by_role("button", name="Rename registry").click()
    page.wait_for_url(re.compile(rf"/registry/default/{new_name}/settings"))
    expect(page.locator(".crumbs")).to_contain_text(new_name)
    old = new_page()
    world.sign_in(old, site, "admin")
    gone = old.goto(f"{site.base}/registry/default/{name}")
    assert gone is not None
    assert gone.status == 404

    page.get_by_label("Owner team", exact=True).select_option(team)
    world.submit(page, page.get_by_role("button", name="Save owning team"))
    expect(page.get_by_label("Owner team", exact=True)).to_have_value(team)
    shown = site.api("GET", f"/orgs/default/registries/{new_name}")
    assert shown.json()["owner_team"] == team
    page.get_by_label("Owner team", exact=True).select_option("")
    world.submit(page, page.get_by_role("button", name="Save owning team"))
    assert site.api("GET", f"/orgs/default/registries/{new_name}").json()["owner_team"] is None


def test_add_member_dialog_by_keyboard_with_suggestions(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    name, stem = world.unique("Keyboard"), world.unique("kbd")
    dana = f"{stem}-dana"
    dana_email = world.new_user(site, dana)
    world.new_user(site, f"{stem}-eli")
    carol, dave = world.unique("carol"), world.unique("dave")
    world.new_user(site, carol)
    world.new_user(site, dave)
    world.new_registry(site, name)
    world.add_members(site, name, **{carol: "member"})
    settings = f"{site.base}/registry/default/{name}/settings"

    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(settings)
    add = page.get_by_role("button", name="Add member")
    for _ in range(100):  # keyboard only from here on
        page.keyboard.press("Tab")
        if add.evaluate("button => button === document.activeElement"):
            break
    expect(add).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add member")
    expect(dialog).to_be_visible()
    member = page.get_by_label("Member", exact=True)
    expect(member).to_be_focused()

    # The controls come in the documented order: Member, role, "Add new member".
    order = dialog.locator("input:not([type=hidden]), select, button").evaluate_all(
        "els => els.map(e => e.id || e.textContent.trim())"
    )
    assert order == ["member-name", "member-role", "Add new member", "Cancel"]

    page.keyboard.type(stem)
    options = page.locator("#member-suggestions option")
    expect(options).to_have_count(4)  # two users, each by username and by email
    values = options.evaluate_all("els => els.map(e => e.value)")
    assert dana in values
    assert dana_email in values
    shoot(page, "add-member-dialog")

    page.keyboard.press("Escape")
    if dialog.is_visible():  # the first Escape may only close the browser's suggestion list
        page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(add).to_be_focused()

    page.keyboard.press("Enter")
    expect(member).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type(dana_email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Role", exact=True)).to_be_focused()
    page.keyboard.type("member")
    expect(page.get_by_label("Role", exact=True)).to_have_value("member")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Add new member")).to_be_focused()
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.keyboard.press("Enter")
    row = page.locator(f'tr[data-member="{dana}"]')
    expect(row).to_be_visible()
    expect(row.get_by_label(f"Role of {dana}")).to_have_value("member")

    # A refusal shows beside the Member field, the dialog open again and the typing kept.
    page.get_by_role("button", name="Add member").click()
    page.get_by_label("Member", exact=True).fill("nobody-at-all")
    world.submit(page, page.get_by_role("button", name="Add new member"))
    expect(dialog).to_be_visible()
    expect(page.locator("#add-member-member-error")).to_contain_text("no user or team")
    expect(page.get_by_label("Member", exact=True)).to_have_value("nobody-at-all")

    # Existing members are not suggested again.
    page.get_by_label("Member", exact=True).fill("")
    page.get_by_label("Member", exact=True).press_sequentially(stem)
    expect(options).to_have_count(2)
    assert dana not in options.evaluate_all("els => els.map(e => e.value)")

    # Suggestions are for those who may add members: a member gets no control and a 403,
    # someone who cannot see the registry a 404, and another site's request is refused.
    suggest = f"{settings}/members/suggestions?member={stem}"
    member_page = new_page()
    world.sign_in(member_page, site, carol)
    member_page.goto(settings)
    expect(member_page.get_by_role("button", name="Add member")).to_have_count(0)
    expect(member_page.locator("#member-name, datalist")).to_have_count(0)
    refused = member_page.request.get(suggest)
    assert refused.status == 403
    assert stem not in refused.text()
    outsider = new_page()
    world.sign_in(outsider, site, dave)
    hidden = outsider.request.get(suggest)
    assert hidden.status == 404
    assert stem not in hidden.text().replace(suggest, "")
    foreign = page.request.get(suggest, headers={"Sec-Fetch-Site": "cross-site"})
    assert foreign.status == 403
    allowed = page.request.get(suggest)
    assert allowed.status == 200
    assert "<option" in allowed.text()
