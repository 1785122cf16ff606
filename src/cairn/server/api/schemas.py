"""Request and response models of the JSON API: requests forbid unknown fields."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Request(BaseModel):
    """Base of request bodies: unknown fields are refused (no mass assignment), no NUL text,
    and every value must have its JSON type (strict: `true` is not 1, "1" is not 1)."""

    model_config = ConfigDict(extra="forbid", str_max_length=65_536, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if depth > 32:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    """Refuse the numbers pydantic would read as Unix times: the spec says ISO 8601."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("use an ISO 8601 date-time, e.g. 2026-11-28T09:00:00Z")
    return value


# A point in time given as a query parameter.
Instant = Annotated[datetime, BeforeValidator(_iso_only)]


class Response(BaseModel):
    """Base of response bodies: only declared fields leave the server."""

    model_config = ConfigDict(extra="ignore")


class ErrorDetail(Response):
    code: str
    message: str


class ErrorBody(Response):
    error: ErrorDetail


class LoginIn(Request):
    username: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=4096)
    key_name: str = Field("cli", min_length=1, max_length=128)


class LoginOut(Response):
    key: str
    key_id: int
    username: str


class UserOut(Response):
    id: int
    username: str
    email: str | None
    is_service: bool
    is_superuser: bool
    active: bool
    created_at: datetime


class OrgRoleOut(Response):
    name: str
    role: str


class ViewerOut(UserOut):
    organizations: list[OrgRoleOut]
    default_organization: str | None


class OrganizationIn(Request):
    name: str = Field(min_length=1, max_length=64)


class OrganizationOut(Response):
    id: int
    name: str
    role: str
    created_at: datetime


class OrgMemberIn(Request):
    user: str = Field(min_length=1, max_length=254)
    role: str = "member"


class RoleIn(Request):
    role: str = Field(min_length=1, max_length=32)


class OrgMemberOut(Response):
    username: str
    email: str | None
    role: str
    is_service: bool
    active: bool


class NewUserIn(Request):
    username: str = Field(min_length=1, max_length=64)
    email: str | None = Field(None, max_length=254)
    password: str | None = Field(None, max_length=4096)
    service: bool = False
    role: str | None = None


class UserPatchIn(Request):
    active: bool


class TeamIn(Request):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = Field(None, max_length=4096)


class TeamMemberIn(Request):
    user: str = Field(min_length=1, max_length=254)
    role: str = "member"


class TeamMemberOut(Response):
    username: str
    role: str


class TeamOut(Response):
    id: int
    name: str
    organization: str
    description: str | None
    created_at: datetime
    members_count: int
    members: list[TeamMemberOut] | None = None


class KeyIn(Request):
    name: str = Field(min_length=1, max_length=128)
    user: str | None = Field(None, max_length=64)


class KeyOut(Response):
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None


class NewKeyOut(KeyOut):
    key: str


class RegistryIn(Request):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    visibility: str = "restricted"
    artifact_types: list[str] | None = Field(None, max_length=100)
    owner_team: str | None = Field(None, max_length=64)


class RegistryPatchIn(Request):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    visibility: str | None = None
    artifact_types: list[str] | None = Field(None, max_length=100)
    allow_all_artifact_types: bool | None = None
    protected_aliases: list[str] | None = Field(None, max_length=100)
    owner_team: str | None = Field(None, max_length=64)


class RegistryOut(Response):
    id: int
    name: str
    full_name: str
    organization: str
    description: str | None
    visibility: str
    allow_all_artifact_types: bool
    artifact_types: list[str]
    protected_aliases: list[str]
    owner_team: str | None
    is_core: bool
    created_at: datetime
    updated_at: datetime
    role: str


class RegistryPage(Response):
    items: list[RegistryOut]
    next_cursor: str | None


class MemberIn(Request):
    member: str = Field(min_length=1, max_length=254)
    kind: str | None = None
    role: str | None = None


class MembersIn(Request):
    members: list[MemberIn] = Field(min_length=1, max_length=100)


class RegistryMemberOut(Response):
    kind: str
    name: str
    email: str | None
    role: str


