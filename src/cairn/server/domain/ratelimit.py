"""A sliding-window failure counter for login attempts (per server process)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    """Refuses a key after `limit` failures within `window` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> bool:
        """Whether `key` has used up its failures for now."""
        with self._lock:
            return len(self._recent(key)) >= self.limit

    def fail(self, key: str) -> None:
        """Record one failure for `key`."""
        with self._lock:
            self._recent(key).append(self._clock())

    def reset(self, key: str) -> None:
        """Forget `key`'s failures (after a success)."""
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while window and window[0] < cutoff:
            window.popleft()
        if len(self._failures) > 100_000:  # bound memory under a spray of distinct keys
            self._failures = {k: v for k, v in self._failures.items() if v}
        return window
