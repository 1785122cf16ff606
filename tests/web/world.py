"""Seeding the web tests' server through its API and SDK, and signing in through the form."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Dialog, Error, Locator, Page

import cairn
from tests.conftest import ADMIN_PASSWORD

PASSWORD = "web-tests-password-1"
XSS_DESCRIPTION = (
    "Fine-tuned **models**.\n\n"
    "<script>window.__xss = 'script'; alert('script')</script>\n\n"
    "<img src=x onerror=\"window.__xss = 'img'; alert('img')\">\n\n"
    "[click me](javascript:alert('link'))"
)


@dataclass(frozen=True)
class Site:
    """The server under test: its base URL and an API key of the superuser `admin`."""

    base: str
    admin_key: str

    def api(self, method: str, path: str, **kw: object) -> httpx.Response:
        """One API call as `admin`."""
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return httpx.request(method, f"{self.base}/api/v1{path}", headers=headers, **kw)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{secrets.token_hex(3)}"


def new_user(site: Site, username: str, *, role: str = "member") -> str:
    """A user of `default` with PASSWORD and an email; returns the email."""
    email = f"{username}@example.com"
    resp = site.api(
        "POST",
        "/orgs/default/users",
        json={"username": username, "email": email, "password": PASSWORD, "role": role},
    )
    assert resp.status_code == 201, resp.text
    return email


def sign_in_with(page: Page, site: Site, username: str, password: str) -> None:
    """Fill the sign-in form with any password (the caller checks where it lands)."""
    page.goto(f"{site.base}/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, site: Site, username: str) -> None:
    """Sign in through the form (as `admin` or a user made by new_user) and land on the home."""
    sign_in_with(page, site, username, ADMIN_PASSWORD if username == "admin" else PASSWORD)
    page.wait_for_url(f"{site.base}/registry")


def submit(page: Page, button: Locator) -> None:
    """Click a form's button and wait until the server has answered its POST.

    Pages are boosted by htmx, so a submit is not a navigation Playwright would wait for.
    """
    with page.expect_response(lambda r: r.request.method == "POST"):
        button.click()


def link_versions(site: Site, registry: str, collection: str, folder: Path, count: int) -> None:
    """Log `count` versions of a model as `admin` and link each into registry/collection."""
    with cairn.Api(base_url=site.base, api_key=site.admin_key, organization="default") as api:
        for i in range(count):
            path = folder / f"weights-{i}.bin"
            path.write_bytes(f"weights {i} ".encode() * 100)
            art = cairn.Artifact("classifier", type="model", metadata={"f1": 0.8 + i / 100})
            art.add_file(path, name="model.bin")
            logged = api.log_artifact(art, project="admin/web-tests", progress=False)
            logged.link(f"default/{registry}/{collection}")


def new_registry(site: Site, name: str, *, types: list[str] | None = None, **more: object) -> None:
    """A restricted registry made through the API by `admin` (its first admin)."""
    body = {"name": name, "visibility": "restricted", "artifact_types": types or [], **more}
    resp = site.api("POST", "/orgs/default/registries", json=body)
    assert resp.status_code == 201, resp.text


def add_members(site: Site, registry: str, **roles: str) -> None:
    """Give users (by username) roles on a registry."""
    members = [{"member": user, "role": role} for user, role in roles.items()]
    path = f"/orgs/default/registries/{registry}/members"
    resp = site.api("POST", path, json={"members": members})
    assert resp.status_code == 201, resp.text


def log_versions(site: Site, artifact: str, count: int) -> list[str]:
    """Log `count` distinct model versions as `admin`, quickly: one tiny blob, sent once, under a
    different file name in each version. Returns their references."""
    payload = f"{artifact} weights".encode()
    digest = hashlib.sha256(payload).hexdigest()
    headers = {"Authorization": f"Bearer {site.admin_key}"}
    refs = []
    with httpx.Client(base_url=f"{site.base}/api/v1", headers=headers, timeout=30) as client:
        put = client.put(
            f"/blobs/{digest}",
            content=payload,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code in (200, 201), put.text
        for i in range(count):
            files = [{"path": f"model-{i}.bin", "sha256": digest, "size": len(payload)}]
            body = {"name": artifact, "type": "model", "files": files}
            logged = client.post("/projects/admin/web-tests/artifacts", json=body)
            assert logged.status_code in (200, 201), logged.text
            refs.append(logged.json()["ref"])
    return refs


def link_refs(site: Site, registry: str, collection: str, refs: list[str]) -> None:
    """Link logged versions into registry/collection in order (v0 first)."""
    path = f"{site.base}/api/v1/orgs/default/registries/{registry}/collections/{collection}"
    headers = {"Authorization": f"Bearer {site.admin_key}"}
    with httpx.Client(headers=headers, timeout=30) as client:
        for ref in refs:
            resp = client.post(f"{path}/versions", json={"source": ref})
            assert resp.status_code == 201, resp.text


def watch_for_script(page: Page, *, answered: tuple[str, ...] = ("confirm",)) -> list[str]:
    """Collect dialogs opened and errors raised on `page` (an unexpected dialog means XSS ran).

    Dialogs of the `answered` types are the page's own questions, answered by confirm_next;
    pages that ask none pass `answered=()`, so that any dialog at all counts.
    """
    seen: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        if dialog.type not in answered:
            seen.append(f"dialog: {dialog.message}")
            dialog.dismiss()

    def on_error(error: Error) -> None:
        seen.append(f"pageerror: {error}")

    page.on("dialog", on_dialog)
    page.on("pageerror", on_error)
    return seen


def confirm_next(page: Page, button: Locator) -> str:
    """Click a button that asks for confirmation, accept it, wait for the POST; the question."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    submit(page, button)
    return asked[0] if asked else ""
