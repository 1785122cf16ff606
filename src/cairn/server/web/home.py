"""The registry home: cards the caller can see, search and filters, and "Create registry"."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import ORG_ROLES_THAT_CREATE_REGISTRIES, Visibility
from cairn.server.http.deps import Db, State
from cairn.server.http.identity import SessionCaller
from cairn.server.services import orgs, registries
from cairn.server.web.forms import (
    Problem,
    Short,
    Text,
    attempt,
    name_search,
    registry_url,
    see_other,
    split_list,
)
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 24
# Which field of "Create registry" a refusal is about, by the service's wording.
CREATE_FIELDS = (
    ("name", r"registry name|registry named"),
    ("description", r"^description"),
    ("visibility", r"visibility"),
    ("types", r"type"),
)
VISIBILITY_CHOICES = {
    "restricted": "Restricted — Only invited organization members can access",
    "organization": "Organization — Everyone in the organization can access",
}


def current_org(db: Session, caller: Principal, wanted: str | None, default: str) -> orgs.OrgAccess:
    """The organization a page is about: the one asked for, else the configured default."""
    found = orgs.list_for(db, caller)
    by_name = {m.org.name.lower(): m for m in found}
    for name in (wanted, default):
        if name and name.lower() in by_name:
            return by_name[name.lower()]
    if not found:
        return orgs.access(db, caller, default)  # 404: the caller is in no organization
    return found[0]


def registry_filter(q: str, visibility: str, type_: str) -> str | None:
    """The filter document for the home page's search box and drop-downs."""
    by_name = name_search(q)
    parts: list[dict[str, Any]] = [by_name] if by_name else []
    if visibility:
        parts.append({"visibility": visibility})
    if type_:
        parts.append({"type": type_})
    return json.dumps({"$and": parts}) if parts else None


@router.get("/registry", response_class=HTMLResponse)
def home(
    request: Request,
    caller: SessionCaller,
    db: Db,
    state: State,
    org: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str, Query(max_length=128)] = "",
    visibility: Annotated[str, Query(max_length=16)] = "",
    type: Annotated[str, Query(max_length=128)] = "",
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> HTMLResponse:
    """One page of registry cards."""
    member = current_org(db, caller, org, state.settings.default_org)
    if visibility not in VISIBILITY_CHOICES:
        visibility = ""
    items, next_cursor = registries.list_visible(
        db,
        caller,
        member.org.name,
        filter_json=registry_filter(q, visibility, type.strip()),
        per_page=PER_PAGE,
        cursor=cursor,
    )
    counts = registries.collection_counts(db, [v.registry.id for v in items])
    return page(
        request,
        "home.html",
        org=member.org.name,
        orgs=[m.org.name for m in orgs.list_for(db, caller)],
        can_create=member.role in ORG_ROLES_THAT_CREATE_REGISTRIES,
        items=items,
        counts=counts,
        next_cursor=next_cursor,
        first_page=cursor is not None,
        q=q,
        visibility=visibility,
        type=type,
        visibilities=VISIBILITY_CHOICES,
        url_of=registry_url,
    )


def _form(request: Request, org: str, problem: Problem | None = None) -> HTMLResponse:
    return page(
        request,
        "create.html",
        status=problem.status if problem else 200,
        org=org,
        visibilities=VISIBILITY_CHOICES,
        problem=problem,
    )


@router.get("/registry/new", response_class=HTMLResponse)
def create_form(
    request: Request,
    caller: SessionCaller,
    db: Db,
    state: State,
    org: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The "Create registry" form (W&B's steps, in order)."""
    member = current_org(db, caller, org, state.settings.default_org)
    return _form(request, member.org.name)


@router.post("/registry/new", response_class=HTMLResponse)
def create(
    request: Request,
    caller: SessionCaller,
    db: Db,
    org: Annotated[str, Form(max_length=64)],
    name: Short = "",
    description: Text = "",
    visibility: Annotated[str, Form(max_length=32)] = Visibility.RESTRICTED.value,
    type_mode: Annotated[str, Form(max_length=16)] = "all",
    types: Short = "",
) -> Response:
    """Create the registry; on a refusal, show the server's message and keep what was typed."""
    member = orgs.access(db, caller, org)
    wanted = split_list(types) if type_mode == "specify" else []
    typed = {
        "name": name,
        "description": description,
        "visibility": visibility,
        "type_mode": type_mode,
        "types": types,
    }
    created: list[registries.RegistryView] = []
    problem = (
        Problem(
            "create",
            "add at least one artifact type, or choose All types",
            422,
            "types",
            typed,
        )
        if type_mode == "specify" and not wanted
        else attempt(
            db,
            "create",
            lambda: created.append(
                registries.create(
                    db,
                    caller,
                    member,
                    name=name,
                    visibility=visibility,
                    description=description or None,
                    artifact_types=wanted,
                )
            ),
            fields=CREATE_FIELDS,
            values=typed,
        )
    )
    if problem is not None:
        return _form(request, member.org.name, problem)
    view = created[0]
    return see_other(registry_url(view.org_name, view.registry.name))
