"""Registries: the W&B-shaped ``Registry`` object, its members, and the ``Api`` methods."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cairn.client._accounts import User
from cairn.client._artifact_types import ArtifactTypes, check_keeps_saved
from cairn.client._collections import Collection
from cairn.client._errors import NotFoundError, ValidationError
from cairn.client._pages import PageFetcher, Paginator
from cairn.client._records import from_json, parse_time, without_none
from cairn.client._session import Session, api_path
from cairn.client._teams import Team
from cairn.client._versions import LinkedVersion, linked_versions, paged

#: The settings ``save()`` sends when they differ from the last loaded state.
EDITABLE_FIELDS = (
    "name",
    "description",
    "visibility",
    "artifact_types",
    "allow_all_artifact_types",
    "protected_aliases",
    "owner_team",
)


@dataclass(frozen=True)
class RegistryMember:
    """A user or team holding a role on a registry; ``email`` is ``None`` for teams."""

    kind: str
    name: str
    email: str | None = None
    role: str | None = None


MemberRef = str | User | Team | RegistryMember


def _member_spec(member: MemberRef) -> dict[str, str]:
    """The ``{"member", "kind"?}`` of a request; objects name their kind explicitly."""
    if isinstance(member, User):
        return {"member": member.username, "kind": "user"}
    if isinstance(member, Team):
        return {"member": member.name, "kind": "team"}
    if isinstance(member, RegistryMember):
        return {"member": member.name, "kind": member.kind}
    return {"member": member}


class Registry:
    """An organization's curated catalogue of artifacts, with its settings and members.

    ``name``, ``description``, ``visibility``, ``artifact_types``,
    ``allow_all_artifact_types``, ``protected_aliases`` and ``owner_team`` may be
    assigned; ``save()`` sends the ones that changed. ``artifact_types`` is add-only
    for the types already saved.
    """

    id: int
    name: str
    full_name: str
    organization: str
    description: str | None
    visibility: str
    allow_all_artifact_types: bool
    protected_aliases: list[str]
    owner_team: str | None
    is_core: bool
    created_at: datetime | None
    updated_at: datetime | None
    role: str | None

    def __init__(self, session: Session, data: Mapping[str, Any]) -> None:
        self._session = session
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        """Take the server's state as both the current and the saved one."""
        self.id = data["id"]
        self.name = data["name"]
        self.full_name = data.get("full_name") or f"{data['organization']}/{data['name']}"
        self.organization = data["organization"]
        self.description = data.get("description")
        self.visibility = data["visibility"]
        self.allow_all_artifact_types = bool(data.get("allow_all_artifact_types"))
        types = list(data.get("artifact_types") or [])
        self._artifact_types = ArtifactTypes(types, saved=types)
        self.protected_aliases = list(data.get("protected_aliases") or [])
        self.owner_team = data.get("owner_team")
        self.is_core = bool(data.get("is_core"))
        self.created_at = parse_time(data.get("created_at"))
        self.updated_at = parse_time(data.get("updated_at"))
        self.role = data.get("role")
        self._saved = self.to_dict()

    @property
    def artifact_types(self) -> ArtifactTypes:
        """The accepted artifact types (empty with ``allow_all_artifact_types``: all types)."""
        return self._artifact_types

    @artifact_types.setter
    def artifact_types(self, types: Iterable[str]) -> None:
        self._artifact_types = ArtifactTypes(types, saved=self._artifact_types.saved)

    def __repr__(self) -> str:
        return f"<Registry {self.full_name}>"

    def _path(self, *segments: str) -> str:
        """The API path of the registry as last saved (so a rename is addressed by its old name)."""
        org, name = self._saved["organization"], self._saved["name"]
        return api_path("orgs", org, "registries", name, *segments)

    def to_dict(self) -> dict[str, Any]:
        """The registry's current fields as a dict."""
        return {
            "id": self.id,
            "name": self.name,
            "full_name": self.full_name,
            "organization": self.organization,
            "description": self.description,
            "visibility": self.visibility,
            "allow_all_artifact_types": self.allow_all_artifact_types,
            "artifact_types": list(self.artifact_types),
            "protected_aliases": list(self.protected_aliases),
            "owner_team": self.owner_team,
            "is_core": self.is_core,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "role": self.role,
        }

    def _changes(self) -> dict[str, Any]:
        """The editable fields whose value differs from the saved state."""
        current = self.to_dict()
        return {
            field: current[field]
            for field in EDITABLE_FIELDS
            if current[field] != self._saved[field]
        }

    def save(self) -> None:
        """Send the changed settings (PATCH); raises before sending if a saved type was dropped."""
        changes = self._changes()
        if "artifact_types" in changes:
            check_keeps_saved(self.artifact_types.saved, changes["artifact_types"])
        if changes:
            self._load(self._session.request("PATCH", self._path(), json=changes))

    def load(self) -> None:
        """Reload the registry from the server, discarding unsaved changes."""
        self._load(self._session.request("GET", self._path()))

    def delete(self) -> None:
        """Delete the registry (registry admins; core registries cannot be deleted)."""
        self._session.request("DELETE", self._path())

    def members(self) -> list[RegistryMember]:
        """The users and teams that are explicit members, with their roles."""
        data = self._session.request("GET", self._path("members"))
        return [from_json(RegistryMember, item) for item in data]

    def add_members(self, *members: MemberRef, role: str | None = None) -> list[RegistryMember]:
        """Add members by username, email, team name, or ``User``/``Team`` object.

        Without ``role`` the server's default applies (``restricted_viewer``; ``member``
        for service accounts).
        """
        if not members:
            raise ValidationError("add_members() needs at least one member")
        body = {"members": [{**_member_spec(m), **without_none(role=role)} for m in members]}
        data = self._session.request("POST", self._path("members"), json=body)
        return [from_json(RegistryMember, item) for item in data]

    def update_member(self, member: MemberRef, role: str) -> RegistryMember:
        """Change the role of one member."""
        kind, name = self._member_key(member)
        path = self._path("members", kind, name)
        return from_json(RegistryMember, self._session.request("PATCH", path, json={"role": role}))

    def remove_members(self, *members: MemberRef) -> None:
        """Remove members (same forms as ``add_members``)."""
        current = self.members() if any(isinstance(m, str) for m in members) else []
        for member in members:
            kind, name = self._member_key(member, current)
            self._session.request("DELETE", self._path("members", kind, name))

    def _member_key(
        self, member: MemberRef, current: list[RegistryMember] | None = None
    ) -> tuple[str, str]:
        """``(kind, name)`` of a member; a plain string is looked up among the members."""
        spec = _member_spec(member)
        if "kind" in spec:
            return spec["kind"], spec["member"]
        for candidate in self.members() if current is None else current:
            if member in (candidate.name, candidate.email):
                return candidate.kind, candidate.name
        raise NotFoundError(f"{member!r} is not a member of registry {self.full_name!r}")

    def create_collection(
        self,
        name: str,
        type: str,  # W&B's parameter name
        description: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Collection:
        """Create a collection of one artifact type (fixed; it must be accepted here)."""
        body = {
            "name": name,
            "type": type,
            **without_none(description=description, tags=None if tags is None else list(tags)),
        }
        return Collection(
            self._session, self._session.request("POST", self._path("collections"), json=body)
        )

    def collection(self, name: str) -> Collection:
        """One collection of this registry by name."""
        return Collection(
            self._session, self._session.request("GET", self._path("collections", name))
        )

    def collections(
        self, filter: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Paginator[Collection]:
        """The registry's collections by name, a page at a time; ``filter`` as in W&B
        (fields ``name``, ``description``, ``type``, ``tag``, ``created_at``, ``updated_at``)."""
        path = self._path("collections")
        return paged(self._session, path, Collection, filter=filter, per_page=per_page)

    def versions(
        self, filter: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Paginator[LinkedVersion]:
        """Linked versions across the registry, newest link first; ``filter`` over ``name``,
        ``collection``, ``tag``, ``alias``, ``type``, ``created_at``, ``metadata.<key>``."""
        return linked_versions(self._session, self._path("versions"), filter, per_page)


class Registries(Paginator[Registry]):
    """The registries ``Api.registries()`` selects, and the collections and versions in them."""

    def __init__(
        self,
        fetch_page: PageFetcher[Registry],
        session: Session,
        organization: str | None,
        filter: Mapping[str, Any] | None,
    ) -> None:
        super().__init__(fetch_page, description="registries")
        self._session = session
        self._organization = organization
        self._filter = filter

    def versions(
        self, filter: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Paginator[LinkedVersion]:
        """Linked versions across these registries (``/orgs/{org}/versions``), newest first."""
        if self._filter is not None:
            scope = {"registry": {"$in": [r.name for r in self]}}
            filter = scope if filter is None else {"$and": [scope, dict(filter)]}
        org = self._session.organization(self._organization)
        return linked_versions(self._session, api_path("orgs", org, "versions"), filter, per_page)

    def collections(
        self, filter: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Paginator[Collection]:
        """The collections of these registries, registry by registry."""
        registries: list[Registry] = []

        def fetch_page(cursor: str | None) -> tuple[list[Collection], str | None]:
            if cursor is None:
                registries[:] = list(self)
            index = int(cursor or 0)
            if index >= len(registries):
                return [], None
            found = list(registries[index].collections(filter=filter, per_page=per_page))
            return found, str(index + 1) if index + 1 < len(registries) else None

        return Paginator(fetch_page, description="collections")


class RegistriesApi:
    """``Api`` methods for registries."""

    _session: Session

    def create_registry(
        self,
        name: str,
        visibility: str,
        organization: str | None = None,
        description: str | None = None,
        artifact_types: Iterable[str] | None = None,
        owner_team: str | None = None,
    ) -> Registry:
        """Create a registry; ``visibility`` is ``"restricted"`` or ``"organization"``.

        No or empty ``artifact_types`` accepts all types. The creator becomes its admin.
        """
        org = self._session.organization(organization)
        types = None if artifact_types is None else list(artifact_types)
        body = {
            "name": name,
            "visibility": visibility,
            **without_none(description=description, artifact_types=types, owner_team=owner_team),
        }
        data = self._session.request("POST", api_path("orgs", org, "registries"), json=body)
        return Registry(self._session, data)

    def registry(self, name: str, organization: str | None = None) -> Registry:
        """One registry by name (a ``wandb-registry-`` prefix is accepted)."""
        org = self._session.organization(organization)
        return Registry(
            self._session, self._session.request("GET", api_path("orgs", org, "registries", name))
        )

    def registries(
        self,
        organization: str | None = None,
        filter: Mapping[str, Any] | None = None,  # W&B's parameter name
        order: str | None = None,
        per_page: int = 100,
    ) -> Registries:
        """The registries visible to the caller, fetched a page at a time while iterating.

        ``filter`` uses W&B's operators (``{"name": {"$regex": "^Fine"}}``); ``order`` is
        ``name``, ``created_at`` or ``updated_at``, optionally prefixed with ``-``.
        ``.versions()`` and ``.collections()`` search inside the selected registries.
        """
        filter_json = None if filter is None else json.dumps(filter)

        def fetch_page(cursor: str | None) -> tuple[list[Registry], str | None]:
            org = self._session.organization(organization)
            params = without_none(filter=filter_json, order=order, per_page=per_page, cursor=cursor)
            data = self._session.request("GET", api_path("orgs", org, "registries"), params=params)
            items = [Registry(self._session, item) for item in data["items"]]
            return items, data.get("next_cursor")

        return Registries(fetch_page, self._session, organization, filter)
