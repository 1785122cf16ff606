"""The shared entity namespace: a name is taken by at most one org, team or user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity
from cairn.server.domain.errors import ConflictError
from cairn.server.domain.names import entity_name


def claim(s: Session, name: str, kind: str) -> Entity:
    """Reserve `name` for a new entity of `kind`; 409 when any entity holds it already."""
    entity_name(name, f"{kind} name")
    key = name.lower()
    if s.scalar(select(Entity.id).where(Entity.name_key == key)) is not None:
        raise ConflictError(f"the name {name!r} is already taken by a user, team or organization")
    entity = Entity(kind=kind, name=name, name_key=key)
    s.add(entity)
    s.flush()
    return entity
