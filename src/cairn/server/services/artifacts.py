"""Logging artifact versions into projects, and reading them back (manifest, aliases)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cairn.server.db.base import table_of
from cairn.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactFile,
    ArtifactVersion,
    Blob,
    BlobUpload,
    User,
)
from cairn.server.domain import manifest, names
from cairn.server.domain.errors import ConflictError, NotFoundError, ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.domain.refs import LATEST, Selector
from cairn.server.services import audit, projects

MAX_METADATA_KEYS = 100
MAX_METADATA_BYTES = 256 * 1024
MAX_DESCRIPTION = 65_536
MAX_ALIASES = 32


@dataclass(frozen=True)
class LogSpec:
    """What a client asks to log."""

    name: str
    type: str
    files: list[tuple[str, str, int]]
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    client_id: str | None = None


@dataclass(frozen=True)
class FileView:
    """One file of a version."""

    path: str
    sha256: str
    md5: str | None
    size: int


@dataclass
class VersionView:
    """A logged version with what responses show about it."""

    version: ArtifactVersion
    artifact: Artifact
    entity_name: str
    project_name: str
    aliases: list[str]
    created_by: str | None
    files: list[FileView] | None = None

    @property
    def ref(self) -> str:
        """`<entity>/<project>/<name>:v<N>`."""
        a = self.artifact
        return f"{self.entity_name}/{self.project_name}/{a.name}:v{self.version.version_index}"


def check_metadata(raw: Any) -> dict[str, Any]:
    """A JSON object of at most 100 keys and 256 KiB."""
    if not isinstance(raw, dict):
        raise ValidationError("metadata must be a JSON object")
    if len(raw) > MAX_METADATA_KEYS:
        raise ValidationError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    if len(json.dumps(raw)) > MAX_METADATA_BYTES:
        raise ValidationError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return raw


def check_description(raw: str | None) -> str | None:
    """A description of at most 64 KiB (markdown)."""
    if raw is not None and len(raw) > MAX_DESCRIPTION:
        raise ValidationError(f"description must be at most {MAX_DESCRIPTION} characters")
    return raw


def check_aliases(raw: list[str]) -> list[str]:
    """Alias names, deduplicated; `latest` and version-shaped names are refused."""
    if len(raw) > MAX_ALIASES:
        raise ValidationError(f"at most {MAX_ALIASES} aliases at once")
    return sorted({names.alias(a) for a in raw})


def _blob_ids(s: Session, actor: Principal, entries: list[manifest.Entry]) -> dict[str, int]:
    """Blob ids for the manifest's digests; each must be stored, sent by this caller, same size."""
    digests = sorted({e.sha256 for e in entries})
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(digests), 500):
        rows = s.execute(
            select(Blob.sha256, Blob.id, Blob.size)
            .join(BlobUpload, BlobUpload.blob_id == Blob.id)
            .where(
                Blob.sha256.in_(digests[start : start + 500]), BlobUpload.user_id == actor.user_id
            )
        )
        found.update({sha: (bid, size) for sha, bid, size in rows})
    absent = [d for d in digests if d not in found]
    if absent:
        shown = ", ".join(absent[:5]) + (" …" if len(absent) > 5 else "")
        raise ConflictError(f"{len(absent)} file(s) not uploaded yet: {shown}; upload them first")
    for e in entries:
        if found[e.sha256][1] != e.size:
            raise ValidationError(f"file {e.path!r}: size {e.size} differs from its blob's")
    return {sha: bid for sha, (bid, _) in found.items()}


def _artifact(s: Session, project_id: int, name: str, type_: str) -> Artifact:
    artifact = s.scalar(
        select(Artifact).where(Artifact.project_id == project_id, Artifact.name == name)
    )
    if artifact is None:
        try:
            with s.begin_nested():
                artifact = Artifact(project_id=project_id, name=name, type=type_, next_index=0)
                s.add(artifact)
        except IntegrityError:
            artifact = s.scalar(
                select(Artifact).where(Artifact.project_id == project_id, Artifact.name == name)
            )
            assert artifact is not None
    if artifact.type != type_:
        raise ConflictError(
            f"artifact {name!r} has type {artifact.type!r}; "
            f"it cannot take a version of type {type_!r}"
        )
    return artifact


def log(
    s: Session, actor: Principal, entity_name: str, project_name: str, spec: LogSpec
) -> tuple[VersionView, bool]:
    """Commit a new version (or return the identical existing one); True when it is new."""
    names.token_name(spec.name, "artifact name")
    names.artifact_type(spec.type)
    entries = manifest.entries(spec.files)
    metadata = check_metadata(spec.metadata)
    aliases = check_aliases(spec.aliases)
    description = check_description(spec.description)
    if spec.client_id is not None and len(spec.client_id) > 128:
        raise ValidationError("client_id must be at most 128 characters")
    project = projects.writable(s, actor, entity_name, project_name)
    blob_ids = _blob_ids(s, actor, entries)
    artifact = _artifact(s, project.project.id, spec.name, spec.type)
    digest = manifest.content_digest(entries)
    version = s.scalar(
        select(ArtifactVersion).where(
            ArtifactVersion.artifact_id == artifact.id, ArtifactVersion.digest == digest
        )
    )
    created = version is None
    if version is None:
        index = (
            s.execute(
                update(Artifact)
                .where(Artifact.id == artifact.id)
                .values(next_index=Artifact.next_index + 1)
                .returning(Artifact.next_index)
            ).scalar_one()
            - 1
        )
        version = ArtifactVersion(
            artifact_id=artifact.id,
            version_index=index,
            digest=digest,
            description=description,
            metadata_=metadata,
            size=sum(e.size for e in entries),
            file_count=len(entries),
            client_id=spec.client_id,
            created_by_id=actor.user_id,
        )
        s.add(version)
        s.flush()
        if entries:
            s.execute(
                insert(table_of(ArtifactFile)),
                [
                    {"version_id": version.id, "path": e.path, "blob_id": blob_ids[e.sha256]}
                    for e in entries
                ],
            )
    for alias in aliases:
        _set_alias(s, artifact.id, alias, version.id)
    view = view_of(s, project.entity_name, project.project.name, artifact, version, files=False)
    audit.record(
        s,
        actor,
        "artifact.log" if created else "artifact.log.same",
        target_type="artifact_version",
        target_id=version.id,
        target_name=view.ref,
        after={"digest": digest, "aliases": aliases, "files": len(entries)},
    )
    return view, created


