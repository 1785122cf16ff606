"""The local content cache of verified blobs: ``<cache dir>/blobs/ab/cd/<sha256>``."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from pathlib import Path

from cairn.client._manifest import check_sha256

ENV_CACHE_DIR = "CAIRN_CACHE_DIR"
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$CAIRN_CACHE_DIR``, else ``~/.cache/cairn``."""
    configured = os.environ.get(ENV_CACHE_DIR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "cairn"


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target``, or copy it where linking is impossible."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def remove(path: Path) -> None:
    """Delete a file if it is there."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class BlobCache:
    """Blobs by sha256, shared by every download of this user; entries are added only verified.

    Entries are re-verified by the reader before use (a hard-linked download that was edited
    in place changes its cache entry too), and a bad one is evicted. Failing to write the
    cache never fails a download.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else cache_dir()

    def __repr__(self) -> str:
        return f"<BlobCache {self.root}>"

    def path(self, sha256: str) -> Path:
        """Where the blob ``sha256`` is (or would be) kept."""
        check_sha256(sha256)
        return self.root / "blobs" / sha256[:2] / sha256[2:4] / sha256

    def find(self, sha256: str, size: int) -> Path | None:
        """The cached file of ``sha256`` when there is one of the right size (not re-hashed)."""
        path = self.path(sha256)
        try:
            return path if path.is_file() and path.stat().st_size == size else None
        except OSError:
            return None

    def add(self, sha256: str, source: Path) -> None:
        """Keep a verified copy (or hard link) of ``source`` as ``sha256``, if not kept yet."""
        target = self.path(sha256)
        if target.exists():
            return
        temporary = target.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(source, temporary)
            os.replace(temporary, target)
        except OSError as exc:
            log.debug("cannot add %s to the cache at %s: %s", sha256, self.root, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()

    def evict(self, sha256: str) -> None:
        """Drop a cache entry that failed verification."""
        remove(self.path(sha256))
