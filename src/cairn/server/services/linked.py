"""Reading linked versions: views, lookup by index or alias, paged search in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session, aliased

from cairn.server.db.models import (
    Artifact,
    ArtifactVersion,
    Collection,
    CollectionAlias,
    CollectionTag,
    Entity,
    LinkedVersion,
    Project,
    Registry,
    User,
)
from cairn.server.domain.errors import NotFoundError, ValidationError
from cairn.server.domain.filters import parse_filter
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import LATEST, Selector
from cairn.server.domain.roles import Action
from cairn.server.services import access, artifacts, orgs, registries
from cairn.server.services.collections import Place, locate
from cairn.server.services.filtering import (
    AnyRow,
    Columns,
    compile_filter,
    decode_cursor,
    encode_cursor,
    parse_filter_json,
)

FILTER_FIELDS: dict[str, type] = {
    "name": str,
    "collection": str,
    "registry": str,
    "tag": str,
    "alias": str,
    "type": str,
    "created_at": datetime,
    "metadata": object,
}


@dataclass
class LinkedView:
    """A linked version with its source and aliases, as responses show it."""

    linked: LinkedVersion
    collection: Collection
    registry: Registry
    org_name: str
    aliases: list[str]
    source: artifacts.VersionView
    linked_by: str | None
    role: str

    @property
    def ref(self) -> str:
        """`<org>/<registry>/<collection>:v<N>`."""
        return (
            f"{self.org_name}/{self.registry.name}/{self.collection.name}"
            f":v{self.linked.version_index}"
        )


_Linker = aliased(User)
_Creator = aliased(User)
_Other = aliased(LinkedVersion)
_NEWEST = (
    select(func.max(_Other.version_index))
    .where(_Other.collection_id == LinkedVersion.collection_id)
    .correlate(LinkedVersion)
    .scalar_subquery()
)
COLUMNS: Columns = {
    "name": Collection.name,
    "collection": Collection.name,
    "registry": Registry.name,
    "type": Collection.type,
    "tag": AnyRow(CollectionTag.tag, CollectionTag.collection_id == Collection.id),
    "alias": AnyRow(
        CollectionAlias.alias,
        CollectionAlias.linked_version_id == LinkedVersion.id,
        # `latest` has no alias row: the newest linked version of each collection holds it.
        implied=(LATEST, LinkedVersion.version_index == _NEWEST),
    ),
    "created_at": LinkedVersion.created_at,
}


def _base() -> Select[Any]:
    """Linked versions with everything their views show, in one row each."""
    return (
        select(
            LinkedVersion,
            Collection,
            Registry,
            ArtifactVersion,
            Artifact,
            Project.name,
            Entity.name,
            _Linker.username,
            _Creator.username,
            _NEWEST,
        )
        .join(Collection, Collection.id == LinkedVersion.collection_id)
        .join(Registry, Registry.id == Collection.registry_id)
        .join(ArtifactVersion, ArtifactVersion.id == LinkedVersion.artifact_version_id)
        .join(Artifact, Artifact.id == ArtifactVersion.artifact_id)
        .join(Project, Project.id == Artifact.project_id)
        .join(Entity, Entity.id == Project.entity_id)
        .outerjoin(_Linker, _Linker.id == LinkedVersion.created_by_id)
        .outerjoin(_Creator, _Creator.id == ArtifactVersion.created_by_id)
    )


def _views(s: Session, org_name: str, roles: dict[int, str], rows: list[Any]) -> list[LinkedView]:
    """Views from rows of _base(), with one more query (aliases) whatever their count."""
    ids = [r[0].id for r in rows]
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for lid, alias in s.execute(
            select(CollectionAlias.linked_version_id, CollectionAlias.alias)
            .where(CollectionAlias.linked_version_id.in_(ids))
            .order_by(CollectionAlias.alias)
        ):
            aliases[lid].append(alias)
    views = []
    for lv, coll, reg, version, artifact, project, entity, linker, creator, newest in rows:
        source = artifacts.VersionView(version, artifact, entity, project, [], creator)
        latest = [LATEST] if newest == lv.version_index else []
        views.append(
            LinkedView(
                lv,
                coll,
                reg,
                org_name,
                latest + aliases[lv.id],
                source,
                linker,
                roles.get(reg.id, ""),
            )
        )
    return views


def _selecting(query: Select[Any], collection_id: int, selector: Selector) -> Select[Any]:
    """Narrow a query over LinkedVersion to the version an index or alias selects."""
    query = query.where(LinkedVersion.collection_id == collection_id)
    if selector.index is not None:
        return query.where(LinkedVersion.version_index == selector.index)
    if selector.alias == LATEST:
        return query.order_by(LinkedVersion.version_index.desc()).limit(1)
    return query.join(CollectionAlias, CollectionAlias.linked_version_id == LinkedVersion.id).where(
        CollectionAlias.collection_id == collection_id, CollectionAlias.alias == selector.alias
    )


def find(s: Session, collection: Collection, selector: Selector) -> LinkedVersion | None:
    """The linked version an index or alias selects (`latest`: the newest link)."""
    found: LinkedVersion | None = s.scalar(
        _selecting(select(LinkedVersion), collection.id, selector)
    )
    return found


def view_in(s: Session, place: Place, selector: Selector, *, files: bool) -> LinkedView:
    """One linked version of a located collection, or 404."""
    row = s.execute(_selecting(_base(), place.collection.id, selector)).first()
    if row is None:
        raise NotFoundError(
            f"version {place.reg.registry.name}/{place.collection.name}:{selector} not found"
        )
    view = _views(s, place.org_name, {place.reg.registry.id: place.reg.role.value}, [row])[0]
    if files:
        view.source.files = artifacts.files_of(s, view.source.version.id)
    return view


def get(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    selector: Selector,
) -> LinkedView:
    """A linked version the caller can see, with its manifest."""
    place = locate(s, actor, org_name, registry_name, collection_name, Action.VIEW)
    return view_in(s, place, selector, files=True)


def search(
    s: Session,
    actor: Principal,
    org_name: str,
    *,
    registry_name: str | None = None,
    collection_name: str | None = None,
    filter_json: str | None = None,
    per_page: int = 100,
    cursor: str | None = None,
) -> tuple[list[LinkedView], str | None]:
    """Linked versions the caller can see, newest link first, filtered and paged in SQL.

    Scope: one collection, one registry, or every registry of the organization.
    """
    if not 1 <= per_page <= 1000:
        raise ValidationError("per_page must be between 1 and 1000")
    expr = parse_filter(parse_filter_json(filter_json), FILTER_FIELDS)
    # A scoped search already knows the caller's role from its look-up; only an
    # organization-wide one needs the whole visible set (with a role per registry).
    if registry_name is not None:
        if collection_name is not None:
            place = locate(s, actor, org_name, registry_name, collection_name, Action.VIEW)
            found, shown_org = place.reg, place.org_name
            scope = Collection.id == place.collection.id
        else:
            org, found = registries.lookup(s, actor, org_name, registry_name, Action.VIEW)
            shown_org, scope = org.org.name, Registry.id == found.registry.id
        query = _base().add_columns(literal(found.role.rank)).where(scope)
    else:
        org = orgs.access(s, actor, org_name)
        shown_org = org.org.name
        visible = access.visible_with_rank(org.org.id, actor.user_id, org.role).subquery()
        query = (
            _base()
            .join(visible, visible.c.rid == Registry.id)
            .add_columns(visible.c.rank)
            .where(Registry.org_id == org.org.id)
        )
    query = query.where(compile_filter(expr, COLUMNS, ArtifactVersion.metadata_))
    if cursor:
        value, last_id = decode_cursor(cursor, is_time=True)
        query = query.where(
            tuple_(LinkedVersion.created_at, LinkedVersion.id) < tuple_(value, last_id)
        )
    query = query.order_by(LinkedVersion.created_at.desc(), LinkedVersion.id.desc())
    rows = s.execute(query.limit(per_page + 1)).all()
    page = rows[:per_page]
    views = _ranked_views(s, shown_org, page)
    next_cursor = None
    if len(rows) > per_page:
        last = page[-1][0]
        next_cursor = encode_cursor(last.created_at, last.id)
    return views, next_cursor


def _ranked_views(s: Session, org_name: str, rows: Sequence[Any]) -> list[LinkedView]:
    """Views from rows of _base() that end with the caller's role rank on their registry."""
    roles = {r[2].id: access.ROLE_BY_RANK[r[-1]].value for r in rows}
    return _views(s, org_name, roles, [tuple(r[:-1]) for r in rows])


def linked_elsewhere(
    s: Session, actor: Principal, view: LinkedView, limit: int = 50
) -> list[LinkedView]:
    """The other links of this version's source that the caller can see in the organization,
    newest first: registries hidden from the caller never show."""
    org = orgs.access(s, actor, view.org_name)
    visible = access.visible_with_rank(org.org.id, actor.user_id, org.role).subquery()
    query = (
        _base()
        .join(visible, visible.c.rid == Registry.id)
        .add_columns(visible.c.rank)
        .where(
            Registry.org_id == org.org.id,
            LinkedVersion.artifact_version_id == view.linked.artifact_version_id,
            LinkedVersion.id != view.linked.id,
        )
        .order_by(LinkedVersion.created_at.desc(), LinkedVersion.id.desc())
        .limit(limit)
    )
    return _ranked_views(s, org.org.name, s.execute(query).all())
