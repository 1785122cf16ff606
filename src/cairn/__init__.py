"""Cairn, a self-hosted registry for machine-learning artifacts: the SDK's public names."""

from cairn.client._accounts import ApiKey, Organization, User, Viewer
from cairn.client._api import Api
from cairn.client._artifact_types import ArtifactTypes
from cairn.client._errors import (
    ArtifactTypeRemovalError,
    AuthenticationError,
    BadRequestError,
    CairnError,
    ConfigurationError,
    ConflictError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
)
from cairn.client._pages import Paginator
from cairn.client._registries import Registry, RegistryMember
from cairn.client._teams import Team, TeamMember

__all__ = [
    "Api",
    "ApiKey",
    "ArtifactTypeRemovalError",
    "ArtifactTypes",
    "AuthenticationError",
    "BadRequestError",
    "CairnError",
    "ConfigurationError",
    "ConflictError",
    "NetworkError",
    "NotFoundError",
    "Organization",
    "Paginator",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Registry",
    "RegistryMember",
    "ServerError",
    "ServiceUnavailableError",
    "Team",
    "TeamMember",
    "User",
    "ValidationError",
    "Viewer",
]
