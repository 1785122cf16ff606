"""Sending a large file straight to the object store by presigned URL, where offered."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from cairn.client._errors import CairnError
from cairn.client._progress import TransferProgress
from cairn.client._session import Session, api_path
from cairn.client._transfer import file_chunks, send_to_storage

# What a server answers when it offers no direct uploads: 404 (turned off, or an older server
# without the route) or 405.
NOT_OFFERED = frozenset({404, 405})
# Completing reads the file back from the bucket: wait for the answer at least this long, and
# as long as reading at VERIFY_RATE bytes/s would take.
COMPLETE_WAIT_S = 60.0
VERIFY_RATE = 20 << 20


class DirectUploads:
    """Direct uploads for one push: the first large file asks whether the server offers them
    (the others wait for its answer); after a 404 the rest of the push sends its bytes to
    the server."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._offered: bool | None = None
        self._first = threading.Lock()

    def send(
        self,
        path: Path,
        size: int,
        sha256: str | None,
        bar: TransferProgress,
        stop: threading.Event,
    ) -> str | None:
        """PUT the file to the URL the server gives, then have the server verify it; the
        file's sha256 (hashed while read when not given), or None when the server wants the
        bytes itself (not offered, or a file too large for one PUT). Nothing is sent then."""
        started = self._start(size)
        if started is None:
            return None
        digest = hashlib.sha256() if sha256 is None else None
        chunks = file_chunks(path, size, bar, stop, digest)
        with send_to_storage(
            self._session, "PUT", started["url"], started["headers"], chunks
        ) as response:
            response.read()
        if digest is not None:
            sha256 = digest.hexdigest()
        assert sha256 is not None
        stored = self._session.request(
            "POST",
            api_path("blobs", "uploads", started["upload"], "complete"),
            json={"sha256": sha256, "size": size},
            read_timeout=max(COMPLETE_WAIT_S, size / VERIFY_RATE),
        )
        if stored["sha256"] != sha256 or stored["size"] != size:
            raise CairnError("the server stored another file than the one sent to storage")
        return sha256

    def _start(self, size: int) -> dict[str, Any] | None:
        if self._offered is None:
            with self._first:
                if self._offered is None:
                    started = self._ask(size)
                    if started is not None:
                        self._offered = True
                    return started
        return self._ask(size) if self._offered else None

    def _ask(self, size: int) -> dict[str, Any] | None:
        try:
            started: dict[str, Any] = self._session.request(
                "POST", api_path("blobs", "uploads"), json={"size": size}
            )
        except CairnError as exc:
            if exc.status in NOT_OFFERED:
                self._offered = False
                return None
            if exc.status == 422:  # over what one PUT may carry
                return None
            raise
        return started
