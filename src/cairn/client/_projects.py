"""Projects ``entity/project``, where artifacts are logged: the record and the ``Api`` methods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cairn.client._errors import ServerError, ValidationError
from cairn.client._manifest import check_token
from cairn.client._records import from_json, without_none
from cairn.client._session import Session, api_path


@dataclass(frozen=True)
class Project:
    """A project owned by a team (its members log to it) or by a user (only that user)."""

    id: int
    entity: str
    name: str
    description: str | None
    created_at: datetime | None

    @property
    def path(self) -> str:
        """``entity/project``, as ``log_artifact`` takes it."""
        return f"{self.entity}/{self.name}"


def project_parts(project: str) -> tuple[str, str]:
    """``(entity, project)`` of ``"entity/project"``."""
    entity, sep, name = project.partition("/") if isinstance(project, str) else ("", "", "")
    if not sep or not entity or not name or "/" in name:
        raise ValidationError(f"project {project!r} must be <entity>/<project>")
    return entity, check_token(name, "project name")


def ensure_project(session: Session, entity: str, name: str) -> None:
    """Ask whether the caller may log into ``entity/name`` (created there if missing and
    allowed); raises ``PermissionDeniedError`` or ``NotFoundError`` when not."""
    try:
        session.request("PUT", api_path("projects", entity, name))
    except ServerError as exc:
        if exc.status != 405:  # 405: a server older than this route, which checks at commit
            raise


class ProjectsApi:
    """``Api`` methods for projects."""

    _session: Session

    def create_project(self, project: str, description: str | None = None) -> Project:
        """Create ``entity/project`` (a team you belong to, or your own user name).

        Raises ``ConflictError`` if it exists; logging an artifact creates a missing one too.
        """
        entity, name = project_parts(project)
        body = {"name": name, **without_none(description=description)}
        data = self._session.request("POST", api_path("projects", entity), json=body)
        return from_json(Project, data)

    def project(self, project: str) -> Project:
        """One project ``entity/project``; raises ``NotFoundError`` if there is none."""
        entity, name = project_parts(project)
        return from_json(Project, self._session.request("GET", api_path("projects", entity, name)))

    def projects(self, entity: str) -> list[Project]:
        """The projects of a team or user, by name."""
        data = self._session.request("GET", api_path("projects", entity))
        return [from_json(Project, item) for item in data]
