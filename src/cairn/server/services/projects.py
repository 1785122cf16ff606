"""Projects `<entity>/<project>`: owned by a team (members write, org members read) or a user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity, OrgMember, Project, Team, TeamMember, User
from cairn.server.domain import names
from cairn.server.domain.errors import ConflictError, NotFoundError, PermissionDeniedError
from cairn.server.domain.principal import Principal
from cairn.server.services import audit


@dataclass(frozen=True)
class Owner:
    """The entity that owns a project, and what the caller may do there."""

    entity: Entity
    can_read: bool
    can_write: bool


@dataclass(frozen=True)
class ProjectAccess:
    """A project and the caller's rights in it."""

    project: Project
    entity_name: str
    can_write: bool
    created: bool = False


def owner(s: Session, actor: Principal, entity_name: str) -> Owner:
    """The team or user `entity_name`; hidden (404) when the caller cannot read its projects."""
    missing = NotFoundError(f"entity {entity_name!r} not found")
    entity = s.scalar(select(Entity).where(Entity.name_key == entity_name.lower()))
    if entity is None or entity.kind not in ("team", "user"):
        raise missing
    if entity.kind == "user":
        user_id = s.scalar(select(User.id).where(User.entity_id == entity.id))
        mine = user_id == actor.user_id
        if not mine:
            raise missing
        return Owner(entity, True, True)
    row = s.execute(select(Team.id, Team.org_id).where(Team.entity_id == entity.id)).first()
    if row is None:
        raise missing
    team_id, org_id = row
    in_org = s.scalar(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == actor.user_id)
    )
    if in_org is None:
        raise missing
    in_team = s.scalar(
        select(TeamMember.role).where(
            TeamMember.team_id == team_id, TeamMember.user_id == actor.user_id
        )
    )
    return Owner(entity, True, in_team is not None)


def _find(s: Session, entity: Entity, name: str) -> Project | None:
    return s.scalar(
        select(Project).where(
            Project.entity_id == entity.id, Project.name_key == names.name_key(name)
        )
    )


def get(s: Session, actor: Principal, entity_name: str, name: str) -> ProjectAccess:
    """A project the caller can read, or 404."""
    found = owner(s, actor, entity_name)
    project = _find(s, found.entity, name)
    if project is None:
        raise NotFoundError(f"project {entity_name}/{name} not found")
    return ProjectAccess(project, found.entity.name, found.can_write)


def list_for(s: Session, actor: Principal, entity_name: str) -> list[Project]:
    """Every project of an entity the caller can read."""
    found = owner(s, actor, entity_name)
    return list(
        s.scalars(
            select(Project).where(Project.entity_id == found.entity.id).order_by(Project.name)
        )
    )


def create(
    s: Session,
    actor: Principal,
    entity_name: str,
    name: str,
    description: str | None = None,
    *,
    exist_ok: bool = False,
) -> ProjectAccess:
    """Create a project (team members, or the user); `exist_ok` returns an existing one."""
    names.token_name(name, "project name")
    found = owner(s, actor, entity_name)
    existing = _find(s, found.entity, name)
    if not found.can_write:
        # Only team projects get here (a user's own are always writable, others' are hidden),
        # and org members may read those, so naming an existing one reveals nothing.
        if exist_ok and existing is not None:
            raise PermissionDeniedError(
                f"only members of {found.entity.name!r} can log to {found.entity.name}/"
                f"{existing.name}"
            )
        raise PermissionDeniedError(
            f"only members of {found.entity.name!r} can create projects there"
        )
    created = False
    if existing is None:
        try:
            with s.begin_nested():
                existing = Project(
                    entity_id=found.entity.id,
                    name=name,
                    name_key=names.name_key(name),
                    description=description,
                    created_by_id=actor.user_id,
                )
                s.add(existing)
            created = True
            audit.record(
                s,
                actor,
                "project.create",
                target_type="project",
                target_id=existing.id,
                target_name=f"{found.entity.name}/{name}",
            )
        except IntegrityError:  # created concurrently: use the winner's
            existing = _find(s, found.entity, name)
            if existing is None:
                raise
            if not exist_ok:
                raise ConflictError(f"project {found.entity.name}/{name} already exists") from None
    elif not exist_ok:
        raise ConflictError(f"project {found.entity.name}/{existing.name} already exists")
    return ProjectAccess(existing, found.entity.name, True, created)


def writable(s: Session, actor: Principal, entity_name: str, name: str) -> ProjectAccess:
    """A project the caller may log into, created on first use (`created` tells)."""
    return create(s, actor, entity_name, name, exist_ok=True)
