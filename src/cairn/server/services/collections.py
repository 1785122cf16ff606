"""Collections in a registry: create, read, list, rename, describe, tag, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cairn.server.db.base import utcnow
from cairn.server.db.models import (
    Collection,
    CollectionAlias,
    CollectionTag,
    LinkedVersion,
    ProtectedAlias,
    Registry,
    RegistryType,
)
from cairn.server.domain import names
from cairn.server.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from cairn.server.domain.filters import parse_filter
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action, allows
from cairn.server.services import access, audit, registries
from cairn.server.services.artifacts import check_description
from cairn.server.services.filtering import (
    AnyRow,
    Columns,
    compile_filter,
    decode_cursor,
    encode_cursor,
    parse_filter_json,
)

MAX_TAGS = 64
FILTER_FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "type": str,
    "tag": str,
    "created_at": datetime,
    "updated_at": datetime,
}


COLUMNS: Columns = {
    "name": Collection.name,
    "description": Collection.description,
    "type": Collection.type,
    "tag": AnyRow(CollectionTag.tag, CollectionTag.collection_id == Collection.id),
    "created_at": Collection.created_at,
    "updated_at": Collection.updated_at,
}


@dataclass
class CollectionView:
    """A collection with what responses show about it."""

    collection: Collection
    registry: Registry
    org_name: str
    role: str
    version_count: int
    aliases: dict[str, int]
    tags: list[str]


@dataclass(frozen=True)
class Place:
    """A collection found for a caller, with the registry access that reached it."""

    reg: access.RegistryAccess
    org_name: str
    collection: Collection


def accepts(s: Session, registry: Registry, type_: str) -> None:
    """Refuse a type the registry does not accept, naming the accepted ones."""
    if registry.allow_all_types:
        return
    accepted = list(
        s.scalars(select(RegistryType.type_name).where(RegistryType.registry_id == registry.id))
    )
    if type_ not in accepted:
        raise ConflictError(
            f"registry {registry.name!r} does not accept artifacts of type {type_!r}; "
            f"accepted types: {', '.join(sorted(accepted))}"
        )


def touch(s: Session, registry: Registry, collection: Collection | None = None) -> None:
    """Stamp a change to a collection on its registry (the home page's "last update") and on it.

    Called before the collection's own rows are written: the registry's row is locked first,
    the order registry deletes and settings changes keep too, so concurrent writers queue on
    PostgreSQL instead of deadlocking.
    """
    now = utcnow()
    registry.updated_at = now
    s.flush()
    if collection is not None:
        collection.updated_at = now
        s.flush()


def check_tags(raw: list[str]) -> list[str]:
    """Tag names, deduplicated and sorted."""
    if len(raw) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags")
    return sorted({names.token_name(t, "tag") for t in raw})


def _find(s: Session, registry_id: int, name: str) -> Collection | None:
    return s.scalar(
        select(Collection).where(
            Collection.registry_id == registry_id, Collection.name_key == names.name_key(name)
        )
    )


def locate(
    s: Session, actor: Principal, org_name: str, registry_name: str, name: str, action: Action
) -> Place:
    """A collection of a registry the caller may do `action` on (404 hidden/absent, 403 role)."""
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.VIEW)
    collection = _find(s, found.registry.id, name)
    if collection is None:
        raise NotFoundError(f"collection {registry_name}/{name} not found")
    access.demand(found, action)
    return Place(found, org.org.name, collection)


def create(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    *,
    name: str,
    type_: str,
    description: str | None = None,
    tags: list[str] | None = None,
    exist_ok: bool = False,
) -> tuple[CollectionView, bool]:
    """A new collection (registry members); its type is fixed and must be accepted."""
    names.token_name(name, "collection name")
    names.artifact_type(type_)
    clean_tags = check_tags(tags or [])
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.WRITE)
    reg = found.registry
    existing = _find(s, reg.id, name)
    if existing is not None:
        if not exist_ok:
            raise ConflictError(f"collection {name!r} already exists in {reg.name!r}")
        return view(s, Place(found, org.org.name, existing)), False
    accepts(s, reg, type_)
    touch(s, reg)
    if reg.allow_all_types and s.get(RegistryType, (reg.id, type_)) is None:
        s.add(RegistryType(registry_id=reg.id, type_name=type_))  # a type in use is saved
    try:
        with s.begin_nested():
            collection = Collection(
                registry_id=reg.id,
                name=name,
                name_key=names.name_key(name),
                type=type_,
                description=description,
                tags=clean_tags,
                next_index=0,
                created_by_id=actor.user_id,
            )
            s.add(collection)
            s.flush()
            s.add_all(CollectionTag(collection_id=collection.id, tag=t) for t in clean_tags)
    except IntegrityError:
        raced = _find(s, reg.id, name)
        if raced is None or not exist_ok:
            raise ConflictError(f"collection {name!r} already exists in {reg.name!r}") from None
        return view(s, Place(found, org.org.name, raced)), False
    audit.record(
        s,
        actor,
        "collection.create",
        target_type="collection",
        target_id=collection.id,
        target_name=f"{reg.name}/{name}",
        org_id=org.org.id,
        registry_id=reg.id,
        collection_id=collection.id,
        after={"type": type_, "tags": clean_tags},
    )
    return view(s, Place(found, org.org.name, collection)), True


def view(s: Session, place: Place) -> CollectionView:
    """One collection's view."""
    return views(s, place.reg, place.org_name, [place.collection])[0]


def views(
    s: Session, reg: access.RegistryAccess, org_name: str, collections: list[Collection]
) -> list[CollectionView]:
    """Views of collections of one registry, in two queries whatever their number."""
    ids = [c.id for c in collections]
    counts: dict[int, int] = dict(
        s.execute(
            select(LinkedVersion.collection_id, func.count())
            .where(LinkedVersion.collection_id.in_(ids))
            .group_by(LinkedVersion.collection_id)
        ).all()
    )
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    for cid, alias, index in s.execute(
        select(CollectionAlias.collection_id, CollectionAlias.alias, LinkedVersion.version_index)
        .join(LinkedVersion, LinkedVersion.id == CollectionAlias.linked_version_id)
        .where(CollectionAlias.collection_id.in_(ids))
    ):
        aliases[cid][alias] = index
    return [
        CollectionView(
            c,
            reg.registry,
            org_name,
            reg.role.value,
            counts.get(c.id, 0),
            aliases[c.id],
            list(c.tags or []),
        )
        for c in collections
    ]


def list_page(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    *,
    filter_json: str | None = None,
    per_page: int = 100,
    cursor: str | None = None,
) -> tuple[list[CollectionView], str | None]:
    """One page of a registry's collections by name, filtered in SQL."""
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.VIEW)
    if not 1 <= per_page <= 1000:
        raise ValidationError("per_page must be between 1 and 1000")
    expr = parse_filter(parse_filter_json(filter_json), FILTER_FIELDS)
    query = select(Collection).where(
        Collection.registry_id == found.registry.id, compile_filter(expr, COLUMNS)
    )
    if cursor:
        value, last_id = decode_cursor(cursor, is_time=False)
        query = query.where(tuple_(Collection.name_key, Collection.id) > tuple_(value, last_id))
    rows = list(s.scalars(query.order_by(Collection.name_key, Collection.id).limit(per_page + 1)))
    page = rows[:per_page]
    next_cursor = encode_cursor(page[-1].name_key, page[-1].id) if len(rows) > per_page else None
    return views(s, found, org.org.name, page), next_cursor


