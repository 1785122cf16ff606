"""The local content cache of verified blobs: ``<cache dir>/blobs/ab/cd/<sha256>``."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import uuid
from pathlib import Path

from cairn.client._manifest import check_sha256
from cairn.client._transfer import hash_file

ENV_CACHE_DIR = "CAIRN_CACHE_DIR"
# copy_file_range refuses these where the kernel or filesystem cannot copy in place
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}
)
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$CAIRN_CACHE_DIR``, else ``~/.cache/cairn``."""
    configured = os.environ.get(ENV_CACHE_DIR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "cairn"


def copy_file(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target``, a file of its own (never a link): in the kernel where it
    can (a reflink on filesystems that share extents copy-on-write), else a plain copy."""
    try:
        _copy_in_kernel(source, target)
    except OSError as exc:
        if exc.errno not in _NO_KERNEL_COPY:
            raise
        shutil.copyfile(source, target)


def _copy_in_kernel(source: Path, target: Path) -> None:
    """``os.copy_file_range`` from ``source`` to a new ``target``, to the end of ``source``."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None:
        raise OSError(errno.ENOSYS, "copy_file_range is not available")
    with source.open("rb") as reader, target.open("wb") as writer:
        left = os.fstat(reader.fileno()).st_size
        while left > 0:
            copied = copy_range(reader.fileno(), writer.fileno(), min(left, 1 << 30))
            if copied == 0:  # some filesystems report a size but copy nothing: do it by hand
                raise OSError(errno.EINVAL, "copy_file_range copied nothing")
            left -= copied


def remove(path: Path) -> None:
    """Delete a file if it is there."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class BlobCache:
    """Blobs by sha256, shared by every download of this user; entries are added only verified.

    Entries are copies, never linked to a download, so editing a download leaves them intact.
    Readers still re-verify an entry before use and evict a bad one; the next download of that
    blob then repairs it. Failing to write the cache never fails a download.
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
        """The cached file of ``sha256`` when there is one of the right size (not re-hashed);
        an entry of the wrong size is evicted."""
        path = self.path(sha256)
        try:
            if not path.is_file():
                return None
            if path.stat().st_size == size:
                return path
        except OSError:
            return None
        self.evict(sha256)
        return None

    def copy_out(self, source: Path, sha256: str, size: int, target: Path) -> bool:
        """Copy ``source``, the entry find() gave for ``sha256``, to ``target`` and verify the
        copy; whether it verified. Otherwise no ``target`` is left, and an entry whose copy
        has other bytes is evicted."""
        good: bool | None = None
        try:
            copy_file(source, target)
            good = hash_file(target) == (sha256, size)
        except OSError as exc:  # the blob is fetched instead, and add() then replaces the entry
            log.debug("cannot copy the cache entry %s: %s", source, exc)
        finally:
            if not good:
                remove(target)
        if good is False:
            self.evict(sha256)
        return bool(good)

    def add(self, sha256: str, source: Path) -> None:
        """Keep a copy of the verified file ``source`` as ``sha256``, replacing any entry."""
        target = self.path(sha256)
        temporary = target.with_name(f".{sha256}.{uuid.uuid4().hex}.tmp")
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_file(source, temporary)
            os.replace(temporary, target)
        except OSError as exc:
            log.debug("cannot add %s to the cache at %s: %s", sha256, self.root, exc)
            with contextlib.suppress(OSError):
                temporary.unlink()

    def evict(self, sha256: str) -> None:
        """Drop a cache entry that failed verification."""
        with contextlib.suppress(OSError):
            remove(self.path(sha256))
