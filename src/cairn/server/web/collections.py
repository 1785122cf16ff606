"""A collection's page: versions, aliases (protected ones locked), tags, history; alias edits."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import parse_selector
from cairn.server.domain.roles import Action, RegistryRole, allows
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import collection_aliases, collections, history, linked, registries
from cairn.server.web import usage
from cairn.server.web.forms import (
    Problem,
    Short,
    attempt,
    collection_url,
    registry_url,
    see_other,
)
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
COLLECTION = "/registry/{org}/{registry}/collections/{collection}"
PER_PAGE = 50
HISTORY = 30


def collection_page(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    collection: str,
    problem: Problem | None = None,
) -> HTMLResponse:
    """The collection with its newest versions and history."""
    view = collections.get(db, caller, org, registry, collection)
    reg = registries.views(db, view.org_name, [(view.registry, RegistryRole(view.role))])
    versions, more = linked.search(
        db,
        caller,
        view.org_name,
        registry_name=view.registry.name,
        collection_name=view.collection.name,
        per_page=PER_PAGE,
    )
    events = history.collection_history(
        db, caller, view.org_name, view.registry.name, view.collection.name, per_page=HISTORY
    )
    role = reg[0].role
    return page(
        request,
        "collection.html",
        status=problem.status if problem else 200,
        view=view,
        versions=versions,
        more=more is not None,
        events=events,
        protected=set(reg[0].protected_aliases),
        can_write=allows(role, Action.WRITE),
        can_protect=allows(role, Action.MANAGE_PROTECTED_ALIASES),
        problem=problem,
        base=collection_url(view.org_name, view.registry.name, view.collection.name),
        registry_base=registry_url(view.org_name, view.registry.name),
        usage=usage.for_version(
            f"{view.org_name}/{view.registry.name}/{view.collection.name}:latest"
        ),
    )


@router.get(COLLECTION, response_class=HTMLResponse)
def show(
    request: Request, org: str, registry: str, collection: str, caller: SessionCaller, db: Db
) -> Response:
    """A collection the caller can see."""
    return collection_page(request, db, caller, org, registry, collection)


@router.post(COLLECTION + "/aliases")
def set_alias(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    caller: SessionCaller,
    db: Db,
    alias: Short,
    version: Short,
) -> Response:
    """Add an alias to a version or move it there (protected aliases: registry admins)."""
    problem = attempt(
        db,
        "aliases",
        lambda: collection_aliases.set_alias(
            db, caller, org, registry, collection, alias.strip(), parse_selector(version)
        ),
    )
    if problem is not None:
        return collection_page(request, db, caller, org, registry, collection, problem)
    return see_other(collection_url(org, registry, collection))


@router.post(COLLECTION + "/aliases/{alias}/remove")
def remove_alias(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    alias: str,
    caller: SessionCaller,
    db: Db,
) -> Response:
    """Remove an alias from its version (protected aliases: registry admins)."""
    problem = attempt(
        db,
        "aliases",
        lambda: collection_aliases.remove_alias(db, caller, org, registry, collection, alias),
    )
    if problem is not None:
        return collection_page(request, db, caller, org, registry, collection, problem)
    return see_other(collection_url(org, registry, collection))
