"""The reference grammar of DESIGN §1, client side: artifact refs, collection paths, selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cairn.client._errors import ValidationError
from cairn.client._session import api_path

LATEST = "latest"
WANDB_REGISTRY_PREFIX = "wandb-registry-"
MAX_REF = 1024
_VERSION = re.compile(r"v\d{1,9}")
_GRAMMAR = (
    "use <entity>/<project>/<artifact>[:version], <org>/<registry>/<collection>[:version] "
    "or <registry>/<collection>[:version]"
)


def strip_registry_prefix(name: str) -> str:
    """A registry name without W&B's ``wandb-registry-`` prefix (``wandb-registry-Models``)."""
    return name.removeprefix(WANDB_REGISTRY_PREFIX)


def is_version(selector: str) -> bool:
    """Whether ``selector`` is a version number (``v3``) rather than an alias."""
    return _VERSION.fullmatch(selector) is not None


@dataclass(frozen=True)
class Ref:
    """A parsed reference: two or three path parts and an optional version or alias."""

    parts: tuple[str, ...]
    selector: str | None = None

    @property
    def is_short(self) -> bool:
        """``registry/collection`` in the caller's default organization."""
        return len(self.parts) == 2

    @property
    def version(self) -> str:
        """The version or alias asked for; ``latest`` when the reference names none."""
        return self.selector or LATEST

    @property
    def path(self) -> str:
        """The parts joined by ``/``, without the version."""
        return "/".join(self.parts)

    def __str__(self) -> str:
        return f"{self.path}:{self.selector}" if self.selector else self.path


def parse_ref(raw: str) -> Ref:
    """Split a reference into its parts (as the server does); the registry may be prefixed."""
    if not raw or len(raw) > MAX_REF or "\0" in raw:
        raise ValidationError(f"a reference must be 1-{MAX_REF} characters")
    last = raw.rsplit("/", 1)[-1]
    path, sep, selector = raw.rpartition(":") if ":" in last else (raw, "", "")
    parts = tuple(path.split("/"))
    if len(parts) not in (2, 3) or not all(parts) or (sep and not selector) or ":" in parts[-1]:
        raise ValidationError(f"cannot read reference {raw[:100]!r}: {_GRAMMAR}")
    if len(parts) == 2:
        parts = (strip_registry_prefix(parts[0]), parts[1])
    else:
        parts = (parts[0], strip_registry_prefix(parts[1]), parts[2])
    return Ref(parts, selector or None)


@dataclass(frozen=True)
class CollectionPath:
    """Where a collection lives: organization, registry and collection names."""

    organization: str
    registry: str
    collection: str

    def api(self, *segments: str) -> str:
        """The API path of the collection, or of something under it."""
        return api_path(
            "orgs", self.organization, "registries", self.registry,
            "collections", self.collection, *segments,
        )  # fmt: skip

    def __str__(self) -> str:
        return f"{self.organization}/{self.registry}/{self.collection}"


def _place(ref: Ref, default_org: Callable[[], str]) -> CollectionPath:
    """The collection of a parsed reference; three parts are read as ``org/registry/collection``."""
    if ref.is_short:
        return CollectionPath(default_org(), *ref.parts)
    org, registry, collection = ref.parts
    return CollectionPath(org, registry, collection)


def collection_path(raw: str, default_org: Callable[[], str]) -> CollectionPath:
    """A collection: ``registry/collection`` (in ``default_org()``) or ``org/registry/collection``.

    Use this only where the reference must name a collection (link targets, collection
    commands): a three-part reference is read as ``org/registry/collection`` here.
    """
    parsed = parse_ref(raw)
    if parsed.selector is not None:
        raise ValidationError(
            f"{raw[:100]!r} names a version; give <registry>/<collection> "
            "or <org>/<registry>/<collection>"
        )
    return _place(parsed, default_org)


def linked_ref(raw: str, default_org: Callable[[], str]) -> tuple[CollectionPath, str]:
    """A linked version ``[org/]registry/collection[:version]``: its collection and version."""
    parsed = parse_ref(raw)
    return _place(parsed, default_org), parsed.version


def logged_parts(raw: str | Ref) -> tuple[str, str, str]:
    """``(entity, project, artifact)`` of an ``entity/project/artifact[:version]`` reference."""
    parsed = parse_ref(raw) if isinstance(raw, str) else raw
    if parsed.is_short:
        raise ValidationError(
            f"{str(raw)[:100]!r} is not a logged artifact: use <entity>/<project>/<artifact>"
        )
    entity, project, name = parsed.parts
    return entity, project, name
