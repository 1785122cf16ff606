"""A lazy iterable over a cursor-paginated list: pages are fetched as iteration reaches them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Fetches the page after ``cursor`` (``None`` for the first): its items and the next cursor.
PageFetcher = Callable[[str | None], tuple[Sequence[T], str | None]]


class Paginator(Generic[T]):
    """Iterates over every item of every page; each new iteration starts from the first page."""

    def __init__(self, fetch_page: PageFetcher[T], *, description: str = "items") -> None:
        self._fetch_page = fetch_page
        self._description = description

    def __iter__(self) -> Iterator[T]:
        cursor: str | None = None
        while True:
            items, cursor = self._fetch_page(cursor)
            yield from items
            if not cursor:
                return

    def first(self) -> T | None:
        """The first item, fetching only the first page; ``None`` when there is none."""
        return next(iter(self), None)

    def __repr__(self) -> str:
        return f"<Paginator of {self._description}>"
