"""Form plumbing shared by the page routers: redirects, safe `next`, errors shown inline."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Form, Query
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cairn.server.domain.errors import CairnError
from cairn.server.http.errors import STATUS

HOME = "/registry"
Short = Annotated[str, Form(max_length=1024)]  # a name, a role, a list of names
Text = Annotated[str, Form(max_length=70_000)]  # a description (the service caps it)
After = Annotated[str | None, Query(max_length=64)]  # where a page of a keyset-paged list starts


# Which field of a form a service's message is about: (field, pattern searched in the message).
FieldRules = Sequence[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Problem:
    """A refused form: where to show it, what the service said, and the status to answer.

    `field` names the input the message is about (shown beside it), None for the whole form;
    `values` are what was typed, so the form comes back as the user left it.
    """

    section: str
    message: str
    status: int
    field: str | None = None
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def kept(self, section: str, name: str, default: str = "") -> str:
        """What was typed into `name` if this refusal is about `section`, else `default`."""
        return self.values.get(name, default) if self.section == section else default


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


def field_of(message: str, rules: FieldRules) -> str | None:
    """The first field whose pattern the message matches."""
    return next((name for name, pattern in rules if re.search(pattern, message)), None)


def attempt(
    db: Session,
    section: str,
    action: Callable[[], object],
    *,
    fields: FieldRules = (),
    values: Mapping[str, str] | None = None,
) -> Problem | None:
    """Run a service call; on a refusal, undo its writes and describe it for the form."""
    try:
        action()
        db.flush()
    except CairnError as exc:
        db.rollback()
        return refusal(section, exc, fields=fields, values=values)
    return None


def refusal(
    section: str,
    exc: CairnError,
    *,
    fields: FieldRules = (),
    values: Mapping[str, str] | None = None,
) -> Problem:
    """A service's refusal as a Problem, pinned to the field its message is about."""
    return Problem(
        section,
        exc.message,
        STATUS.get(type(exc), 400),
        field_of(exc.message, fields),
        dict(values or {}),
    )


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


def text(raw: str) -> str:
    """A textarea's value with the browser's CRLF line breaks made LF, as the API stores them."""
    return raw.replace("\r\n", "\n")


def split_list(raw: str) -> list[str]:
    """Comma- or whitespace-separated names from a text field."""
    return [p for p in raw.replace(",", " ").split() if p]