def _set_alias(s: Session, artifact_id: int, alias: str, version_id: int) -> None:
    row = s.get(ArtifactAlias, (artifact_id, alias))
    if row is None:
        s.add(ArtifactAlias(artifact_id=artifact_id, alias=alias, version_id=version_id))
        s.flush()
    else:
        row.version_id = version_id


def view_of(
    s: Session,
    entity_name: str,
    project_name: str,
    artifact: Artifact,
    version: ArtifactVersion,
    *,
    files: bool,
) -> VersionView:
    """A version's view: its aliases (with `latest` when newest), creator and maybe its files."""
    view = views_of(s, entity_name, project_name, artifact, [version])[0]
    if files:
        view.files = files_of(s, version.id)
    return view


def views_of(
    s: Session,
    entity_name: str,
    project_name: str,
    artifact: Artifact,
    versions: list[ArtifactVersion],
) -> list[VersionView]:
    """Views of several versions of one artifact in three queries, whatever their number."""
    ids = [v.id for v in versions]
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for vid, alias in s.execute(
        select(ArtifactAlias.version_id, ArtifactAlias.alias)
        .where(ArtifactAlias.version_id.in_(ids))
        .order_by(ArtifactAlias.alias)
    ):
        aliases[vid].append(alias)
    newest = s.scalar(
        select(ArtifactVersion.version_index)
        .where(ArtifactVersion.artifact_id == artifact.id)
        .order_by(ArtifactVersion.version_index.desc())
        .limit(1)
    )
    creators = user_names(s, {v.created_by_id for v in versions})
    return [
        VersionView(
            v,
            artifact,
            entity_name,
            project_name,
            ([LATEST] if v.version_index == newest else []) + aliases[v.id],
            creators.get(v.created_by_id),
        )
        for v in versions
    ]


def user_names(s: Session, ids: set[int | None]) -> dict[int | None, str]:
    """Usernames by user id, in one query."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(s.execute(select(User.id, User.username).where(User.id.in_(wanted))).all())


def files_of(s: Session, version_id: int) -> list[FileView]:
    """The manifest of a version, by file name."""
    rows = s.execute(
        select(ArtifactFile.path, Blob.sha256, Blob.md5, Blob.size)
        .join(Blob, Blob.id == ArtifactFile.blob_id)
        .where(ArtifactFile.version_id == version_id)
        .order_by(ArtifactFile.path)
    )
    return [FileView(p, sha, md5, size) for p, sha, md5, size in rows]


def find_version(s: Session, artifact: Artifact, selector: Selector) -> ArtifactVersion | None:
    """The version an index or alias (`latest`: the newest) selects within an artifact."""
    query = select(ArtifactVersion).where(ArtifactVersion.artifact_id == artifact.id)
    if selector.index is not None:
        return s.scalar(query.where(ArtifactVersion.version_index == selector.index))
    if selector.alias == LATEST:
        return s.scalar(query.order_by(ArtifactVersion.version_index.desc()).limit(1))
    return s.scalar(
        query.join(ArtifactAlias, ArtifactAlias.version_id == ArtifactVersion.id).where(
            ArtifactAlias.artifact_id == artifact.id, ArtifactAlias.alias == selector.alias
        )
    )


def get(
    s: Session, actor: Principal, entity_name: str, project_name: str, name: str, selector: Selector
) -> VersionView:
    """A logged version the caller can read, with its files."""
    project = projects.get(s, actor, entity_name, project_name)
    ref = f"{entity_name}/{project_name}/{name}:{selector}"
    artifact = s.scalar(
        select(Artifact).where(Artifact.project_id == project.project.id, Artifact.name == name)
    )
    version = find_version(s, artifact, selector) if artifact is not None else None
    if artifact is None or version is None:
        raise NotFoundError(f"artifact {ref} not found")
    return view_of(s, project.entity_name, project.project.name, artifact, version, files=True)


def list_versions(
    s: Session, actor: Principal, entity_name: str, project_name: str, name: str
) -> list[VersionView]:
    """Every version of an artifact, newest first (without files)."""
    project = projects.get(s, actor, entity_name, project_name)
    artifact = s.scalar(
        select(Artifact).where(Artifact.project_id == project.project.id, Artifact.name == name)
    )
    if artifact is None:
        raise NotFoundError(f"artifact {entity_name}/{project_name}/{name} not found")
    versions = s.scalars(
        select(ArtifactVersion)
        .where(ArtifactVersion.artifact_id == artifact.id)
        .order_by(ArtifactVersion.version_index.desc())
        .limit(1000)
    ).all()
    return views_of(s, project.entity_name, project.project.name, artifact, list(versions))


def list_artifacts(
    s: Session, actor: Principal, entity_name: str, project_name: str
) -> list[Artifact]:
    """Every artifact name in a project."""
    project = projects.get(s, actor, entity_name, project_name)
    return list(
        s.scalars(
            select(Artifact)
            .where(Artifact.project_id == project.project.id)
            .order_by(Artifact.name)
        )
    )
