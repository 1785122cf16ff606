"""API keys: the caller's own, or a service account's for its organization admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from cairn.server.api import convert, schemas
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import keys

router = APIRouter()


@router.get("/keys", response_model=list[schemas.KeyOut])
def list_keys(caller: Caller, db: Db, user: str | None = None) -> list[schemas.KeyOut]:
    """Live keys of the caller, or of a service account (`?user=`)."""
    owner = keys.owner_for(db, caller, user)
    return [convert.key(k, owner.username) for k in keys.list_for(db, owner)]


@router.post("/keys", status_code=201, response_model=schemas.NewKeyOut)
def create_key(body: schemas.KeyIn, caller: Caller, db: Db) -> schemas.NewKeyOut:
    """A new key; the full key is in this answer only."""
    owner = keys.owner_for(db, caller, body.user)
    key, full = keys.create(db, caller, owner, body.name)
    return schemas.NewKeyOut(**convert.key(key, owner.username).model_dump(), key=full)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: Annotated[int, Path(ge=1, le=2**53)], caller: Caller, db: Db) -> Response:
    """Revoke a key."""
    keys.revoke(db, caller, key_id)
    return Response(status_code=204)
