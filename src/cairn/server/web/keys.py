"""API keys page: create (the key is shown once), list, revoke — for the signed-in user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import accounts, keys
from cairn.server.web.forms import Short, attempt, see_other
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)


@router.get("/keys", response_class=HTMLResponse)
def show(request: Request, caller: SessionCaller, db: Db) -> HTMLResponse:
    """The caller's live keys."""
    owner = accounts.get_user(db, caller.username)
    return page(request, "keys.html", keys=keys.list_for(db, owner), new_key=None, error=None)


@router.post("/keys", response_class=HTMLResponse)
def create(
    request: Request,
    caller: SessionCaller,
    db: Db,
    name: Short = "",
) -> HTMLResponse:
    """A new key, shown in this answer only."""
    owner = accounts.get_user(db, caller.username)
    created: list[str] = []
    problem = attempt(
        db, "keys", lambda: created.append(keys.create(db, caller, owner, name.strip())[1])
    )
    return page(
        request,
        "keys.html",
        status=problem.status if problem else 201,
        keys=keys.list_for(db, owner),
        new_key=created[0] if created else None,
        error=problem.message if problem else None,
    )


@router.post("/keys/{key_id}/revoke")
def revoke(key_id: Annotated[int, Path(ge=1, le=2**53)], caller: SessionCaller, db: Db) -> Response:
    """Revoke one of the caller's keys."""
    keys.revoke(db, caller, key_id)
    return see_other("/keys")