def get(
    s: Session, actor: Principal, org_name: str, registry_name: str, name: str
) -> CollectionView:
    """One collection the caller can see."""
    return view(s, locate(s, actor, org_name, registry_name, name, Action.VIEW))


def holds_protected_alias(s: Session, collection: Collection, linked_id: int | None = None) -> bool:
    """Whether a version of the collection (or the given one) holds a protected alias."""
    query = (
        select(CollectionAlias.alias)
        .join(Collection, Collection.id == CollectionAlias.collection_id)
        .join(
            ProtectedAlias,
            (ProtectedAlias.registry_id == Collection.registry_id)
            & (ProtectedAlias.alias == CollectionAlias.alias),
        )
        .where(CollectionAlias.collection_id == collection.id)
    )
    if linked_id is not None:
        query = query.where(CollectionAlias.linked_version_id == linked_id)
    return s.scalar(query.limit(1)) is not None


def update(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    name: str,
    *,
    new_name: str | None = None,
    description: str | None = None,
    clear_description: bool = False,
    tags: list[str] | None = None,
) -> CollectionView:
    """Rename, describe or re-tag a collection (registry members)."""
    place = locate(s, actor, org_name, registry_name, name, Action.WRITE)
    c = place.collection
    before = {"name": c.name, "description": c.description, "tags": list(c.tags or [])}
    with s.no_autoflush:  # the collection's row is written after its registry's (see touch)
        if new_name is not None and new_name != c.name:
            names.token_name(new_name, "collection name")
            clash = _find(s, c.registry_id, new_name)
            if clash is not None and clash.id != c.id:
                raise ConflictError(
                    f"collection {new_name!r} already exists in {place.reg.registry.name!r}"
                )
            c.name, c.name_key = new_name, names.name_key(new_name)
        if description is not None or clear_description:
            c.description = check_description(description)
        if tags is not None:
            clean = check_tags(tags)
            s.execute(delete(CollectionTag).where(CollectionTag.collection_id == c.id))
            s.add_all(CollectionTag(collection_id=c.id, tag=t) for t in clean)
            c.tags = clean
    after = {"name": c.name, "description": c.description, "tags": list(c.tags or [])}
    if after != before:
        touch(s, place.reg.registry, c)
        changed = [k for k in after if after[k] != before[k]]
        audit.record(
            s,
            actor,
            "collection.update",
            target_type="collection",
            target_id=c.id,
            target_name=f"{place.reg.registry.name}/{c.name}",
            org_id=place.reg.registry.org_id,
            registry_id=c.registry_id,
            collection_id=c.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    s.flush()
    return view(s, place)


def remove(s: Session, actor: Principal, org_name: str, registry_name: str, name: str) -> None:
    """Delete a collection; refused while a version holds a protected alias, unless admin."""
    place = locate(s, actor, org_name, registry_name, name, Action.WRITE)
    touch(s, place.reg.registry)  # locked first: what is checked and recorded below holds
    c = place.collection
    if holds_protected_alias(s, c) and not allows(place.reg.role, Action.MANAGE_PROTECTED_ALIASES):
        raise protected_refusal(
            place.reg, "delete a collection whose versions hold protected aliases"
        )
    versions = s.scalar(select(func.count()).where(LinkedVersion.collection_id == c.id))
    aliases = s.execute(
        select(CollectionAlias.alias, LinkedVersion.version_index)
        .join(LinkedVersion, LinkedVersion.id == CollectionAlias.linked_version_id)
        .where(CollectionAlias.collection_id == c.id)
        .order_by(CollectionAlias.alias)
    )
    audit.record(
        s,
        actor,
        "collection.delete",
        target_type="collection",
        target_id=c.id,
        target_name=f"{place.reg.registry.name}/{c.name}",
        org_id=place.reg.registry.org_id,
        registry_id=c.registry_id,
        collection_id=c.id,
        before={
            "name": c.name,
            "type": c.type,
            "versions": versions,
            "aliases": {alias: f"v{index}" for alias, index in aliases},
        },
    )
    s.delete(c)
    s.flush()


def protected_refusal(reg: access.RegistryAccess, what: str) -> PermissionDeniedError:
    """The 403 for a protected-alias action by someone who is not a registry admin."""
    return PermissionDeniedError(
        f"only registry admins can {what}; your role on {reg.registry.name!r} is {reg.role.value!r}"
    )
