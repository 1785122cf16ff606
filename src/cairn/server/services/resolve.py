"""Resolving a reference string (DESIGN §1) to a linked or a logged version."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import parse_ref
from cairn.server.services import artifacts, linked


def resolve(
    s: Session, actor: Principal, raw: str, default_org: str
) -> linked.LinkedView | artifacts.VersionView:
    """`registry/collection[:v]` in `default_org`, `org/registry/collection[:v]` when the first
    part names an organization, else `entity/project/artifact[:v]`."""
    ref = parse_ref(raw)
    if ref.is_short:
        registry, collection = ref.parts
        return linked.get(s, actor, default_org, registry, collection, ref.selector)
    first, second, third = ref.parts
    kind = s.scalar(select(Entity.kind).where(Entity.name_key == first.lower()))
    if kind == "organization":
        return linked.get(s, actor, first, second, third, ref.selector)
    return artifacts.get(s, actor, first, second, third, ref.selector)
