"""Managing collections in a real browser: create, edit, rename, link, unlink, delete, paging."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import XSS_DESCRIPTION, Site


def open_dialog(page: Page, button: str, title: str) -> None:
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("dialog", name=title)).to_be_visible()


def versions_shown(page: Page) -> list[str]:
    return [
        row.get_attribute("data-version") or "" for row in page.locator("tr[data-version]").all()
    ]


def events_shown(page: Page) -> list[int]:
    return [int(e.get_attribute("data-event") or 0) for e in page.locator("li[data-event]").all()]


def test_create_edit_rename_link_unlink_delete(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name = world.unique("Lifecycle")
    world.new_registry(site, name, types=["model", "dataset"])
    refs = world.log_versions(site, world.unique("lifecycle-src"), 2)
    registry_url = f"{site.base}/registry/default/{name}"

    page = new_page()
    problems = world.watch_for_script(page)
    world.sign_in(page, site, "admin")
    page.goto(registry_url)
    open_dialog(page, "New collection", "New collection")
    expect(page.get_by_label("Collection name")).to_be_focused()
    page.get_by_label("Collection name").fill("sentiment")
    page.get_by_label("Artifact type", exact=True).select_option("model")
    page.get_by_label("Description").fill(XSS_DESCRIPTION)
    page.get_by_label("Tags").fill("nlp, bert")
    shoot(page, "collection-create")
    page.get_by_role("button", name="Create collection").click()
    page.wait_for_url(re.compile(rf"/registry/default/{name}/collections/sentiment$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("sentiment")
    expect(page.locator(".tags .tag")).to_have_text(["bert", "nlp"])

    # The description is markdown; its payloads are shown as text and run nothing.
    description = page.locator(".description")
    expect(description.locator("strong")).to_have_text("models")
    expect(description).to_contain_text("<script>")
    assert description.locator("script, img, [onerror]").count() == 0
    assert description.locator('a[href^="javascript"]').count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"

    # A duplicate name (names ignore case) is refused beside the name, keeping what was typed.
    page.goto(registry_url)
    open_dialog(page, "New collection", "New collection")
    page.get_by_label("Collection name").fill("SENTIMENT")
    page.get_by_label("Description").fill("keep *this*")
    page.get_by_label("Tags").fill("kept")
    world.submit(page, page.get_by_role("button", name="Create collection"))
    expect(page.get_by_role("dialog", name="New collection")).to_be_visible()
    expect(page.locator("#create-name-error")).to_contain_text("already exists")
    expect(page.get_by_role("alert")).to_have_count(1)
    expect(page.get_by_label("Collection name")).to_have_value("SENTIMENT")
    expect(page.get_by_label("Collection name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Collection name")).to_be_focused()
    expect(page.get_by_label("Description")).to_have_value("keep *this*")
    expect(page.get_by_label("Tags")).to_have_value("kept")
    shoot(page, "collection-create-error")
    page.get_by_label("Collection name").fill("bad name")
    world.submit(page, page.get_by_role("button", name="Create collection"))
    expect(page.locator("#create-name-error")).to_contain_text("letters, digits")
    page.get_by_label("Collection name").fill("ok-name")
    page.get_by_label("Tags").fill("bad tag!")
    world.submit(page, page.get_by_role("button", name="Create collection"))
    expect(page.locator("#create-tags-error")).to_contain_text("tag")
    expect(page.locator("#create-name-error")).to_have_count(0)
    expect(page.get_by_label("Collection name")).to_have_value("ok-name")

    # Edit description and tags, then rename.
    page.goto(f"{registry_url}/collections/sentiment")
    open_dialog(page, "Edit collection", "Edit collection")
    expect(page.get_by_label("Collection name")).to_have_value("sentiment")
    page.get_by_label("Description").fill("Updated **notes**.")
    page.get_by_label("Tags").fill("nlp, prod")
    world.submit(page, page.get_by_role("button", name="Save changes"))
    expect(page.locator(".description strong")).to_have_text("notes")
    expect(page.locator(".tags .tag")).to_have_text(["nlp", "prod"])
    open_dialog(page, "Edit collection", "Edit collection")
    page.get_by_label("Collection name").fill("sentiment-v2")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(r"/collections/sentiment-v2$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("sentiment-v2")
    collection_url = f"{registry_url}/collections/sentiment-v2"
    gone = new_page()
    world.sign_in(gone, site, "admin")
    old = gone.goto(f"{registry_url}/collections/sentiment")
    assert old is not None
    assert old.status == 404

    # Link versions from the page; a bad source is refused beside the field.
    open_dialog(page, "Link a version", "Link a version")
    page.get_by_label("Source artifact version").fill("admin/web-tests/absent-artifact:v0")
    page.get_by_label("Aliases").fill("staging")
    world.submit(page, page.get_by_role("button", name="Link version"))
    expect(page.locator("#link-source-error")).to_contain_text("not found")
    expect(page.get_by_label("Source artifact version")).to_have_value(
        "admin/web-tests/absent-artifact:v0"
    )
    expect(page.get_by_label("Aliases")).to_have_value("staging")
    for ref in refs:
        page.goto(collection_url)
        open_dialog(page, "Link a version", "Link a version")
        page.get_by_label("Source artifact version").fill(ref)
        page.get_by_label("Aliases").fill("staging")
        world.submit(page, page.get_by_role("button", name="Link version"))
        expect(page.locator(f'tr[data-version="v{refs.index(ref)}"]')).to_be_visible()
    assert versions_shown(page) == ["v1", "v0"]
    expect(page.locator('tr[data-version="v1"] [data-alias="staging"]')).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("version.link")
    shoot(page, "collection-managed")
    assert problems == []

    # Unlink asks first, then the version is gone (its number is never reused).
    asked = world.confirm_next(page, page.get_by_role("button", name="Unlink v0"))
    assert "Unlink v0" in asked
    expect(page.locator('tr[data-version="v0"]')).to_have_count(0)
    assert versions_shown(page) == ["v1"]

    # Delete needs the exact name typed.
    page.get_by_label("to delete this collection").fill("sentiment")
    world.submit(page, page.get_by_role("button", name="Delete collection"))
    expect(page.locator("#delete-confirm-error")).to_contain_text("type the collection's name")
    expect(page.get_by_label("to delete this collection")).to_have_value("sentiment")
    page.get_by_label("to delete this collection").fill("sentiment-v2")
    page.get_by_role("button", name="Delete collection").click()
    page.wait_for_url(re.compile(rf"/registry/default/{name}$"))
    expect(page.get_by_text("No collections yet.")).to_be_visible()


def test_protected_collection_for_members_and_admins(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name, collection = world.unique("Guarded"), "classifier"
    bob = world.unique("bob")
    world.new_user(site, bob)
    world.new_registry(site, name)
    world.add_members(site, name, **{bob: "member"})
    patched = site.api(
        "PATCH", f"/orgs/default/registries/{name}", json={"protected_aliases": ["production"]}
    )
    assert patched.status_code == 200, patched.text
    world.link_refs(site, name, collection, world.log_versions(site, world.unique("guarded"), 3))
    moved = site.api(
        "PUT",
        f"/orgs/default/registries/{name}/collections/{collection}/aliases/production",
        json={"version": "v0"},
    )
    assert moved.status_code == 200, moved.text
    url = f"{site.base}/registry/default/{name}/collections/{collection}"

    member = new_page()
    world.sign_in(member, site, bob)
    member.goto(url)
    # No unlink control on the protected holder, and the server refuses a forged one too.
    expect(member.get_by_role("button", name="Unlink v0")).to_have_count(0)
    expect(member.get_by_text("v0 holds a protected alias")).to_have_count(1)
    token = member.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged = member.request.post(f"{url}/versions/v0/unlink", form={"csrf_token": token})
    assert forged.status == 403
    assert "only registry admins" in forged.text()
    world.confirm_next(member, member.get_by_role("button", name="Unlink v2"))
    expect(member.locator('tr[data-version="v2"]')).to_have_count(0)

    # A member cannot delete the collection while v0 holds `production`; the refusal is inline.
    member.get_by_label("to delete this collection").fill(collection)
    world.submit(member, member.get_by_role("button", name="Delete collection"))
    expect(member.locator("#problem-delete")).to_contain_text("only registry admins")
    expect(member.locator("#problem-delete")).to_be_in_viewport()
    shoot(member, "collection-delete-refused")
    member.goto(url)
    assert versions_shown(member) == ["v1", "v0"]

    admin = new_page()
    world.sign_in(admin, site, "admin")
    admin.goto(url)
    world.confirm_next(admin, admin.get_by_role("button", name="Unlink v1"))
    expect(admin.locator('tr[data-version="v1"]')).to_have_count(0)
    admin.get_by_label("to delete this collection").fill(collection)
    admin.get_by_role("button", name="Delete collection").click()
    admin.wait_for_url(re.compile(rf"/registry/default/{name}$"))
    expect(admin.locator("#collection-list")).not_to_contain_text(collection)


def test_versions_and_history_pages(new_page: NewPage, web_server: Site) -> None:
    site = web_server
    name, collection, count = world.unique("Paged"), "many", 55
    world.new_registry(site, name)
    world.link_refs(site, name, collection, world.log_versions(site, world.unique("paged"), count))
    url = f"{site.base}/registry/default/{name}/collections/{collection}"
    history = site.api(
        "GET", f"/orgs/default/registries/{name}/collections/{collection}/history?per_page=1000"
    )
    assert history.status_code == 200, history.text
    all_events = [e["id"] for e in history.json()]
    assert len(all_events) > 30

    page = new_page()
    world.sign_in(page, site, "admin")
    page.goto(url)
    first = versions_shown(page)
    assert len(first) == 50
    assert first[:2] == ["v54", "v53"], "newest first"
    expect(page.get_by_role("link", name="Newest versions")).to_have_count(0)
    shoot(page, "collection-paged")
    page.get_by_role("link", name="Older versions").click()
    expect(page.locator("tr[data-version]")).to_have_count(count - 50)
    rest = versions_shown(page)
    assert rest == [f"v{i}" for i in range(count - 51, -1, -1)]
    expect(page.get_by_role("link", name="Older versions")).to_have_count(0)
    expect(page.get_by_role("link", name="Newest versions")).to_be_visible()
    shown = first + rest
    assert len(set(shown)) == len(shown) == count, "nothing duplicated or lost"

    page.goto(url)
    seen: list[int] = []
    for _ in range(10):
        events = events_shown(page)
        assert 0 < len(events) <= 30
        seen += events
        older = page.get_by_role("link", name="Older events")
        if older.count() == 0:
            break
        older.click()
        expect(page.locator("li[data-event]").first).not_to_have_attribute(
            "data-event", str(events[0])
        )
    assert seen == all_events, "every event once, newest first"
