"""Every table of Cairn. Each row has a stable integer primary key (W&B ids are `Type:<int>`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from cairn.server.db.base import Base, UTCDateTime, utcnow

# SQLite reuses the largest rowid after a delete unless told not to; ids are never reused here
# (histories and clients hold them).
AUTOINCREMENT = {"sqlite_autoincrement": True}

__all__ = ["Base"]  # models register on Base.metadata; migrations read it from here


class Entity(Base):
    """The one namespace shared by organizations, teams and users."""

    __tablename__ = "entities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (AUTOINCREMENT,)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)


class User(Base):
    """A person or a service account (API keys only, no password)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (AUTOINCREMENT,)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_service: Mapped[bool] = mapped_column(Boolean, default=False)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Organization(Base):
    """The tenant: owns registries and teams."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (AUTOINCREMENT,)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgMember(Base):
    """A user's role in an organization."""

    __tablename__ = "org_members"
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))


class Team(Base):
    """A group of users inside an organization."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (Index("ix_teams_org_id", "org_id"), AUTOINCREMENT)


class TeamMember(Base):
    """A user's role in a team."""

    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
    __table_args__ = (Index("ix_team_members_user_team", "user_id", "team_id", "role"),)


class ApiKey(Base):
    """An API key: a public lookup prefix plus a hash of the secret; shown once."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (AUTOINCREMENT,)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: only a hash of its cookie token is stored, with its CSRF secret."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (AUTOINCREMENT,)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Registry(Base):
    """An organization-owned, curated catalogue of collections."""

    __tablename__ = "registries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16))
    allow_all_types: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    is_core: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("org_id", "name_key"),
        # Listing reads organization-visible registries along these, in each sort order.
        Index("ix_registries_org_visibility", "org_id", "visibility", "name_key", "id"),
        Index("ix_registries_org_vis_created", "org_id", "visibility", "created_at", "id"),
        Index("ix_registries_org_vis_updated", "org_id", "visibility", "updated_at", "id"),
        Index("ix_registries_org_created", "org_id", "created_at", "id"),
        Index("ix_registries_org_updated", "org_id", "updated_at", "id"),
        CheckConstraint("visibility IN ('restricted', 'organization')", name="visibility"),
        AUTOINCREMENT,
    )


class RegistryType(Base):
    """An accepted artifact type of a registry; rows are only ever added."""

    __tablename__ = "registry_types"
    registry_id: Mapped[int] = mapped_column(
        ForeignKey("registries.id", ondelete="CASCADE"), primary_key=True
    )
    type_name: Mapped[str] = mapped_column(String(128), primary_key=True)


class ProtectedAlias(Base):
    """An alias name that only registry admins may add, move or remove."""

    __tablename__ = "protected_aliases"
    registry_id: Mapped[int] = mapped_column(
        ForeignKey("registries.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)


class RegistryMember(Base):
    """A user or a team holding a role on a registry."""

    __tablename__ = "registry_members"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    __table_args__ = (
        UniqueConstraint("registry_id", "user_id"),
        UniqueConstraint("registry_id", "team_id"),
        Index("ix_registry_members_user", "user_id", "registry_id"),
        Index("ix_registry_members_team", "team_id", "registry_id"),
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_subject"),
        AUTOINCREMENT,
    )


class AuditEvent(Base):
    """One security-relevant action: who, how, what, before and after. Append-only."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(64))
    auth_method: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    target_name: Mapped[str | None] = mapped_column(String(300))
    registry_id: Mapped[int | None] = mapped_column(Integer)
    collection_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    __table_args__ = (
        Index("ix_audit_events_org_at", "org_id", "at"),
        Index("ix_audit_events_registry", "registry_id", "id"),
        Index("ix_audit_events_collection", "collection_id", "id"),
        AUTOINCREMENT,
    )


class Blob(Base):
    """Content-addressed file bytes: stored once server-wide under their sha256."""

    __tablename__ = "blobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    __table_args__ = (
        # Only the blobs still waiting for their md5: what blob_md5's sweep at every start
        # reads, without scanning every blob.
        Index(
            "ix_blobs_md5_pending",
            "sha256",
            sqlite_where=text("md5 IS NULL"),
            postgresql_where=text("md5 IS NULL"),
        ),
        AUTOINCREMENT,
    )
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    md5: Mapped[str | None] = mapped_column(String(32))  # taken after a large upload: blob_md5
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    # cairn._ends of the bytes; None for blobs stored before migration 0006: unknown ends
    # match any file of the blob's size (POST /blobs/ends).
    ends: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BlobUpload(Base):
    """Who has sent which blob: the missing-blob check answers from what the caller may know."""

    __tablename__ = "blob_uploads"
    blob_id: Mapped[int] = mapped_column(
        ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Project(Base):
    """Where artifacts are first logged: `<entity>/<project>`, owned by a team or a user."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(512))
    description: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("entity_id", "name_key"), AUTOINCREMENT)


class Artifact(Base):
    """An artifact name inside a project (W&B's "sequence"), of one type."""

    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(128))
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("project_id", "name"), AUTOINCREMENT)


class ArtifactVersion(Base):
    """An immutable, committed version of an artifact: its manifest, metadata and size."""

    __tablename__ = "artifact_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    version_index: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    client_id: Mapped[str | None] = mapped_column(String(128))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("artifact_id", "version_index"),
        UniqueConstraint("artifact_id", "digest"),
        AUTOINCREMENT,
    )


class ArtifactFile(Base):
    """One manifest entry: a file name (data, never a path on disk) and its blob."""

    __tablename__ = "artifact_files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("artifact_versions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"), index=True)
    __table_args__ = (UniqueConstraint("version_id", "path"), AUTOINCREMENT)


class ArtifactAlias(Base):
    """A project-level alias of an artifact version (`candidate`, …); unique per artifact."""

    __tablename__ = "artifact_aliases"
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_versions.id", ondelete="CASCADE"), index=True
    )


class Collection(Base):
    """A named set of linked versions in a registry, of exactly one artifact type."""

    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(512))
    type: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    next_index: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("registry_id", "name_key"),
        Index("ix_collections_registry_updated", "registry_id", "updated_at", "id"),
        AUTOINCREMENT,
    )


class CollectionTag(Base):
    """A tag of a collection, one row each so that tag filters use an index."""

    __tablename__ = "collection_tags"
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)


class LinkedVersion(Base):
    """A pointer from a collection to a logged version; numbered per collection, never reused."""

    __tablename__ = "linked_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    version_index: Mapped[int] = mapped_column(Integer)
    artifact_version_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_versions.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        UniqueConstraint("collection_id", "version_index"),
        UniqueConstraint("collection_id", "artifact_version_id"),
        AUTOINCREMENT,
    )


class CollectionAlias(Base):
    """An alias inside a collection: unique there, pointing at one linked version."""

    __tablename__ = "collection_aliases"
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    linked_version_id: Mapped[int] = mapped_column(
        ForeignKey("linked_versions.id", ondelete="CASCADE"), index=True
    )


class ServerState(Base):
    """One row: a generation number that every committed change to the catalogue moves on.

    Server processes cache authentication and resolution results under it, so any change
    anywhere (a revoked key, a moved alias, a removed member) is seen by every process at once.
    """

    __tablename__ = "server_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
