"""Aliases inside a collection: unique there, moved atomically, protected ones for admins only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cairn.server.db.models import CollectionAlias, LinkedVersion, ProtectedAlias
from cairn.server.domain import names
from cairn.server.domain.errors import NotFoundError
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import Selector
from cairn.server.domain.roles import Action, allows
from cairn.server.services import audit, linked
from cairn.server.services.collections import Place, locate, protected_refusal, touch


def is_protected(s: Session, registry_id: int, alias: str) -> bool:
    """Whether the registry protects this alias name."""
    return s.get(ProtectedAlias, (registry_id, alias)) is not None


def _require_for(s: Session, place: Place, alias: str, what: str) -> None:
    if is_protected(s, place.reg.registry.id, alias) and not allows(
        place.reg.role, Action.MANAGE_PROTECTED_ALIASES
    ):
        raise protected_refusal(place.reg, f"{what} the protected alias {alias!r}")


def assign(
    s: Session, actor: Principal | None, place: Place, alias: str, target: LinkedVersion
) -> None:
    """Point `alias` at `target`, moving it from any other version of the collection."""
    collection_id = place.collection.id
    row = s.get(CollectionAlias, (collection_id, alias))
    before = None
    if row is None:
        try:
            with s.begin_nested():
                s.add(
                    CollectionAlias(
                        collection_id=collection_id, alias=alias, linked_version_id=target.id
                    )
                )
        except IntegrityError:  # added concurrently: move it instead
            row = s.get(CollectionAlias, (collection_id, alias), populate_existing=True)
            assert row is not None
    if row is not None:
        if row.linked_version_id == target.id:
            return
        before = s.scalar(
            select(LinkedVersion.version_index).where(LinkedVersion.id == row.linked_version_id)
        )
        row.linked_version_id = target.id
    audit.record(
        s,
        actor,
        "alias.add" if before is None else "alias.move",
        target_type="alias",
        target_id=target.id,
        target_name=f"{place.reg.registry.name}/{place.collection.name}:{alias}",
        org_id=place.reg.registry.org_id,
        registry_id=place.reg.registry.id,
        collection_id=collection_id,
        before=None if before is None else {"alias": alias, "version": f"v{before}"},
        after={"alias": alias, "version": f"v{target.version_index}"},
    )


def set_alias(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    alias: str,
    selector: Selector,
) -> linked.LinkedView:
    """Add or move an alias onto the selected version (members; protected ones: admins)."""
    names.alias(alias)
    place = locate(s, actor, org_name, registry_name, collection_name, Action.WRITE)
    _require_for(s, place, alias, "set")
    target = linked.find(s, place.collection, selector)
    if target is None:
        raise NotFoundError(f"version {registry_name}/{collection_name}:{selector} not found")
    touch(s, place.reg.registry, place.collection)
    assign(s, actor, place, alias, target)
    s.flush()
    return linked.view_in(s, place, Selector(index=target.version_index), files=False)


def remove_alias(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    alias: str,
) -> None:
    """Remove an alias from its version (members; protected ones: admins)."""
    place = locate(s, actor, org_name, registry_name, collection_name, Action.WRITE)
    _require_for(s, place, alias, "remove")
    row = s.get(CollectionAlias, (place.collection.id, alias))
    if row is None:
        raise NotFoundError(f"alias {alias!r} not found in {registry_name}/{collection_name}")
    index = s.scalar(
        select(LinkedVersion.version_index).where(LinkedVersion.id == row.linked_version_id)
    )
    touch(s, place.reg.registry, place.collection)
    s.delete(row)
    record_removal(s, actor, place, alias, row.linked_version_id, index)


def record_removal(
    s: Session, actor: Principal, place: Place, alias: str, linked_id: int, index: int | None
) -> None:
    """Audit an alias leaving version `v<index>`: removed, or dropped with its unlinked version."""
    audit.record(
        s,
        actor,
        "alias.remove",
        target_type="alias",
        target_id=linked_id,
        target_name=f"{place.reg.registry.name}/{place.collection.name}:{alias}",
        org_id=place.reg.registry.org_id,
        registry_id=place.reg.registry.id,
        collection_id=place.collection.id,
        before={"alias": alias, "version": f"v{index}"},
    )
