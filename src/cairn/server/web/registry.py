"""A registry's page: its collections (searchable, paged), how to use them, and "New collection"."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action, allows
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import collections, registries
from cairn.server.web import usage
from cairn.server.web.forms import (
    Problem,
    Short,
    Text,
    attempt,
    collection_url,
    name_search,
    registry_url,
    see_other,
    split_list,
    text,
)
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
REGISTRY = "/registry/{org}/{registry}"
# Which field a refusal is about, by the service's wording (see forms.field_of).
CREATE_FIELDS = (
    ("name", r"^collection "),
    ("tags", r"^tag |tags$"),
    ("description", r"^description"),
    ("type", r"type"),
)


def registry_page(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    *,
    q: str = "",
    cursor: str | None = None,
    problem: Problem | None = None,
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
        status=problem.status if problem else 200,
        view=view,
        items=items,
        next_cursor=next_cursor,
        first_page=cursor is not None,
        q=q,
        can_write=allows(view.role, Action.WRITE),
        problem=problem,
        base=registry_url(view.org_name, view.registry.name),
        collection_url=collection_url,
        usage=usage.for_registry(view.org_name, view.registry.name),
    )


@router.get(REGISTRY, response_class=HTMLResponse)
def show(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    q: Annotated[str, Query(max_length=128)] = "",
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse:
    """One page of the registry's collections, by name."""
    return registry_page(request, db, caller, org, registry, q=q, cursor=cursor)


@router.post(REGISTRY + "/collections")
def create_collection(
    request: Request,
    org: str,
    registry: str,
    caller: SessionCaller,
    db: Db,
    name: Short = "",
    type: Annotated[str, Form(max_length=128)] = "",
    description: Text = "",
    tags: Short = "",
) -> Response:
    """A new collection (registry members); its type is fixed from now on."""
    description = text(description)
    created: list[collections.CollectionView] = []
    problem = attempt(
        db,
        "create",
        lambda: created.append(
            collections.create(
                db,
                caller,
                org,
                registry,
                name=name.strip(),
                type_=type.strip(),
                description=description or None,
                tags=split_list(tags),
            )[0]
        ),
        fields=CREATE_FIELDS,
        values={"name": name, "type": type, "description": description, "tags": tags},
    )
    if problem is not None:
        return registry_page(request, db, caller, org, registry, problem=problem)
    view = created[0]
    return see_other(collection_url(view.org_name, view.registry.name, view.collection.name))
