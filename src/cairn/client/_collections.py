"""Collections of a registry: the ``Collection`` object, its history, and the ``Api`` method."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cairn.client._errors import ValidationError
from cairn.client._pages import Paginator
from cairn.client._records import from_json, parse_time, without_none
from cairn.client._refs import CollectionPath, collection_path
from cairn.client._session import Session
from cairn.client._versions import (
    LinkedVersion,
    link,
    linked_versions,
    remove_alias,
    set_alias,
)

#: The fields ``save()`` sends when they differ from the last loaded state.
EDITABLE_FIELDS = ("name", "description", "tags")


@dataclass(frozen=True)
class Event:
    """One entry of a collection's or registry's history (an audit row)."""

    id: int
    at: datetime
    actor: str | None
    auth_method: str
    action: str
    target_type: str
    target_name: str | None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class Collection:
    """A named set of linked versions of one artifact type inside a registry.

    ``name``, ``description`` and ``tags`` may be assigned; ``save()`` sends the changes.
    ``type`` is fixed at creation: assigning another one raises ``ValidationError``.
    ``aliases`` maps each alias to the version (``vN``) holding it.
    """

    id: int
    ref: str
    organization: str
    registry: str
    name: str
    description: str | None
    tags: list[str]
    version_count: int
    aliases: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None

    def __init__(self, session: Session, data: Mapping[str, Any]) -> None:
        self._session = session
        self._load(data)

    def _load(self, data: Mapping[str, Any]) -> None:
        for name in ("id", "ref", "organization", "registry", "name"):
            setattr(self, name, data[name])
        self._type: str = data["type"]
        self.description = data.get("description")
        self.tags = list(data.get("tags") or [])
        self.version_count = int(data.get("version_count") or 0)
        self.aliases = dict(data.get("aliases") or {})
        self.created_at = parse_time(data.get("created_at"))
        self.updated_at = parse_time(data.get("updated_at"))
        self._saved = deepcopy(self.to_dict())  # so `tags.append()` counts as a change

    def __repr__(self) -> str:
        return f"<Collection {self.ref}>"

    @property
    def type(self) -> str:
        """The artifact type the collection holds (fixed at creation, as the server enforces)."""
        return self._type

    @type.setter
    def type(self, value: str) -> None:
        if value != self._type:
            raise ValidationError(
                f"collection {self.ref} holds {self._type!r} artifacts and its type is fixed "
                f"at creation; create a new collection of type {value!r} instead"
            )

    @property
    def place(self) -> CollectionPath:
        """Where the collection is, as last saved (so a rename is addressed by its old name)."""
        saved = self._saved
        return CollectionPath(saved["organization"], saved["registry"], saved["name"])

    def to_dict(self) -> dict[str, Any]:
        """The collection's current fields as a dict."""
        fields = (
            "id", "ref", "organization", "registry", "name", "type", "description", "tags",
            "version_count", "aliases", "created_at", "updated_at",
        )  # fmt: skip
        return {name: getattr(self, name) for name in fields}

    def save(self) -> None:
        """Send the changed name, description or tags (PATCH)."""
        current = self.to_dict()
        changes = {f: current[f] for f in EDITABLE_FIELDS if current[f] != self._saved[f]}
        if changes:
            self._load(self._session.request("PATCH", self.place.api(), json=changes))

    def load(self) -> None:
        """Reload the collection, discarding unsaved changes."""
        self._load(self._session.request("GET", self.place.api()))

    def delete(self) -> None:
        """Delete the collection and unlink its versions (the logged versions stay)."""
        self._session.request("DELETE", self.place.api())

    def version(self, version: str = "latest") -> LinkedVersion:
        """One linked version by number (``v3``) or alias, with its files."""
        data = self._session.request("GET", self.place.api("versions", version))
        return LinkedVersion(self._session, data)

    def versions(
        self, filter: Mapping[str, Any] | None = None, per_page: int = 100
    ) -> Paginator[LinkedVersion]:
        """The linked versions, newest link first, fetched a page at a time."""
        return linked_versions(self._session, self.place.api("versions"), filter, per_page)

    def link(self, source: str, aliases: Iterable[str] | None = None) -> LinkedVersion:
        """Link the logged version ``entity/project/artifact[:v]`` here."""
        return link(self._session, self.place, source, aliases)

    def set_alias(self, alias: str, version: str) -> LinkedVersion:
        """Add ``alias`` to ``version`` (``vN``) or move it there."""
        data = set_alias(self._session, self.place, alias, version)
        self.load()
        return LinkedVersion(self._session, data)

    def remove_alias(self, alias: str) -> None:
        """Remove ``alias`` from the collection."""
        remove_alias(self._session, self.place, alias)
        self.load()

    def history(self, per_page: int = 100) -> Paginator[Event]:
        """Who linked, unlinked, moved aliases or changed the collection, newest first."""
        path = self.place.api("history")

        def fetch_page(cursor: str | None) -> tuple[list[Event], str | None]:
            params = without_none(per_page=per_page, before=cursor)
            events = [
                from_json(Event, e) for e in self._session.request("GET", path, params=params)
            ]
            return events, str(events[-1].id) if len(events) == per_page else None

        return Paginator(fetch_page, description="events")


class CollectionsApi:
    """``Api`` methods for collections."""

    _session: Session

    def collection(self, name: str) -> Collection:
        """A collection by ``registry/collection`` or ``org/registry/collection``."""
        place = collection_path(name, self._session.organization)
        return Collection(self._session, self._session.request("GET", place.api()))
