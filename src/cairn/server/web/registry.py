"""A registry's page: its collections (searchable, paged) and how to use them."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cairn.server.domain.roles import Action, allows
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import collections, registries
from cairn.server.web import usage
from cairn.server.web.forms import collection_url, name_search, registry_url
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


@router.get("/registry/{org}/{registry}", response_class=HTMLResponse)
def registry_page(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    q: Annotated[str, Query(max_length=128)] = "",
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse:
    """Collections of a registry the caller can see (404 otherwise, as for a missing one)."""
    view = registries.get(db, caller, org, registry)
    by_name = name_search(q)
    items, next_cursor = collections.list_page(
        db,
        caller,
        view.org_name,
        view.registry.name,
        filter_json=json.dumps(by_name) if by_name else None,
        per_page=PER_PAGE,
        cursor=cursor,
    )
    return page(
        request,
        "registry.html",
        view=view,
        items=items,
        next_cursor=next_cursor,
        first_page=cursor is not None,
        q=q,
        can_write=allows(view.role, Action.WRITE),
        base=registry_url(view.org_name, view.registry.name),
        collection_url=collection_url,
        usage=usage.for_registry(view.org_name, view.registry.name),
    )
