"""The append-only audit log: one row per security-relevant action."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cairn.server.db.models import AuditEvent
from cairn.server.domain.principal import Principal


def record(
    s: Session,
    actor: Principal | None,
    action: str,
    *,
    target_type: str,
    target_id: int | None,
    target_name: str | None,
    org_id: int | None = None,
    registry_id: int | None = None,
    collection_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    s.add(
        AuditEvent(
            org_id=org_id,
            actor_id=actor.user_id if actor else None,
            actor_name=actor.username if actor else None,
            auth_method=actor.auth_method if actor else "system",
            key_id=actor.key_id if actor else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_name=target_name,
            registry_id=registry_id,
            collection_id=collection_id,
            before=before,
            after=after,
        )
    )
