"""Changing a registry's settings (visibility, types, protected aliases, name), and deleting it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session

from cairn.server.db.base import utcnow
from cairn.server.db.models import ProtectedAlias, RegistryType
from cairn.server.domain import names
from cairn.server.domain.errors import ConflictError, ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action
from cairn.server.services import audit, registries
from cairn.server.services.registries import RegistryView


@dataclass(frozen=True)
class Changes:
    """The settings a PATCH may carry; None means "leave as it is"."""

    name: str | None = None
    description: str | None = None
    clear_description: bool = False
    visibility: str | None = None
    artifact_types: list[str] | None = None
    allow_all_artifact_types: bool | None = None
    protected_aliases: list[str] | None = None
    owner_team: str | None = None
    clear_owner_team: bool = False


def _needs(changes: Changes) -> Action:
    administers = (
        changes.name,
        changes.visibility,
        changes.artifact_types,
        changes.allow_all_artifact_types,
        changes.owner_team,
        changes.description,
    )
    if (
        any(v is not None for v in administers)
        or changes.clear_description
        or changes.clear_owner_team
    ):
        return Action.ADMINISTER
    if changes.protected_aliases is not None:
        return Action.MANAGE_PROTECTED_ALIASES
    return Action.ADMINISTER  # an empty change is still a settings write


def update(
    s: Session, actor: Principal, org_name: str, registry_name: str, changes: Changes
) -> RegistryView:
    """Apply `changes` as one transaction and one audit row; rules of DESIGN §2."""
    org, found = registries.lookup(s, actor, org_name, registry_name, _needs(changes))
    view = registries.views(s, org.org.name, [(found.registry, found.role)])[0]
    reg = found.registry
    before = _snapshot(view)
    if changes.name is not None:
        new = names.registry_name(changes.name)
        if new != reg.name:
            _not_core(view, "renamed")
            registries.check_unique(s, org.org.id, new, except_id=reg.id)
            reg.name, reg.name_key = new, names.name_key(new)
    if changes.description is not None or changes.clear_description:
        reg.description = registries.clean_description(changes.description)
    if changes.visibility is not None:
        vis = registries.parse_visibility(changes.visibility).value
        if vis != reg.visibility:
            _not_core(view, "given another visibility")
            reg.visibility = vis
    _apply_types(s, view, changes)
    if changes.protected_aliases is not None:
        wanted = sorted({names.alias(a) for a in changes.protected_aliases})
        if len(wanted) > registries.MAX_PROTECTED:
            raise ValidationError(f"at most {registries.MAX_PROTECTED} protected aliases")
        s.execute(sql_delete(ProtectedAlias).where(ProtectedAlias.registry_id == reg.id))
        s.add_all(ProtectedAlias(registry_id=reg.id, alias=a) for a in wanted)
        view.protected_aliases = wanted
    if changes.owner_team is not None or changes.clear_owner_team:
        team = registries.owner_team_of(s, org, changes.owner_team)
        reg.owner_team_id = team.id if team else None
        view.owner_team = team.name if team else None
    after = _snapshot(view)
    if after != before:
        reg.updated_at = utcnow()
        changed = {k for k in after if after[k] != before[k]}
        audit.record(
            s,
            actor,
            "registry.update",
            target_type="registry",
            target_id=reg.id,
            registry_id=reg.id,
            target_name=reg.name,
            org_id=org.org.id,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    s.flush()
    return view


def _apply_types(s: Session, view: RegistryView, changes: Changes) -> None:
    """Types only grow. As in W&B, a registry that accepts all types lists the types saved or in
    use there; limiting it to specific types keeps every one of those."""
    reg = view.registry
    if changes.artifact_types is not None:
        wanted = registries.clean_types(changes.artifact_types)
        missing = sorted(set(view.types) - set(wanted))
        if missing:
            raise ConflictError(
                f"cannot remove accepted artifact type(s) {', '.join(missing)}: saved types can "
                "never be removed from a registry, only added"
            )
        added = sorted(set(wanted) - set(view.types))
        s.add_all(RegistryType(registry_id=reg.id, type_name=t) for t in added)
        view.types = sorted(set(view.types) | set(added))
    if changes.allow_all_artifact_types is not None:
        if not changes.allow_all_artifact_types and not view.types:
            raise ConflictError(
                "name at least one artifact type to accept before limiting the registry to "
                "specific types"
            )
        reg.allow_all_types = changes.allow_all_artifact_types


def _not_core(view: RegistryView, what: str) -> None:
    if view.registry.is_core:
        raise ConflictError(f"{view.registry.name!r} is a core registry and cannot be {what}")


def _snapshot(view: RegistryView) -> dict[str, Any]:
    reg = view.registry
    return {
        "name": reg.name,
        "description": reg.description,
        "visibility": reg.visibility,
        "allow_all_artifact_types": reg.allow_all_types,
        "artifact_types": list(view.types),
        "protected_aliases": list(view.protected_aliases),
        "owner_team": view.owner_team,
    }


def delete(s: Session, actor: Principal, org_name: str, registry_name: str) -> None:
    """Delete a registry (admins); core registries cannot be deleted."""
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.ADMINISTER)
    view = registries.views(s, org.org.name, [(found.registry, found.role)])[0]
    _not_core(view, "deleted")
    audit.record(
        s,
        actor,
        "registry.delete",
        target_type="registry",
        target_id=found.registry.id,
        registry_id=found.registry.id,
        target_name=found.registry.name,
        org_id=org.org.id,
        before=_snapshot(view),
    )
    s.delete(found.registry)
    s.flush()
