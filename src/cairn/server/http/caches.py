"""Per-process caches whose entries hold for one catalogue generation only."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class GenerationCache(Generic[V]):
    """A bounded LRU map; an entry is returned only for the generation it was stored under."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, generation: int) -> V | None:
        """The value stored for `key` under exactly this generation, else None."""
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] != generation:
                return None
            self._items.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, generation: int, value: V) -> None:
        """Store a value computed under `generation`."""
        with self._lock:
            self._items[key] = (generation, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def resolution_key(
    user_id: int, ref: str | None, org: str | None
) -> tuple[int, str | None, str | None]:
    """Where a caller's answer to `GET /resolve?ref=…&org=…` is remembered."""
    return (user_id, ref, org)
