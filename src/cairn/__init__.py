"""Cairn, a self-hosted registry for machine-learning artifacts: the SDK's public names."""

from cairn.client._accounts import ApiKey, Organization, User, Viewer
from cairn.client._api import Api
from cairn.client._artifact_types import ArtifactTypes
from cairn.client._artifacts import Artifact
from cairn.client._collections import Collection, Event
from cairn.client._errors import (
    ArtifactTypeRemovalError,
    AuthenticationError,
    BadRequestError,
    CairnError,
    ConfigurationError,
    ConflictError,
    InsufficientStorageError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)
from cairn.client._manifest import FileEntry
from cairn.client._pages import Paginator
from cairn.client._projects import Project
from cairn.client._registries import Registries, Registry, RegistryMember
from cairn.client._teams import Team, TeamMember
from cairn.client._transfer import DigestMismatchError, UnsafePathError
from cairn.client._versions import LinkedVersion, Version

__all__ = [
    "Api",
    "ApiKey",
    "Artifact",
    "ArtifactTypeRemovalError",
    "ArtifactTypes",
    "AuthenticationError",
    "BadRequestError",
    "CairnError",
    "Collection",
    "ConfigurationError",
    "ConflictError",
    "DigestMismatchError",
    "Event",
    "FileEntry",
    "InsufficientStorageError",
    "LinkedVersion",
    "NetworkError",
    "NotFoundError",
    "Organization",
    "Paginator",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Project",
    "RateLimitedError",
    "Registries",
    "Registry",
    "RegistryMember",
    "ServerError",
    "ServiceUnavailableError",
    "Team",
    "TeamMember",
    "UnsafePathError",
    "User",
    "ValidationError",
    "Version",
    "Viewer",
]
