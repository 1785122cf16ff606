"""Teams inside an organization: the ``Team`` object, its members, and the ``Api`` methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cairn.client._accounts import UserRef, username_of
from cairn.client._records import from_json, parse_time, without_none
from cairn.client._session import Session, api_path


@dataclass(frozen=True)
class TeamMember:
    """A user's membership of a team; ``role`` is ``admin`` or ``member``."""

    username: str
    role: str


class Team:
    """A team of users in an organization; it can be a registry member or own a registry."""

    id: int | None
    name: str
    organization: str
    description: str | None
    created_at: datetime | None

    def __init__(self, session: Session, data: Mapping[str, Any]) -> None:
        self._session = session
        self.id = data.get("id")
        self.name = data["name"]
        self.organization = data["organization"]
        self.description = data.get("description")
        self.created_at = parse_time(data.get("created_at"))

    def __repr__(self) -> str:
        return f"<Team {self.organization}/{self.name}>"

    def _path(self, *segments: str) -> str:
        return api_path("orgs", self.organization, "teams", self.name, *segments)

    def to_dict(self) -> dict[str, Any]:
        """The team's fields as a dict."""
        return {
            "id": self.id,
            "name": self.name,
            "organization": self.organization,
            "description": self.description,
            "created_at": self.created_at,
        }

    def members(self) -> list[TeamMember]:
        """The team's current members and their team roles."""
        data = self._session.request("GET", self._path())
        return [from_json(TeamMember, item) for item in data.get("members", [])]

    def add_member(self, user: UserRef, role: str | None = None) -> TeamMember:
        """Add a user (username or email) with ``role`` (default ``member``)."""
        body = {"user": username_of(user), **without_none(role=role)}
        return from_json(
            TeamMember, self._session.request("POST", self._path("members"), json=body)
        )

    def update_member(self, user: UserRef, role: str) -> TeamMember:
        """Change a member's team role."""
        path = self._path("members", username_of(user))
        return from_json(TeamMember, self._session.request("PATCH", path, json={"role": role}))

    def remove_member(self, user: UserRef) -> None:
        """Remove a user from the team."""
        self._session.request("DELETE", self._path("members", username_of(user)))

    def delete(self) -> None:
        """Delete the team (team admins and organization admins)."""
        self._session.request("DELETE", self._path())


class TeamsApi:
    """``Api`` methods for teams."""

    _session: Session

    def create_team(
        self, name: str, description: str | None = None, organization: str | None = None
    ) -> Team:
        """Create a team; the caller becomes its admin."""
        org = self._session.organization(organization)
        body = {"name": name, **without_none(description=description)}
        return Team(
            self._session, self._session.request("POST", api_path("orgs", org, "teams"), json=body)
        )

    def teams(self, organization: str | None = None) -> list[Team]:
        """The teams of an organization."""
        org = self._session.organization(organization)
        data = self._session.request("GET", api_path("orgs", org, "teams"))
        return [Team(self._session, item) for item in data]

    def team(self, name: str, organization: str | None = None) -> Team:
        """One team by name; raises ``NotFoundError`` if there is none."""
        org = self._session.organization(organization)
        return Team(
            self._session, self._session.request("GET", api_path("orgs", org, "teams", name))
        )
