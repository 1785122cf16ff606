"""Which file bytes a caller may fetch: found through the version's parent, never by digest."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session

from cairn.server.db.models import Artifact, ArtifactAlias, ArtifactFile, ArtifactVersion, Blob
from cairn.server.domain.errors import NotFoundError, ValidationError
from cairn.server.domain.manifest import sha256_digest
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import LATEST, Selector
from cairn.server.domain.roles import Action, allows
from cairn.server.services import artifacts, collections, linked, projects
from cairn.server.services.artifacts import FileView


def _find_files(
    s: Session, version_id: int | ScalarSelect[int], digests: Sequence[str]
) -> dict[str, FileView]:
    """The files of ``digests`` in one version, in ONE query (first path by name for a digest
    saved under several)."""
    rows = s.execute(
        select(Blob.sha256, func.min(ArtifactFile.path), Blob.md5, Blob.size)
        .join(Blob, Blob.id == ArtifactFile.blob_id)
        .where(ArtifactFile.version_id == version_id, Blob.sha256.in_(digests))
        .group_by(Blob.sha256, Blob.md5, Blob.size)
    )
    return {sha: FileView(path, sha, md5, size) for sha, path, md5, size in rows}


def _distinct(digests: Sequence[str]) -> list[str]:
    """Each digest once, in first-seen order, every one checked to be a sha256."""
    if not digests:
        raise ValidationError("name at least one file by its sha256")
    return [sha256_digest(d) for d in dict.fromkeys(digests)]


def _in_order(
    found: dict[str, FileView], wanted: list[str], absent: Callable[[str], NotFoundError]
) -> list[FileView]:
    """The files of ``wanted`` in its order; ``absent(sha256)`` is raised for the first one
    the version lacks."""
    for sha256 in wanted:
        if sha256 not in found:
            raise absent(sha256)
    return [found[sha256] for sha256 in wanted]


def _logged_version(project_id: int, name: str, selector: Selector) -> ScalarSelect[int]:
    """The id of the version ``selector`` picks in a project's artifact ``name`` (a subquery;
    the same choice as ``artifacts.find_version``)."""
    query = (
        select(ArtifactVersion.id)
        .join(Artifact, Artifact.id == ArtifactVersion.artifact_id)
        .where(Artifact.project_id == project_id, Artifact.name == name)
    )
    if selector.index is not None:
        query = query.where(ArtifactVersion.version_index == selector.index)
    elif selector.alias == LATEST:
        query = query.order_by(ArtifactVersion.version_index.desc()).limit(1)
    else:
        query = query.join(ArtifactAlias, ArtifactAlias.version_id == ArtifactVersion.id).where(
            ArtifactAlias.artifact_id == Artifact.id, ArtifactAlias.alias == selector.alias
        )
    return query.scalar_subquery()


def _downloadable_linked(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    selector: Selector,
    first: str,
) -> tuple[int, str]:
    """(artifact version id, shown name) of a linked version whose bytes the caller may
    fetch; a restricted viewer sees manifests but gets 404 naming ``first`` on bytes."""
    shown = f"{registry_name}/{collection_name}:{selector}"
    place = collections.locate(s, actor, org_name, registry_name, collection_name, Action.VIEW)
    if not allows(place.reg.role, Action.DOWNLOAD):
        raise NotFoundError(f"file {first} not found in {shown}")
    target = linked.find(s, place.collection, selector)
    if target is None:
        raise NotFoundError(f"version {shown} not found")
    return target.artifact_version_id, shown


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
    return linked_files(s, actor, org_name, registry_name, collection_name, selector, [sha256])[0]


def linked_files(
    s: Session,
    actor: Principal,
    org_name: str,
    registry_name: str,
    collection_name: str,
    selector: Selector,
    digests: Sequence[str],
) -> list[FileView]:
    """Files of a linked version, one per distinct digest in first-seen order (the rules of
    ``linked_file``), found in one query."""
    wanted = _distinct(digests)
    version_id, shown = _downloadable_linked(
        s, actor, org_name, registry_name, collection_name, selector, wanted[0]
    )
    found = _find_files(s, version_id, wanted)
    return _in_order(found, wanted, lambda d: NotFoundError(f"file {d} not found in {shown}"))


def logged_file(
    s: Session,
    actor: Principal,
    entity_name: str,
    project_name: str,
    name: str,
    selector: Selector,
    sha256: str,
) -> FileView:
    """A file of a logged version in a project the caller can read (one query once the
    project's access is checked)."""
    return logged_files(s, actor, entity_name, project_name, name, selector, [sha256])[0]


def _logged_absence(
    s: Session, project_id: int, name: str, selector: Selector, sha256: str, shown: str
) -> NotFoundError:
    """One more look after a file was not found: is the version or the file missing?"""
    artifact = s.scalar(
        select(Artifact).where(Artifact.project_id == project_id, Artifact.name == name)
    )
    version = artifacts.find_version(s, artifact, selector) if artifact is not None else None
    if version is None:
        return NotFoundError(f"artifact {shown} not found")
    return NotFoundError(f"file {sha256} not found in {shown}")


def logged_files(
    s: Session,
    actor: Principal,
    entity_name: str,
    project_name: str,
    name: str,
    selector: Selector,
    digests: Sequence[str],
) -> list[FileView]:
    """Files of a logged version, one per distinct digest in first-seen order: the access
    check, then one query for them all; 404 naming the first digest the version lacks."""
    wanted = _distinct(digests)
    shown = f"{entity_name}/{project_name}/{name}:{selector}"
    project_id = projects.get(s, actor, entity_name, project_name).project.id
    found = _find_files(s, _logged_version(project_id, name, selector), wanted)
    return _in_order(
        found, wanted, lambda d: _logged_absence(s, project_id, name, selector, d, shown)
    )
