"""Which file bytes a caller may fetch: found through the version's parent, never by digest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cairn.server.db.models import Artifact, ArtifactFile, Blob
from cairn.server.domain.errors import NotFoundError
from cairn.server.domain.manifest import sha256_digest
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import Selector
from cairn.server.domain.roles import Action, allows
from cairn.server.services import artifacts, collections, linked, projects
from cairn.server.services.artifacts import FileView


def _file(s: Session, version_id: int, sha256: str, shown: str) -> FileView:
    row = s.execute(
        select(ArtifactFile.path, Blob.md5, Blob.size)
        .join(Blob, Blob.id == ArtifactFile.blob_id)
        .where(ArtifactFile.version_id == version_id, Blob.sha256 == sha256)
        .order_by(ArtifactFile.path)
        .limit(1)
    ).first()
    if row is None:
        raise NotFoundError(f"file {sha256} not found in {shown}")
    return FileView(row[0], sha256, row[1], row[2])


def linked_file(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    selector: Selector,
    sha256: str,
) -> FileView:
    """A file of a linked version; restricted viewers see manifests but get 404 on bytes."""
    sha256_digest(sha256)
    shown = f"{registry_name}/{collection_name}:{selector}"
    place = collections.locate(s, actor, org_name, registry_name, collection_name, Action.VIEW)
    if not allows(place.reg.role, Action.DOWNLOAD):
        raise NotFoundError(f"file {sha256} not found in {shown}")
    target = linked.find(s, place.collection, selector)
    if target is None:
        raise NotFoundError(f"version {shown} not found")
    return _file(s, target.artifact_version_id, sha256, shown)


def logged_file(
    s: Session,
    actor: Principal,
    entity_name: str,
    project_name: str,
    name: str,
    selector: Selector,
    sha256: str,
) -> FileView:
    """A file of a logged version in a project the caller can read."""
    sha256_digest(sha256)
    shown = f"{entity_name}/{project_name}/{name}:{selector}"
    project = projects.get(s, actor, entity_name, project_name)
    artifact = s.scalar(
        select(Artifact).where(Artifact.project_id == project.project.id, Artifact.name == name)
    )
    version = artifacts.find_version(s, artifact, selector) if artifact is not None else None
    if version is None:
        raise NotFoundError(f"artifact {shown} not found")
    return _file(s, version.id, sha256, shown)
