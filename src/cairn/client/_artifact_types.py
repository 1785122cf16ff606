"""The add-only list of a registry's accepted artifact types: saved types can never be removed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self, SupportsIndex

from cairn.client._errors import ArtifactTypeRemovalError


def check_keeps_saved(saved: Iterable[str], types: Iterable[str]) -> None:
    """Raise ``ArtifactTypeRemovalError`` naming the first saved type missing from ``types``."""
    remaining = set(types)
    for name in saved:
        if name not in remaining:
            raise ArtifactTypeRemovalError(
                f"cannot remove artifact type {name!r}: "
                "artifact types saved to a registry cannot be removed"
            )


class ArtifactTypes(list[str]):
    """A registry's ``artifact_types``: ``append``, ``extend`` and ``+=`` add types.

    ``remove``, ``pop``, ``del``, ``clear`` and item assignment raise
    ``ArtifactTypeRemovalError`` when they would drop a type already saved to the
    registry; types added since the last save may be removed freely. Adding a type
    that is already present does nothing.
    """

    def __init__(self, types: Iterable[str] = (), *, saved: Iterable[str] = ()) -> None:
        super().__init__()
        self._saved = tuple(saved)
        self.extend(types)

    @property
    def saved(self) -> tuple[str, ...]:
        """The types the registry had when it was last loaded or saved."""
        return self._saved

    def _check(self, after: list[str]) -> None:
        """Refuse an edit whose result ``after`` drops a saved type that is present now."""
        check_keeps_saved((name for name in self if name in self._saved), after)

    def append(self, name: str) -> None:
        if name not in self:
            super().append(name)

    def extend(self, names: Iterable[str]) -> None:
        for name in names:
            self.append(name)

    def insert(self, index: SupportsIndex, name: str) -> None:
        if name not in self:
            super().insert(index, name)

    def __iadd__(self, names: Iterable[str]) -> Self:  # type: ignore[override,misc]
        self.extend(names)
        return self

    def remove(self, name: str) -> None:
        self._check([other for other in self if other != name])
        super().remove(name)

    def pop(self, index: SupportsIndex = -1) -> str:
        after = list(self)
        after.pop(index)
        self._check(after)
        return super().pop(index)

    def clear(self) -> None:
        self._check([])
        super().clear()

    def __delitem__(self, index: SupportsIndex | slice) -> None:
        after = list(self)
        del after[index]
        self._check(after)
        super().__delitem__(index)

    def __setitem__(self, index: Any, value: Any) -> None:
        after = list(self)
        after[index] = value
        self._check(after)
        super().__setitem__(index, value)

    def __imul__(self, count: SupportsIndex) -> Self:
        self._check(list(self) * count)
        return super().__imul__(count)
