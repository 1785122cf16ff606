"""Turning service results into response models (one place per shape)."""

from __future__ import annotations

from cairn.server.api import schemas
from cairn.server.db.models import ApiKey, AuditEvent, Team, User
from cairn.server.services.artifacts import FileView, VersionView
from cairn.server.services.collections import CollectionView
from cairn.server.services.linked import LinkedView
from cairn.server.services.orgs import OrgAccess
from cairn.server.services.registries import RegistryView
from cairn.server.services.registry_members import MemberView


def user(u: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=u.id,
        username=u.username,
        email=u.email,
        is_service=u.is_service,
        is_superuser=u.is_superuser,
        active=u.active,
        created_at=u.created_at,
    )


def org(o: OrgAccess) -> schemas.OrganizationOut:
    return schemas.OrganizationOut(
        id=o.org.id, name=o.org.name, role=o.role.value, created_at=o.org.created_at
    )


def org_member(u: User, role: str) -> schemas.OrgMemberOut:
    return schemas.OrgMemberOut(
        username=u.username, email=u.email, role=role, is_service=u.is_service, active=u.active
    )


def team(t: Team, org_name: str, count: int) -> schemas.TeamOut:
    return schemas.TeamOut(
        id=t.id,
        name=t.name,
        organization=org_name,
        description=t.description,
        created_at=t.created_at,
        members_count=count,
    )


def key(k: ApiKey, owner: str) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=k.id,
        name=k.name,
        prefix=k.prefix,
        username=owner,
        created_at=k.created_at,
        last_used_at=k.last_used_at,
    )


def registry(v: RegistryView) -> schemas.RegistryOut:
    r = v.registry
    return schemas.RegistryOut(
        id=r.id,
        name=r.name,
        full_name=f"{v.org_name}/{r.name}",
        organization=v.org_name,
        description=r.description,
        visibility=r.visibility,
        allow_all_artifact_types=r.allow_all_types,
        artifact_types=v.types,
        protected_aliases=v.protected_aliases,
        owner_team=v.owner_team,
        is_core=r.is_core,
        created_at=r.created_at,
        updated_at=r.updated_at,
        role=v.role.value,
    )


def member(m: MemberView) -> schemas.RegistryMemberOut:
    return schemas.RegistryMemberOut(kind=m.kind, name=m.name, email=m.email, role=m.role.value)


def files(views: list[FileView] | None) -> list[schemas.FileOut] | None:
    if views is None:
        return None
    return [schemas.FileOut(path=f.path, sha256=f.sha256, md5=f.md5, size=f.size) for f in views]


def version(v: VersionView, *, with_files: bool = True) -> schemas.VersionOut:
    ver, art = v.version, v.artifact
    return schemas.VersionOut(
        id=ver.id,
        ref=v.ref,
        entity=v.entity_name,
        project=v.project_name,
        name=art.name,
        type=art.type,
        version=f"v{ver.version_index}",
        version_index=ver.version_index,
        digest=ver.digest,
        description=ver.description,
        metadata=ver.metadata_ or {},
        size=ver.size,
        file_count=ver.file_count,
        aliases=v.aliases,
        created_by=v.created_by,
        created_at=ver.created_at,
        client_id=ver.client_id,
        files=files(v.files) if with_files else None,
    )


def collection(v: CollectionView) -> schemas.CollectionOut:
    c = v.collection
    return schemas.CollectionOut(
        id=c.id,
        ref=f"{v.org_name}/{v.registry.name}/{c.name}",
        organization=v.org_name,
        registry=v.registry.name,
        name=c.name,
        type=c.type,
        description=c.description,
        tags=v.tags,
        version_count=v.version_count,
        aliases={alias: f"v{index}" for alias, index in sorted(v.aliases.items())},
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def linked(v: LinkedView) -> schemas.LinkedVersionOut:
    lv = v.linked
    return schemas.LinkedVersionOut(
        id=lv.id,
        ref=v.ref,
        organization=v.org_name,
        registry=v.registry.name,
        collection=v.collection.name,
        type=v.collection.type,
        version=f"v{lv.version_index}",
        version_index=lv.version_index,
        aliases=v.aliases,
        linked_by=v.linked_by,
        linked_at=lv.created_at,
        source=version(v.source, with_files=False),
        files=files(v.source.files),
        role=v.role,
    )


def event(e: AuditEvent) -> schemas.EventOut:
    return schemas.EventOut(
        id=e.id,
        at=e.at,
        actor=e.actor_name,
        auth_method=e.auth_method,
        action=e.action,
        target_type=e.target_type,
        target_name=e.target_name,
        before=e.before,
        after=e.after,
    )
