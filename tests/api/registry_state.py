"""One registry's stored rows and what an admin sees of it, to show what a call changed."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy import inspect as sa_inspect

from cairn.server.db.base import Base
from cairn.server.db.models import (
    AuditEvent,
    Collection,
    CollectionAlias,
    CollectionTag,
    LinkedVersion,
    ProtectedAlias,
    Registry,
    RegistryMember,
    RegistryType,
)
from cairn.server.http.deps import AppState
from cairn.server.services import orgs
from tests.api.cast import REGISTRY_PATH, JsonBody, fill, send

Row = dict[str, Any]
Rows = dict[str, dict[tuple[Any, ...], Row]]  # table -> primary key -> row


@functools.cache
def _snapshot_statements() -> list[tuple[str, Any, list[str]]]:
    """(table, SELECT of one registry's rows taking :rid, primary key columns), built once."""
    rid: BindParameter[int] = bindparam("rid")
    collection_ids = select(Collection.id).where(Collection.registry_id == rid)
    linked_ids = select(LinkedVersion.id).where(LinkedVersion.collection_id.in_(collection_ids))
    wheres: list[tuple[type[Base], Any]] = [
        (Registry, Registry.id == rid),
        (RegistryType, RegistryType.registry_id == rid),
        (ProtectedAlias, ProtectedAlias.registry_id == rid),
        (RegistryMember, RegistryMember.registry_id == rid),
        (Collection, Collection.registry_id == rid),
        (CollectionTag, CollectionTag.collection_id.in_(collection_ids)),
        (LinkedVersion, LinkedVersion.collection_id.in_(collection_ids)),
        (CollectionAlias, CollectionAlias.linked_version_id.in_(linked_ids)),
        (AuditEvent, AuditEvent.registry_id == rid),
    ]
    out = []
    for model, where in wheres:
        mapper = sa_inspect(model)
        pk = [c.name for c in mapper.primary_key]
        out.append((str(model.__tablename__), select(mapper.local_table).where(where), pk))
    return out


def registry_rows(state: AppState, registry_id: int) -> Rows:
    """Every stored row of one registry and its contents, audit events included."""
    rows: Rows = {}
    with state.engine.connect() as conn:
        for table, statement, pk in _snapshot_statements():
            found = conn.execute(statement, {"rid": registry_id}).mappings()
            rows[table] = {tuple(r[c] for c in pk): dict(r) for r in found}
    return rows


@dataclass
class Diff:
    """What changed between two registry_rows() snapshots, per table."""

    added: dict[str, list[Row]]
    removed: dict[str, list[Row]]
    changed: dict[str, list[tuple[Row, Row]]]

    def counts(self) -> dict[str, tuple[int, int, int]]:
        """table -> (added, removed, changed) for every table with a difference."""
        tables = set(self.added) | set(self.removed) | set(self.changed)
        return {
            t: (
                len(self.added.get(t, [])),
                len(self.removed.get(t, [])),
                len(self.changed.get(t, [])),
            )
            for t in sorted(tables)
        }


def diff(before: Rows, after: Rows) -> Diff:
    """Rows added, removed and changed (by primary key) from `before` to `after`."""
    out = Diff({}, {}, {})
    for table in before.keys() | after.keys():
        old, new = before.get(table, {}), after.get(table, {})
        added = [new[k] for k in new.keys() - old.keys()]
        removed = [old[k] for k in old.keys() - new.keys()]
        changed = [(old[k], new[k]) for k in old.keys() & new.keys() if old[k] != new[k]]
        if added:
            out.added[table] = added
        if removed:
            out.removed[table] = removed
        if changed:
            out.changed[table] = changed
    return out


def registry_id(state: AppState, org: str, name: str) -> int:
    """The id of registry `name` of `org`."""
    with state.readers() as s:
        found = orgs.find_org(s, org)
        assert found is not None
        rid = s.scalar(
            select(Registry.id).where(Registry.org_id == found.id, Registry.name == name)
        )
    assert isinstance(rid, int), name
    return rid


@dataclass
class Snapshot:
    """What an admin sees of one registry: its settings and its members (None: gone)."""

    registry: JsonBody | None
    members: list[JsonBody] | None


def snapshot(client: httpx.Client, admin_key: str, org: str, registry: str) -> Snapshot:
    """The registry and its members as the superuser sees them."""
    base = fill(REGISTRY_PATH, org=org, registry=registry)
    reg = send(client, "GET", base, admin_key)
    mem = send(client, "GET", base + "/members", admin_key)
    assert reg.status_code in (200, 404), reg.text
    assert mem.status_code == reg.status_code, mem.text
    if reg.status_code == 404:
        return Snapshot(None, None)
    return Snapshot(reg.json(), sorted_members(mem.json()))


def sorted_members(rows: list[JsonBody]) -> list[JsonBody]:
    """Member rows in a stable order for comparison."""
    return sorted(rows, key=lambda m: (m["kind"], m["name"]))
