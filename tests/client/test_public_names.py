"""The SDK's public surface: ``cairn.__all__`` and the error tree."""

from __future__ import annotations

import cairn

EXPECTED = {
    "Api", "ApiKey", "ArtifactTypes", "Organization", "Paginator", "Registry",
    "RegistryMember", "Team", "TeamMember", "User", "Viewer",
    "Artifact", "Collection", "Event", "FileEntry", "LinkedVersion", "Project", "Registries",
    "Version",
    "CairnError", "ArtifactTypeRemovalError", "AuthenticationError", "BadRequestError",
    "ConfigurationError", "ConflictError", "NetworkError", "NotFoundError",
    "PayloadTooLargeError", "PermissionDeniedError", "RateLimitedError", "ServerError",
    "ServiceUnavailableError", "InsufficientStorageError", "ValidationError",
    "DigestMismatchError", "UnsafePathError",
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    assert set(cairn.__all__) == EXPECTED
    assert len(cairn.__all__) == len(EXPECTED)
    for name in cairn.__all__:
        assert getattr(cairn, name) is not None


def test_every_error_is_a_cairn_error() -> None:
    errors = [getattr(cairn, n) for n in cairn.__all__ if n.endswith("Error")]
    assert all(issubclass(e, cairn.CairnError) for e in errors)
    assert issubclass(cairn.CairnError, Exception)
    assert issubclass(cairn.NetworkError, ConnectionError)
