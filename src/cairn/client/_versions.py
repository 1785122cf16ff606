"""Versions: a logged ``Version`` and a registry's ``LinkedVersion``, their files and downloads."""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from cairn.client._cache import BlobCache
from cairn.client._download import download_files
from cairn.client._errors import NotFoundError, ValidationError
from cairn.client._manifest import FileEntry, check_aliases, check_file_name, files_from_json
from cairn.client._pages import Paginator
from cairn.client._records import parse_time, without_none
from cairn.client._refs import CollectionPath, collection_path
from cairn.client._session import Session, api_path
from cairn.client._transfer import UnsafePathError

T = TypeVar("T")
DOWNLOAD_DIR = "artifacts"


def paged(
    session: Session,
    path: str,
    make: Callable[[Session, Mapping[str, Any]], T],
    *,
    filter: Mapping[str, Any] | None = None,
    per_page: int = 100,
    description: str = "items",
) -> Paginator[T]:
    """A ``Paginator`` over a ``{"items", "next_cursor"}`` list answer, with a W&B filter."""
    filter_json = None if filter is None else json.dumps(filter)

    def fetch_page(cursor: str | None) -> tuple[list[T], str | None]:
        params = without_none(filter=filter_json, per_page=per_page, cursor=cursor)
        data = session.request("GET", path, params=params)
        return [make(session, item) for item in data["items"]], data.get("next_cursor")

    return Paginator(fetch_page, description=description)


class _Files(abc.ABC):
    """What every version has: a manifest of files, fetched when needed, and ``download``."""

    _session: Session
    _files: list[FileEntry] | None
    ref: str
    version: str

    @abc.abstractmethod
    def _api(self, *segments: str) -> str:
        """The API path of the version, or of something under it."""

    @abc.abstractmethod
    def _default_dir(self) -> str:
        """The folder name ``download()`` uses under ``./artifacts`` when given none."""

    @abc.abstractmethod
    def load(self) -> None:
        """Reload the version (with its files) from the server."""

    @property
    def files(self) -> list[FileEntry]:
        """The version's files: name inside the artifact, sha256, size and md5."""
        if self._files is None:
            self.load()
        return list(self._files or ())

    def download(
        self, root: str | Path | None = None, *, cache: bool = True, progress: bool | None = None
    ) -> Path:
        """Save the files under ``root`` (default ``./artifacts/<name>-vN``); returns ``root``.

        Every file is verified against its sha256 and written only inside ``root``; files
        already there are kept, interrupted downloads resume, and blobs come from the local
        cache (``$CAIRN_CACHE_DIR`` or ``~/.cache/cairn``) when ``cache`` is on.
        """
        if root is None:
            folder = self._default_dir()
            try:
                if "/" in check_file_name(folder) or folder.startswith("."):
                    raise ValidationError("not a plain folder name")
            except ValidationError as exc:
                raise UnsafePathError(f"refusing to download into {folder!r}: {exc}") from exc
            root = Path(DOWNLOAD_DIR, folder)
        return download_files(
            self._session,
            self.files,
            root,
            lambda sha256: self._api("files", sha256),
            cache=BlobCache() if cache else None,
            progress=progress,
            batch_path=self._api("files", "batch"),
        )


class Version(_Files):
    """A logged artifact version, ``entity/project/name:vN``: metadata, aliases and files."""

    id: int
    entity: str
    project: str
    name: str
    type: str
    version_index: int
    digest: str
    description: str | None
    metadata: dict[str, Any]
    size: int
    file_count: int
    aliases: list[str]
    created_by: str | None
    created_at: datetime | None
    client_id: str | None
    # Set by Api.log_artifact: whether it created this version (False: the same content had
    # been logged before, and this is that version). None for a version found otherwise.
    new: bool | None = None

    def __init__(self, session: Session, data: Mapping[str, Any]) -> None:
        self._session = session
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        for name in ("id", "ref", "entity", "project", "name", "type", "version", "digest"):
            setattr(self, name, data[name])
        self.version_index = int(data["version_index"])
        self.description = data.get("description")
        self.metadata = dict(data.get("metadata") or {})
        self.size, self.file_count = int(data["size"]), int(data["file_count"])
        self.aliases = list(data.get("aliases") or [])
        self.created_by = data.get("created_by")
        self.created_at = parse_time(data.get("created_at"))
        self.client_id = data.get("client_id")
        files = data.get("files")
        self._files = None if files is None else files_from_json(files)

    def __repr__(self) -> str:
        return f"<Version {self.ref}>"

    def _api(self, *segments: str) -> str:
        return api_path(
            "projects", self.entity, self.project, "artifacts", self.name,
            "versions", self.version, *segments,
        )  # fmt: skip

    def _default_dir(self) -> str:
        return f"{self.name}-{self.version}"

    def load(self) -> None:
        self._load(self._session.request("GET", self._api()))

    def link(self, target: str, aliases: Iterable[str] | None = None) -> LinkedVersion:
        """Link this version into collection ``[org/]registry/collection`` (created if new)."""
        place = collection_path(target, self._session.organization)
        return link(self._session, place, self.ref, aliases)

    def to_dict(self) -> dict[str, Any]:
        """The version's fields (with its files when loaded) as a dict."""
        fields = (
            "id", "ref", "entity", "project", "name", "type", "version", "version_index",
            "digest", "description", "metadata", "size", "file_count", "aliases",
            "created_by", "created_at", "client_id",
        )  # fmt: skip
        data = {name: getattr(self, name) for name in fields}
        return {**data, "files": self._files}


