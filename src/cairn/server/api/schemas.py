"""Request and response models of the JSON API: requests forbid unknown fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Request(BaseModel):
    """Base of request bodies: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_max_length=65_536)


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