class BlobRef(Request):
    sha256: str = Field(min_length=64, max_length=64)
    size: int = Field(ge=0, le=1 << 50)


class MissingIn(Request):
    blobs: list[BlobRef] = Field(max_length=10_000)


class MissingOut(Response):
    missing: list[str]


class SizesIn(Request):
    sizes: list[Annotated[int, Field(ge=0, le=1 << 50)]] = Field(max_length=10_000)


class SizesOut(Response):
    sent: list[int]


class SizeEnds(Request):
    size: Annotated[int, Field(ge=0, le=1 << 50)]
    ends: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class EndsIn(Request):
    files: list[SizeEnds] = Field(max_length=10_000)


class SizeEndsOut(Response):
    size: int
    ends: str


class EndsOut(Response):
    sent: list[SizeEndsOut]


MD5_LATER = (
    "hex md5 of the bytes; null for a file of 64 MiB or more stored on local disk until the "
    "server has taken it, in the seconds after the upload"
)


class BlobOut(Response):
    sha256: str
    size: int
    md5: str | None = Field(description=MD5_LATER)
    created: bool


class DirectUploadIn(Request):
    size: int = Field(ge=0, le=1 << 50)


class DirectUploadOut(Response):
    upload: str
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


class BlobBatchOut(Response):
    blobs: list[BlobOut]


class FilesBatchIn(Request):
    sha256: list[str] = Field(min_length=1, max_length=1000)


class ProjectIn(Request):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=65_536)


class ProjectOut(Response):
    id: int
    entity: str
    name: str
    description: str | None
    created_at: datetime


class ArtifactSummaryOut(Response):
    name: str
    type: str
    versions: int


class FileIn(Request):
    path: str = Field(min_length=1, max_length=1024)
    sha256: str = Field(min_length=64, max_length=64)
    size: int = Field(ge=0, le=1 << 50)


class LogIn(Request):
    name: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=128)
    files: list[FileIn] = Field(max_length=100_000)
    description: str | None = Field(None, max_length=65_536)
    metadata: dict[str, Any] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list, max_length=32)
    client_id: str | None = Field(None, max_length=128)


class FileOut(Response):
    path: str
    sha256: str
    md5: str | None = Field(description=MD5_LATER)
    size: int


class VersionOut(Response):
    id: int
    ref: str
    entity: str
    project: str
    name: str
    type: str
    version: str
    version_index: int
    digest: str
    description: str | None
    metadata: dict[str, Any]
    size: int
    file_count: int
    aliases: list[str]
    created_by: str | None
    created_at: datetime
    client_id: str | None
    files: list[FileOut] | None = None


class CollectionIn(Request):
    name: str = Field(min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=65_536)
    tags: list[str] = Field(default_factory=list, max_length=64)


class CollectionPatchIn(Request):
    name: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Field(None, max_length=65_536)
    tags: list[str] | None = Field(None, max_length=64)


class CollectionOut(Response):
    id: int
    ref: str
    organization: str
    registry: str
    name: str
    type: str
    description: str | None
    tags: list[str]
    version_count: int
    aliases: dict[str, str]
    created_at: datetime
    updated_at: datetime


class CollectionPage(Response):
    items: list[CollectionOut]
    next_cursor: str | None


class LinkIn(Request):
    source: str = Field(min_length=1, max_length=1024)
    aliases: list[str] = Field(default_factory=list, max_length=32)


class AliasIn(Request):
    version: str = Field(min_length=1, max_length=128)


class LinkedVersionOut(Response):
    id: int
    ref: str
    organization: str
    registry: str
    collection: str
    type: str
    version: str
    version_index: int
    aliases: list[str]
    linked_by: str | None
    linked_at: datetime
    source: VersionOut
    files: list[FileOut] | None = None
    role: str


class LinkedPage(Response):
    items: list[LinkedVersionOut]
    next_cursor: str | None


class EventOut(Response):
    id: int
    at: datetime
    actor: str | None
    auth_method: str
    action: str
    target_type: str
    target_name: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ResolveOut(Response):
    kind: str
    linked: LinkedVersionOut | None = None
    logged: VersionOut | None = None
