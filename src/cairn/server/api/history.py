"""History of collections and registries, the organization's audit log, and resolving refs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cairn.server.api import convert, schemas
from cairn.server.api.routing import guarded_by
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action
from cairn.server.http.cached_resolve import CachedResolutions
from cairn.server.http.caches import resolution_key
from cairn.server.http.deps import AppState, Db, State
from cairn.server.http.identity import GENERATION, Caller
from cairn.server.services import history, orgs, resolve
from cairn.server.services.linked import LinkedView

router = APIRouter()
REGISTRY = "/orgs/{org}/registries/{registry}"
PerPage = Annotated[int, Query(ge=1, le=1000)]
Before = Annotated[int | None, Query(ge=1, le=2**53)]


@router.get(
    REGISTRY + "/collections/{collection}/history",
    response_model=list[schemas.EventOut],
    openapi_extra=guarded_by(Action.VIEW),
)
def collection_history(
    org: str,
    registry: str,
    collection: str,
    caller: Caller,
    db: Db,
    per_page: PerPage = 100,
    before: Before = None,
) -> list[schemas.EventOut]:
    """Who linked, unlinked, moved aliases or changed the collection, newest first."""
    events = history.collection_history(
        db, caller, org, registry, collection, per_page=per_page, before_id=before
    )
    return [convert.event(e) for e in events]


@router.get(
    REGISTRY + "/history",
    response_model=list[schemas.EventOut],
    openapi_extra=guarded_by(Action.VIEW),
)
def registry_history(
    org: str,
    registry: str,
    caller: Caller,
    db: Db,
    per_page: PerPage = 100,
    before: Before = None,
) -> list[schemas.EventOut]:
    """Changes to the registry's settings, members and collections, newest first."""
    events = history.registry_history(
        db, caller, org, registry, per_page=per_page, before_id=before
    )
    return [convert.event(e) for e in events]


@router.get("/orgs/{org}/audit", response_model=list[schemas.EventOut])
def audit_log(
    org: str,
    caller: Caller,
    db: Db,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=512)] = None,
    registry: Annotated[str | None, Query(max_length=128)] = None,
    since: schemas.Instant | None = None,
    until: schemas.Instant | None = None,
    per_page: PerPage = 100,
    before: Before = None,
) -> list[schemas.EventOut]:
    """The organization's audit log (organization admins): `target` keeps the events about a
    name and what is under it (`Models/clf` keeps `Models/clf:v3` and `Models/clf:prod`)."""
    events = history.audit_log(
        db,
        caller,
        org,
        action=action,
        actor_name=actor,
        target=target,
        registry=registry,
        since=since,
        until=until,
        per_page=per_page,
        before_id=before,
    )
    return [convert.event(e) for e in events]


@router.get("/resolve", response_model=schemas.ResolveOut)
async def resolve_ref(
    ref: Annotated[str, Query(min_length=1, max_length=1024)],
    request: Request,
    caller: Caller,
    state: State,
    org: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Resolve any reference form to a linked or logged version, with its files.

    The call every deployment makes: answers are remembered per caller for the current
    catalogue generation, so repeated resolutions cost one small query (and are served by
    `http.cached_resolve` before routing).
    """
    key = resolution_key(caller.user_id, ref, org)
    now: int = getattr(request.state, GENERATION)
    body = state.answers.get(key, now)
    if body is None:
        body = await run_in_threadpool(_resolve_body, state, caller, ref, org)
        state.answers.put(key, now, body)
    return CachedResolutions.answer(body)


def _resolve_body(state: AppState, caller: Principal, ref: str, org: str | None) -> bytes:
    with state.readers() as db:
        default_org = org or _default_org(db, caller, state.settings.default_org)
        found = resolve.resolve(db, caller, ref, default_org)
        if isinstance(found, LinkedView):
            out = schemas.ResolveOut(kind="linked", linked=convert.linked(found))
        else:
            out = schemas.ResolveOut(kind="logged", logged=convert.version(found))
    return out.model_dump_json().encode()


def _default_org(db: Session, caller: Principal, configured: str) -> str:
    names = [m.org.name for m in orgs.list_for(db, caller)]
    return configured if configured in names or not names else names[0]
