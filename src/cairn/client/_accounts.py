"""Users, organizations, organization membership and API keys: records and ``Api`` methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cairn.client._records import from_json, without_none
from cairn.client._session import Session, api_path


@dataclass(frozen=True)
class User:
    """A user or service account; ``role`` is the organization role when listed in one."""

    username: str
    email: str | None = None
    is_service: bool = False
    active: bool = True
    id: int | None = None
    is_superuser: bool = False
    created_at: datetime | None = None
    role: str | None = None


@dataclass(frozen=True)
class Viewer(User):
    """The caller: a ``User`` plus its organizations (name to role) and default organization."""

    organizations: dict[str, str] = field(default_factory=dict)
    default_organization: str | None = None


@dataclass(frozen=True)
class Organization:
    """An organization the caller belongs to, with the caller's role in it."""

    id: int
    name: str
    role: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class ApiKey:
    """An API key; ``key`` (the secret) is set only on the object returned at creation."""

    id: int
    name: str | None = None
    prefix: str | None = None
    username: str | None = None
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    key: str | None = field(default=None, repr=False)


UserRef = str | User


def username_of(user: UserRef) -> str:
    """The username (or email) that addresses ``user`` on the API."""
    return user.username if isinstance(user, User) else user


class AccountsApi:
    """``Api`` methods for the caller, organizations, users and API keys."""

    _session: Session

    def login(self, username: str, password: str, key_name: str | None = None) -> ApiKey:
        """Exchange a username (or email) and password for a new API key, and use it."""
        body = {"username": username, "password": password, **without_none(key_name=key_name)}
        data = self._session.request(
            "POST", api_path("auth", "login"), json=body, authenticate=False
        )
        self._session.api_key = data["key"]
        return from_json(
            ApiKey,
            {
                "id": data["key_id"],
                "key": data["key"],
                "username": data["username"],
                "name": key_name,
            },
        )

    def viewer(self) -> Viewer:
        """The authenticated caller, with their organizations and default organization."""
        data = self._session.request("GET", api_path("viewer"))
        organizations = {org["name"]: org["role"] for org in data.get("organizations", [])}
        return from_json(Viewer, {**data, "organizations": organizations})

    def organizations(self) -> list[Organization]:
        """The organizations the caller belongs to."""
        data = self._session.request("GET", api_path("orgs"))
        return [from_json(Organization, item) for item in data]

    def create_organization(self, name: str) -> Organization:
        """Create an organization (server superusers only); it gets the core registries."""
        data = self._session.request("POST", api_path("orgs"), json={"name": name})
        return from_json(Organization, data)

    def org_members(self, organization: str | None = None) -> list[User]:
        """The members of an organization, each with their organization ``role``."""
        org = self._session.organization(organization)
        data = self._session.request("GET", api_path("orgs", org, "members"))
        return [from_json(User, item) for item in data]

    def users(self, organization: str | None = None) -> list[User]:
        """The users of an organization (the same list as ``org_members``)."""
        return self.org_members(organization)

    def add_org_member(
        self, user: UserRef, role: str | None = None, organization: str | None = None
    ) -> User:
        """Add an existing user (username or email) to an organization (org admins)."""
        org = self._session.organization(organization)
        body = {"user": username_of(user), **without_none(role=role)}
        data = self._session.request("POST", api_path("orgs", org, "members"), json=body)
        return from_json(User, data)

    def set_org_role(self, user: UserRef, role: str, organization: str | None = None) -> User:
        """Change a member's organization role: ``admin``, ``member`` or ``viewer``."""
        org = self._session.organization(organization)
        path = api_path("orgs", org, "members", username_of(user))
        return from_json(User, self._session.request("PATCH", path, json={"role": role}))

    def remove_org_member(self, user: UserRef, organization: str | None = None) -> None:
        """Remove a user from an organization (the last admin cannot be removed)."""
        org = self._session.organization(organization)
        self._session.request("DELETE", api_path("orgs", org, "members", username_of(user)))

    def create_user(
        self,
        username: str,
        email: str | None = None,
        password: str | None = None,
        service: bool = False,
        role: str | None = None,
        organization: str | None = None,
    ) -> User:
        """Create a user (or, with ``service=True``, a service account) in an organization."""
        org = self._session.organization(organization)
        body = {
            "username": username,
            "service": service,
            **without_none(email=email, password=password, role=role),
        }
        data = self._session.request("POST", api_path("orgs", org, "users"), json=body)
        return from_json(User, data)

    def deactivate_user(self, username: UserRef) -> User:
        """Deactivate a user: their keys and sessions stop working."""
        path = api_path("users", username_of(username))
        return from_json(User, self._session.request("PATCH", path, json={"active": False}))

    def create_api_key(self, name: str, user: UserRef | None = None) -> ApiKey:
        """Create an API key for the caller or a service account; ``.key`` holds the secret."""
        body = {"name": name, **without_none(user=None if user is None else username_of(user))}
        return from_json(ApiKey, self._session.request("POST", api_path("keys"), json=body))

    def api_keys(self, user: UserRef | None = None) -> list[ApiKey]:
        """The caller's API keys, or a service account's (for its organization admins)."""
        params = without_none(user=None if user is None else username_of(user))
        data = self._session.request("GET", api_path("keys"), params=params)
        return [from_json(ApiKey, item) for item in data]

    def revoke_api_key(self, key: int | ApiKey) -> None:
        """Revoke an API key by id (or ``ApiKey``)."""
        key_id = key.id if isinstance(key, ApiKey) else key
        self._session.request("DELETE", api_path("keys", key_id))