class LinkedVersion(_Files):
    """A version linked into a registry's collection, ``org/registry/collection:vN``."""

    id: int
    organization: str
    registry: str
    collection: str
    type: str
    version_index: int
    aliases: list[str]
    linked_by: str | None
    linked_at: datetime | None
    role: str | None
    source: Version

    def __init__(self, session: Session, data: Mapping[str, Any]) -> None:
        self._session = session
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        for name in ("id", "ref", "organization", "registry", "collection", "type", "version"):
            setattr(self, name, data[name])
        self.version_index = int(data["version_index"])
        self.aliases = list(data.get("aliases") or [])
        self.linked_by = data.get("linked_by")
        self.linked_at = parse_time(data.get("linked_at"))
        self.role = data.get("role")
        self.source = Version(self._session, data["source"])
        files = data.get("files")
        self._files = None if files is None else files_from_json(files)

    def __repr__(self) -> str:
        return f"<LinkedVersion {self.ref}>"

    @property
    def place(self) -> CollectionPath:
        """The collection this version is linked in."""
        return CollectionPath(self.organization, self.registry, self.collection)

    @property
    def metadata(self) -> dict[str, Any]:
        """The source version's metadata."""
        return self.source.metadata

    @property
    def description(self) -> str | None:
        """The source version's description."""
        return self.source.description

    def _api(self, *segments: str) -> str:
        return self.place.api("versions", self.version, *segments)

    def _default_dir(self) -> str:
        return f"{self.collection}-{self.version}"

    def load(self) -> None:
        self._load(self._session.request("GET", self._api()))

    def set_alias(self, alias: str) -> None:
        """Point ``alias`` at this version (moving it from another one, atomically)."""
        self._load(set_alias(self._session, self.place, alias, self.version))

    def remove_alias(self, alias: str) -> None:
        """Remove ``alias`` from this version; ``NotFoundError`` if this version lacks it."""
        self.load()
        if alias not in self.aliases:
            raise NotFoundError(f"{self.ref} has no alias {alias!r}")
        remove_alias(self._session, self.place, alias)
        self.load()

    def unlink(self) -> None:
        """Remove this version from its collection (the source stays; the number is not reused)."""
        self._session.request("DELETE", self._api())

    def to_dict(self) -> dict[str, Any]:
        """The linked version's fields (with its source and files) as a dict."""
        fields = (
            "id", "ref", "organization", "registry", "collection", "type", "version",
            "version_index", "aliases", "linked_by", "linked_at", "role",
        )  # fmt: skip
        data = {name: getattr(self, name) for name in fields}
        return {**data, "source": self.source.to_dict(), "files": self._files}


def link(
    session: Session, place: CollectionPath, source: str, aliases: Iterable[str] | None
) -> LinkedVersion:
    """Link logged version ``source`` into a collection (201 new, 200 already linked there)."""
    body = {"source": source, "aliases": check_aliases(aliases)}
    return LinkedVersion(session, session.request("POST", place.api("versions"), json=body))


def set_alias(session: Session, place: CollectionPath, alias: str, version: str) -> Any:
    """Add ``alias`` to ``version`` of a collection or move it there; the version's JSON."""
    (checked,) = check_aliases([alias])
    return session.request("PUT", place.api("aliases", checked), json={"version": version})


def remove_alias(session: Session, place: CollectionPath, alias: str) -> None:
    """Remove ``alias`` from whichever version of the collection holds it."""
    session.request("DELETE", place.api("aliases", alias))


def linked_versions(
    session: Session, path: str, filter: Mapping[str, Any] | None, per_page: int
) -> Paginator[LinkedVersion]:
    """Linked versions under an API path, newest link first, a page at a time."""
    return paged(
        session, path, LinkedVersion, filter=filter, per_page=per_page, description="versions"
    )
