"""The organization's audit log for its admins: filters, newest first, keyset pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cairn.server.db.models import AuditEvent
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import history, orgs
from cairn.server.web.forms import Problem, attempt
from cairn.server.web.org_admin import ORG, PER_PAGE, org_page

router = APIRouter(include_in_schema=False)
Filter = Annotated[str, Query(max_length=128)]
# Suggestions for the action box; the filter matches any action starting with what is typed.
ACTIONS = [
    "auth.",
    "user.",
    "org.member.",
    "team.",
    "key.",
    "registry.",
    "collection.",
    "version.",
    "alias.",
    "artifact.",
]


@dataclass(frozen=True)
class Filters:
    """What the filter form holds, as typed."""

    actor: str = ""
    action: str = ""
    target: str = ""
    registry: str = ""
    since: str = ""
    until: str = ""

    def query(self, **extra: object) -> dict[str, object]:
        """The query string of these filters (empty ones left out), plus `extra`."""
        kept = {k: v for k, v in vars(self).items() if v}
        return {**kept, **extra}


def day(raw: str, *, end: bool) -> datetime | None:
    """A YYYY-MM-DD date as a UTC instant: its start, or (end) the start of the next day."""
    if not raw:
        return None
    start = datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
    return start + timedelta(days=1) if end else start


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """An event's before → after, as compact JSON text (escaped by the template)."""

    def text(value: dict[str, Any] | None) -> str:
        return json.dumps(value, sort_keys=True, separators=(", ", ": ")) if value else ""

    if before and after:
        return f"{text(before)} → {text(after)}"
    return text(after) or text(before)


@router.get(ORG + "/audit", response_class=HTMLResponse)
def show(
    request: Request,
    org: str,
    caller: SessionCaller,
    db: Db,
    actor: Filter = "",
    action: Filter = "",
    target: Filter = "",
    registry: Filter = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    """Who did what, newest first: 404 for non-members, 403 for members who are not admins."""
    member = orgs.admin_access(db, caller, org)
    shown = Filters(*(v.strip() for v in (actor, action, target, registry, since, until)))
    events: list[AuditEvent] = []
    problem: Problem | None = None
    try:
        window = (day(shown.since, end=False), day(shown.until, end=True))
    except ValueError:
        problem = Problem("filters", "dates must be written YYYY-MM-DD", 422)
    else:
        problem = attempt(
            db,
            "filters",
            lambda: events.extend(
                history.audit_log(
                    db,
                    caller,
                    member.org.name,
                    actor_name=shown.actor or None,
                    action=shown.action or None,
                    target=shown.target or None,
                    registry=shown.registry or None,
                    since=window[0],
                    until=window[1],
                    per_page=PER_PAGE + 1,
                    before_id=before,
                )
            ),
        )
    page_events = events[:PER_PAGE]
    return org_page(
        request,
        db,
        caller,
        member,
        "org_audit.html",
        tab="audit",
        problem=problem,
        events=[(e, change(e.before, e.after)) for e in page_events],
        filters=shown,
        actions=ACTIONS,
        paged=before is not None,
        next_before=page_events[-1].id if len(events) > PER_PAGE else None,
    )
