"""Reading the append-only audit log: a collection's history, an organization's audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cairn.server.db.models import AuditEvent
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action
from cairn.server.services import collections, orgs, registries

MAX_PAGE = 1000


def _page(per_page: int) -> int:
    if not 1 <= per_page <= MAX_PAGE:
        raise ValidationError(f"per_page must be between 1 and {MAX_PAGE}")
    return per_page


def collection_history(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    *,
    per_page: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Events of one collection, newest first (anyone who can see the collection)."""
    place = collections.locate(s, actor, org_name, registry_name, collection_name, Action.VIEW)
    query = select(AuditEvent).where(AuditEvent.collection_id == place.collection.id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(s.scalars(query.order_by(AuditEvent.id.desc()).limit(_page(per_page))))


def registry_history(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    *,
    per_page: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Events of a registry and its collections, newest first."""
    _, found = registries.lookup(s, actor, org_name, registry_name, Action.VIEW)
    query = select(AuditEvent).where(AuditEvent.registry_id == found.registry.id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(s.scalars(query.order_by(AuditEvent.id.desc()).limit(_page(per_page))))


def audit_log(
    s: Session,
    actor: Principal,
    org_name: str,
    *,
    action: str | None = None,
    actor_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    target: str | None = None,
    registry: str | None = None,
    per_page: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """The organization's whole audit log, filtered, newest first (organization admins).

    `target` keeps events about that name or about something under it ("team/member",
    "owner/key", a collection's "registry/collection:v3" and ":production"), ignoring case;
    `registry` keeps the events of one registry of the org.
    """
    org = orgs.admin_access(s, actor, org_name)
    query = select(AuditEvent).where(AuditEvent.org_id == org.org.id)
    if target:
        wanted, name = func.lower(AuditEvent.target_name), target.lower()
        query = query.where(
            or_(
                wanted == name,
                wanted.startswith(name + "/", autoescape=True),
                wanted.startswith(name + ":", autoescape=True),
            )
        )
    if registry:
        _, found = registries.lookup(s, actor, org.org.name, registry, Action.VIEW)
        query = query.where(AuditEvent.registry_id == found.registry.id)
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor_name:
        query = query.where(AuditEvent.actor_name == actor_name)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(s.scalars(query.order_by(AuditEvent.id.desc()).limit(_page(per_page))))
