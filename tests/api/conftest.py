"""Fixtures of the API tests that run a real uvicorn."""

from __future__ import annotations

import os
import time

import pytest


@pytest.fixture
def sent_by_kernel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte count each ``os.sendfile`` call took (a send's thread counts its bytes just
    after the client may have them: wait for the total rather than read it at once)."""
    counts: list[int] = []
    real = os.sendfile

    def sendfile(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        n = real(out_fd, in_fd, offset, count)
        counts.append(n)
        return n

    monkeypatch.setattr(os, "sendfile", sendfile)
    return counts


def wait_for_total(counts: list[int], total: int, timeout: float = 5.0) -> int:
    """The sum of ``counts`` once it reaches ``total``, or when ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while sum(counts) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    return sum(counts)
