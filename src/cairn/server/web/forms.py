"""Form plumbing shared by the page routers: redirects, safe `next`, errors shown inline."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Form
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cairn.server.domain.errors import CairnError
from cairn.server.http.errors import STATUS

HOME = "/registry"
Short = Annotated[str, Form(max_length=1024)]  # a name, a role, a list of names
Text = Annotated[str, Form(max_length=70_000)]  # a description (the service caps it)


@dataclass(frozen=True)
class Problem:
    """A refused form: where to show it, what the service said, and the status to answer."""

    section: str
    message: str
    status: int


def see_other(url: str) -> RedirectResponse:
    """Redirect after a successful POST."""
    return RedirectResponse(url, status_code=303)


def safe_next(raw: str | None) -> str:
    """A same-origin path to go to after sign-in; anything else means the home page."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return HOME
    if any(ord(c) < 0x20 or c == "\\" for c in raw):
        return HOME
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return HOME
    return raw


def attempt(db: Session, section: str, action: Callable[[], object]) -> Problem | None:
    """Run a service call; on a refusal, undo its writes and describe it for the form."""
    try:
        action()
        db.flush()
    except CairnError as exc:
        db.rollback()
        return Problem(section, exc.message, STATUS.get(type(exc), 400))
    return None


def registry_url(org: str, registry: str, *rest: str) -> str:
    """The page of a registry, or of something below it."""
    return "/".join(["", "registry", quote(org, safe=""), quote(registry, safe=""), *rest])


def collection_url(org: str, registry: str, collection: str, *rest: str) -> str:
    """The page of a collection, or of something below it."""
    return registry_url(org, registry, "collections", quote(collection, safe=""), *rest)


def name_search(query: str) -> dict[str, Any] | None:
    """The filter for a search box: names containing `query`, ignoring case."""
    query = query.strip()
    return {"name": {"$regex": "(?i)" + re.escape(query)}} if query else None


def split_list(raw: str) -> list[str]:
    """Comma- or whitespace-separated names from a text field."""
    return [p for p in raw.replace(",", " ").split() if p]
