"""A collection's page (versions and history, paged) and what members do there: edit, delete,
link and unlink versions, set and remove aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.domain.errors import ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import parse_ref, parse_selector
from cairn.server.domain.roles import Action, RegistryRole, allows
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import (
    artifacts,
    collection_aliases,
    collections,
    history,
    linked,
    links,
    registries,
)
from cairn.server.web import usage
from cairn.server.web.forms import (
    Problem,
    Short,
    Text,
    attempt,
    collection_url,
    registry_url,
    see_other,
    split_list,
    text,
)
from cairn.server.web.templating import page

router = APIRouter(include_in_schema=False)
COLLECTION = "/registry/{org}/{registry}/collections/{collection}"
PER_PAGE = 50
HISTORY = 30
Cursor = Annotated[str | None, Query(max_length=2048)]
Before = Annotated[int | None, Query(ge=1, le=2**53)]
# Which field a refusal is about, by the service's wording (see forms.field_of).
EDIT_FIELDS = (
    ("name", r"^collection "),
    ("tags", r"^tag |tags$"),
    ("description", r"^description"),
)
LINK_FIELDS = (("aliases", r"^alias |protected alias"), ("source", r"."))


def collection_page(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    collection: str,
    problem: Problem | None = None,
    *,
    cursor: str | None = None,
    before: int | None = None,
) -> HTMLResponse:
    """The collection with one page of versions (newest first) and one page of its history."""
    view = collections.get(db, caller, org, registry, collection)
    reg = registries.views(db, view.org_name, [(view.registry, RegistryRole(view.role))])
    versions, next_cursor = linked.search(
        db,
        caller,
        view.org_name,
        registry_name=view.registry.name,
        collection_name=view.collection.name,
        per_page=PER_PAGE,
        cursor=cursor,
    )
    events = history.collection_history(
        db,
        caller,
        view.org_name,
        view.registry.name,
        view.collection.name,
        per_page=HISTORY + 1,
        before_id=before,
    )
    role = reg[0].role
    protected = set(reg[0].protected_aliases)
    return page(
        request,
        "collection.html",
        status=problem.status if problem else 200,
        view=view,
        versions=versions,
        next_cursor=next_cursor,
        newer_versions=cursor is not None,
        events=events[:HISTORY],
        older_events=events[HISTORY - 1].id if len(events) > HISTORY else None,
        newer_events=before is not None,
        protected=protected,
        holds_protected={
            v.linked.version_index for v in versions if protected.intersection(v.aliases)
        },
        can_write=allows(role, Action.WRITE),
        can_protect=allows(role, Action.MANAGE_PROTECTED_ALIASES),
        problem=problem,
        base=collection_url(view.org_name, view.registry.name, view.collection.name),
        registry_base=registry_url(view.org_name, view.registry.name),
        usage=usage.for_version(
            f"{view.org_name}/{view.registry.name}/{view.collection.name}:latest"
        ),
    )


def _answer(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    collection: str,
    problem: Problem | None,
    then: str | None = None,
) -> Response:
    """The page again with the refusal, or on to `then` (by default the collection's page)."""
    if problem is not None:
        return collection_page(request, db, caller, org, registry, collection, problem)
    return see_other(then or collection_url(org, registry, collection))


@router.get(COLLECTION, response_class=HTMLResponse)
def show(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    caller: SessionCaller,
    db: Db,
    cursor: Cursor = None,
    before: Before = None,
) -> Response:
    """A collection the caller can see; `cursor` pages versions, `before` pages the history."""
    return collection_page(
        request, db, caller, org, registry, collection, cursor=cursor, before=before
    )


@router.post(COLLECTION + "/edit")
def edit(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    caller: SessionCaller,
    db: Db,
    name: Short,
    description: Text = "",
    tags: Short = "",
) -> Response:
    """Rename, describe (markdown) and re-tag the collection (registry members)."""
    new_name, description = name.strip(), text(description)
    problem = attempt(
        db,
        "edit",
        lambda: collections.update(
            db,
            caller,
            org,
            registry,
            collection,
            new_name=new_name,
            description=description or None,
            clear_description=not description,
            tags=split_list(tags),
        ),
        fields=EDIT_FIELDS,
        values={"name": name, "description": description, "tags": tags},
    )
    then = collection_url(org, registry, new_name)
    return _answer(request, db, caller, org, registry, collection, problem, then)


@router.post(COLLECTION + "/delete")
def delete(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    caller: SessionCaller,
    db: Db,
    confirm: Short = "",
) -> Response:
    """Delete the collection once its name has been typed (the service guards protected ones)."""
    view = collections.get(db, caller, org, registry, collection)
    if confirm != view.collection.name:
        refused = Problem(
            "delete",
            "type the collection's name exactly to delete it",
            422,
            "confirm",
            {"confirm": confirm},
        )
        return collection_page(request, db, caller, org, registry, collection, refused)
    problem = attempt(
        db, "delete", lambda: collections.remove(db, caller, org, registry, view.collection.name)
    )
    then = registry_url(org, registry)
    return _answer(request, db, caller, org, registry, collection, problem, then)


def _link(
    db: Session,
    caller: Principal,
    org: str,
    registry: str,
    collection: str,
    source: str,
    aliases: str,
) -> None:
    """Resolve the source reference (read access needed) and link it with its aliases."""
    ref = parse_ref(source.strip())
    if ref.is_short:
        raise ValidationError("the source must be <entity>/<project>/<artifact>[:version]")
    entity, project, name = ref.parts
    found = artifacts.get(db, caller, entity, project, name, ref.selector)
    links.link(db, caller, org, registry, collection, found, split_list(aliases))


@router.post(COLLECTION + "/versions")
def link(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    caller: SessionCaller,
    db: Db,
    source: Short,
    aliases: Short = "",
) -> Response:
    """Link a logged version (entity/project/name:vN) into the collection, with aliases."""
    problem = attempt(
        db,
        "link",
        lambda: _link(db, caller, org, registry, collection, source, aliases),
        fields=LINK_FIELDS,
        values={"source": source, "aliases": aliases},
    )
    return _answer(request, db, caller, org, registry, collection, problem)


@router.post(COLLECTION + "/versions/{version}/unlink")
def unlink(
    request: Request,
    org: str,
    registry: str,
    collection: str,
    version: str,
    caller: SessionCaller,
    db: Db,
) -> Response:
    """Unlink a version (holders of a protected alias: registry admins only)."""
    problem = attempt(
        db,
        "versions",
        lambda: links.unlink(db, caller, org, registry, collection, parse_selector(version)),
    )
    return _answer(request, db, caller, org, registry, collection, problem)


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
        "versions",
        lambda: collection_aliases.set_alias(
            db, caller, org, registry, collection, alias.strip(), parse_selector(version)
        ),
        fields=(("alias", r"^alias |protected alias"),),
        values={"alias": alias},
    )
    return _answer(request, db, caller, org, registry, collection, problem)


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
        "versions",
        lambda: collection_aliases.remove_alias(db, caller, org, registry, collection, alias),
    )
    return _answer(request, db, caller, org, registry, collection, problem)
