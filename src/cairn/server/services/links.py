"""Linking logged versions into collections (numbered per collection, never reused); unlinking."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cairn.server.db.base import utcnow
from cairn.server.db.models import Collection, LinkedVersion
from cairn.server.domain.errors import ConflictError
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import LATEST, Selector
from cairn.server.domain.roles import Action, allows
from cairn.server.services import artifacts, audit, collection_aliases, collections, linked


def link(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    source: artifacts.VersionView,
    aliases: list[str],
) -> tuple[linked.LinkedView, bool]:
    """Link `source` (already read by the caller) into a collection, creating it on first link."""
    wanted = artifacts.check_aliases(aliases)
    source_type = source.artifact.type
    collections.create(
        s, actor, org_name, registry_name, name=collection_name, type_=source_type, exist_ok=True
    )
    place = collections.locate(s, actor, org_name, registry_name, collection_name, Action.WRITE)
    collection = place.collection
    collections.accepts(s, place.reg.registry, source_type)
    if collection.type != source_type:
        raise ConflictError(
            f"collection {collection.name!r} holds {collection.type!r} artifacts; "
            f"{source.ref} is a {source_type!r}"
        )
    for alias in wanted:
        if collection_aliases.is_protected(s, place.reg.registry.id, alias) and not allows(
            place.reg.role, Action.MANAGE_PROTECTED_ALIASES
        ):
            raise collections.protected_refusal(place.reg, f"set the protected alias {alias!r}")
    existing = s.scalar(
        select(LinkedVersion).where(
            LinkedVersion.collection_id == collection.id,
            LinkedVersion.artifact_version_id == source.version.id,
        )
    )
    created = existing is None
    if existing is None:
        collections.touch(s, place.reg.registry)  # the collection is stamped by the update below
        index = (
            s.execute(
                update(Collection)
                .where(Collection.id == collection.id)
                .values(next_index=Collection.next_index + 1, updated_at=utcnow())
                .returning(Collection.next_index)
            ).scalar_one()
            - 1
        )
        existing = LinkedVersion(
            collection_id=collection.id,
            version_index=index,
            artifact_version_id=source.version.id,
            created_by_id=actor.user_id,
        )
        s.add(existing)
        s.flush()
        audit.record(
            s,
            actor,
            "version.link",
            target_type="linked_version",
            target_id=existing.id,
            target_name=f"{place.reg.registry.name}/{collection.name}:v{index}",
            org_id=place.reg.registry.org_id,
            registry_id=place.reg.registry.id,
            collection_id=collection.id,
            after={"source": source.ref, "aliases": wanted},
        )
    for alias in wanted:
        collection_aliases.assign(s, actor, place, alias, existing)
    s.flush()
    return linked.view_in(s, place, Selector(index=existing.version_index), files=False), created


def unlink(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    selector: Selector,
) -> None:
    """Remove a linked version and its aliases, recording what it held; numbers are never reused."""
    place = collections.locate(s, actor, org_name, registry_name, collection_name, Action.WRITE)
    # Locked first (PostgreSQL): an alias set meanwhile is then either seen below, recorded
    # and checked for protection, or set after this unlink commits.
    collections.touch(s, place.reg.registry, place.collection)
    shown = linked.view_in(s, place, selector, files=False)  # 404 when there is none
    target = shown.linked
    if collections.holds_protected_alias(s, place.collection, target.id) and not allows(
        place.reg.role, Action.MANAGE_PROTECTED_ALIASES
    ):
        raise collections.protected_refusal(place.reg, "unlink a version holding a protected alias")
    index = target.version_index
    held = [alias for alias in shown.aliases if alias != LATEST]  # `latest` is never stored
    # The aliases go first, so replaying the log never leaves one on a vanished version.
    for alias in held:
        collection_aliases.record_removal(s, actor, place, alias, target.id, index)
    audit.record(
        s,
        actor,
        "version.unlink",
        target_type="linked_version",
        target_id=target.id,
        target_name=f"{place.reg.registry.name}/{place.collection.name}:v{index}",
        org_id=place.reg.registry.org_id,
        registry_id=place.reg.registry.id,
        collection_id=place.collection.id,
        before={"version": f"v{index}", "source": shown.source.ref, "aliases": held},
    )
    s.delete(target)
    s.flush()
