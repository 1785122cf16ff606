"""The registry flow in a real browser: create, members and roles, visibility, accepted types."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import XSS_DESCRIPTION, Site, watch_for_script


def create_registry(page: Page, site: Site, name: str, *, types: str = "model") -> None:
    page.goto(f"{site.base}/registry")
    page.get_by_role("link", name="Create registry").click()
    page.wait_for_url("**/registry/new?org=default")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Description").fill(XSS_DESCRIPTION)
    page.get_by_label("Registry visibility").select_option("restricted")
    page.get_by_label("Accepted artifacts type").select_option("specify")
    page.get_by_label("Types to accept").fill(types)
    page.get_by_role("button", name="Create registry").click()


def test_create_members_visibility_and_types(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name = world.unique("Vision")
    alice, bob, carol = world.unique("alice"), world.unique("bob"), world.unique("carol")
    alice_email = world.new_user(site, alice)
    world.new_user(site, bob)
    world.new_user(site, carol)

    admin = new_page()
    problems = watch_for_script(admin)
    world.sign_in(admin, site, "admin")
    shoot(admin, "home")

    # The form follows W&B's steps; the visibility options say who can access.
    admin.goto(f"{site.base}/registry/new")
    options = admin.get_by_label("Registry visibility").locator("option").all_inner_texts()
    assert options == [
        "Restricted — Only invited organization members can access",
        "Organization — Everyone in the organization can access",
    ]
    accepted = admin.get_by_label("Accepted artifacts type").locator("option").all_inner_texts()
    assert accepted == ["All types", "Specify types"]
    expect(admin.get_by_label("Types to accept")).to_be_hidden()
    admin.get_by_label("Accepted artifacts type").select_option("specify")
    expect(admin.get_by_label("Types to accept")).to_be_visible()
    shoot(admin, "create-registry")

    create_registry(admin, site, name)
    admin.wait_for_url(re.compile(rf"/registry/default/{name}$"))
    expect(admin.get_by_role("heading", level=1)).to_have_text(name)
    shoot(admin, "registry")

    # The server's refusals show inline, and what was typed stays.
    create_registry(admin, site, name.upper())
    expect(admin.get_by_role("alert")).to_contain_text("already exists")
    expect(admin.get_by_label("Name", exact=True)).to_have_value(name.upper())
    expect(admin.get_by_label("Description")).to_have_value(XSS_DESCRIPTION)
    expect(admin.get_by_label("Types to accept")).to_have_value("model")
    create_registry(admin, site, "bad/name")
    expect(admin.get_by_role("alert")).to_contain_text("/")
    expect(admin.get_by_label("Name", exact=True)).to_have_value("bad/name")
    shoot(admin, "create-registry-error")

    # Members by email and by username, then a role change.
    settings = f"{site.base}/registry/default/{name}/settings"
    admin.goto(settings)
    for invitee, role in ((alice_email, "viewer"), (bob, "member")):
        admin.get_by_role("button", name="Add member").click()
        admin.get_by_label("Member", exact=True).fill(invitee)
        admin.get_by_label("Role", exact=True).select_option(role)
        world.submit(admin, admin.get_by_role("button", name="Add new member"))
        expect(admin.locator(f'tr[data-member="{invitee.split("@")[0]}"]')).to_be_visible()
    row = admin.locator(f'tr[data-member="{alice}"]')
    row.get_by_label(f"Role of {alice}").select_option("member")
    world.submit(admin, row.get_by_role("button", name=f"Change role of {alice}"))
    expect(
        admin.locator(f'tr[data-member="{alice}"]').get_by_label(f"Role of {alice}")
    ).to_have_value("member")
    shoot(admin, "settings")

    # The member sees it; a non-member sees no card and a 404 page, like a missing registry.
    member = new_page()
    world.sign_in(member, site, alice_email)
    expect(member.locator(f'li.card[data-registry="{name}"]')).to_be_visible()
    member.goto(f"{site.base}/registry/default/{name}")
    expect(member.get_by_text("Your role: member")).to_be_visible()
    member.goto(settings)
    expect(member.get_by_role("button", name="Save visibility")).to_have_count(0)
    expect(member.get_by_text("Only registry admins can change them")).to_be_visible()

    outsider = new_page()
    world.sign_in(outsider, site, carol)
    expect(outsider.locator(f'li.card[data-registry="{name}"]')).to_have_count(0)
    hidden = outsider.goto(f"{site.base}/registry/default/{name}")
    assert hidden is not None
    assert hidden.status == 404
    hidden_text = outsider.locator("main").inner_text()
    absent = outsider.goto(f"{site.base}/registry/default/{name}-absent")
    assert absent is not None
    assert absent.status == 404
    assert outsider.locator("main").inner_text() == hidden_text.replace(name, f"{name}-absent")
    shoot(outsider, "not-found")

    # Organization visibility: now the outsider sees it, as a viewer.
    admin.goto(settings)
    admin.get_by_label("Registry visibility").select_option("organization")
    world.submit(admin, admin.get_by_role("button", name="Save visibility"))
    expect(admin.locator("#visibility .badge")).to_have_count(0)  # the form, not a read-only badge
    outsider.goto(f"{site.base}/registry")
    expect(outsider.locator(f'li.card[data-registry="{name}"]')).to_be_visible()
    expect(outsider.locator(f'li.card[data-registry="{name}"] .badge')).to_have_text("Organization")

    # Accepted types only grow: a saved type is locked and has no control to remove it.
    admin.goto(settings)
    admin.get_by_label("Add types").fill("dataset")
    world.submit(admin, admin.get_by_role("button", name="Save types"))
    saved = admin.get_by_role("list", name="Saved types").locator("li")
    expect(saved).to_have_count(2)
    expect(saved.first).to_contain_text("cannot be removed")
    expect(
        admin.locator("#types").get_by_role("button", name=re.compile("remove", re.I))
    ).to_have_count(0)
    expect(admin.get_by_text("Saved types are locked")).to_be_visible()

    # The description's payloads were shown as text and ran nothing anywhere.
    for page in (admin, member, outsider):
        page.goto(f"{site.base}/registry/default/{name}")
        description = page.locator(".description")
        expect(description.locator("strong")).to_have_text("models")
        expect(description).to_contain_text("<script>")
        assert description.locator("script, img, [onerror]").count() == 0
        assert description.locator('a[href^="javascript"]').count() == 0
        assert page.evaluate("typeof window.__xss") == "undefined"
    assert problems == []


def test_search_and_filters_on_the_home_page(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    stem = world.unique("Search")
    for suffix, visibility, types in (("a", "restricted", ["model"]), ("b", "organization", [])):
        resp = site.api(
            "POST",
            "/orgs/default/registries",
            json={"name": f"{stem}-{suffix}", "visibility": visibility, "artifact_types": types},
        )
        assert resp.status_code == 201, resp.text
    xss_name = "<img src=x onerror=alert(1)>" + stem
    assert (
        site.api(
            "POST", "/orgs/default/registries", json={"name": xss_name, "visibility": "restricted"}
        ).status_code
        == 201
    )
    page = new_page()
    problems = watch_for_script(page)
    world.sign_in(page, site, "admin")
    cards = page.locator("li.card")
    page.get_by_label("Search by name").fill(stem.lower())
    expect(cards).to_have_count(3)
    expect(page.locator("li.card h2").filter(has_text=xss_name)).to_have_count(1)
    page.get_by_label("Visibility").select_option("organization")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-registry", f"{stem}-b")
    page.get_by_label("Visibility").select_option("")
    page.get_by_label("Accepted type").fill("model")
    page.get_by_role("button", name="Apply").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-registry", f"{stem}-a")
    expect(cards.first.locator(".pill")).to_have_text(["model"])
    assert "q=" in page.url, "the search is in the address, so it can be shared and reloaded"
    assert problems == []
