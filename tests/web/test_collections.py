"""Collections and versions in a real browser: protected aliases, history, files, downloads."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web import world
from tests.web.conftest import NewPage, shoot
from tests.web.world import Site


def set_alias(page: Page, alias: str, version: str) -> None:
    page.get_by_label("Alias", exact=True).fill(alias)
    page.get_by_label("Version", exact=True).select_option(version)
    world.submit(page, page.get_by_role("button", name="Set alias"))


def holder(page: Page, alias: str) -> str | None:
    """Which version row shows `alias`."""
    row = page.locator("tr[data-version]").filter(has=page.locator(f'[data-alias="{alias}"]'))
    return row.get_attribute("data-version") if row.count() == 1 else None


def test_protected_alias_moves_for_admins_only(
    new_page: NewPage, web_server: Site, tmp_path: Path
) -> None:
    site = web_server
    name, collection = world.unique("Prod"), "classifier"
    bob, rita = world.unique("bob"), world.unique("rita")
    world.new_user(site, bob)
    world.new_user(site, rita)
    resp = site.api(
        "POST",
        "/orgs/default/registries",
        json={"name": name, "visibility": "restricted", "description": "See *below*."},
    )
    assert resp.status_code == 201, resp.text
    members = [{"member": bob, "role": "member"}, {"member": rita, "role": "restricted_viewer"}]
    resp = site.api("POST", f"/orgs/default/registries/{name}/members", json={"members": members})
    assert resp.status_code == 201, resp.text
    world.link_versions(site, name, collection, tmp_path, 2)
    page_url = f"{site.base}/registry/default/{name}/collections/{collection}"

    admin = new_page()
    world.sign_in(admin, site, "admin")
    admin.goto(f"{site.base}/registry/default/{name}/settings")
    admin.get_by_label("Protected alias names").fill("production")
    world.submit(admin, admin.get_by_role("button", name="Save protected aliases"))
    expect(admin.get_by_role("list", name="Protected aliases")).to_contain_text("production")

    admin.goto(f"{site.base}/registry/default/{name}")
    row = admin.locator("tbody tr").filter(has_text=collection)
    expect(row).to_contain_text("model")
    expect(row.locator("td").nth(2)).to_have_text("2")
    admin.get_by_role("link", name=collection).click()
    admin.wait_for_url(page_url)
    set_alias(admin, "production", "v0")
    locked = admin.locator('tr[data-version="v0"] [data-alias="production"]')
    expect(locked.locator(".lock")).to_be_visible()
    expect(locked).to_contain_text("protected alias")  # said in words, not only drawn
    set_alias(admin, "production", "v1")  # an admin moves the protected alias
    expect(admin.locator('tr[data-version="v1"] [data-alias="production"]')).to_be_visible()
    assert holder(admin, "production") == "v1"
    set_alias(admin, "staging", "v0")
    expect(admin.locator(".timeline li")).not_to_have_count(0)
    expect(admin.locator(".timeline")).to_contain_text("alias.move")
    shoot(admin, "collection")

    member = new_page()
    world.sign_in(member, site, bob)
    member.goto(page_url)
    # A member sees no remove control on the protected alias, but has one for ordinary aliases.
    expect(member.get_by_role("button", name="Remove alias production")).to_have_count(0)
    expect(member.get_by_role("button", name="Remove alias staging")).to_have_count(1)
    expect(member.get_by_text("your role cannot change them")).to_be_visible()
    set_alias(member, "production", "v0")
    expect(member.get_by_role("alert")).to_contain_text("only registry admins")
    member.goto(page_url)
    assert holder(member, "production") == "v1", "the refused move changed nothing"
    world.submit(member, member.get_by_role("button", name="Remove alias staging"))
    expect(member.locator('[data-alias="staging"]')).to_have_count(0)

    # The version page: metadata, files with digests, download for those allowed.
    member.goto(f"{page_url}/versions/v1")
    expect(member.locator(".facts")).to_contain_text("admin/web-tests/classifier:v1")
    expect(member.locator("pre").first).to_contain_text('"f1": 0.81')
    expect(member.locator("code.digest")).to_have_count(1)
    expect(member.locator("#usage-ref")).to_have_text(f"default/{name}/{collection}:v1")
    with member.expect_download() as download:
        member.get_by_role("link", name="Download model.bin").click()
    assert download.value.suggested_filename == "model.bin"
    assert Path(download.value.path()).read_bytes() == b"weights 1 " * 100
    shoot(member, "version")

    viewer = new_page()  # a restricted viewer sees the file list but gets no download link
    world.sign_in(viewer, site, rita)
    viewer.goto(f"{page_url}/versions/v1")
    expect(viewer.locator("code.digest")).to_have_count(1)
    expect(viewer.get_by_role("link", name="Download model.bin")).to_have_count(0)
    expect(viewer.get_by_text("can see the file list but not download")).to_be_visible()
    digest = viewer.locator("code.digest").inner_text()
    refused = viewer.request.get(f"{page_url}/versions/v1/files/{digest}")
    assert refused.status == 404


def test_version_page_shows_where_else_it_is_linked_but_not_in_hidden_registries(
    new_page: NewPage, web_server: Site
) -> None:
    site = web_server
    shown, hidden, viewer = world.unique("Shown"), world.unique("Hidden"), world.unique("vic")
    world.new_user(site, viewer)
    world.new_registry(site, shown)
    world.new_registry(site, hidden)
    world.add_members(site, shown, **{viewer: "viewer"})
    [ref] = world.log_versions(site, world.unique("shared"), 1)
    world.link_refs(site, shown, "main", [ref])
    world.link_refs(site, shown, "copy", [ref])
    world.link_refs(site, hidden, "secret", [ref])
    url = f"{site.base}/registry/default/{shown}/collections/main/versions/v0"

    admin = new_page()
    world.sign_in(admin, site, "admin")
    admin.goto(url)
    others = admin.get_by_role("region", name="Also linked as")
    expect(others.get_by_role("link")).to_have_count(2)
    expect(others).to_contain_text(f"default/{hidden}/secret:v0")

    page = new_page()
    world.sign_in(page, site, viewer)
    page.goto(url)
    others = page.get_by_role("region", name="Also linked as")
    expect(others.get_by_role("link")).to_have_text([f"default/{shown}/copy:v0"])
    others.get_by_role("link").click()
    page.wait_for_url(f"{site.base}/registry/default/{shown}/collections/copy/versions/v0")
    shoot(page, "version-linked-elsewhere")
