"""Verified, contained, resumable, cached download of a version's files into one folder."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from cairn.client._cache import BlobCache, link_or_copy, remove
from cairn.client._errors import ValidationError
from cairn.client._hasher import BackgroundHasher, InlineHasher, hasher_for
from cairn.client._manifest import FileEntry, check_manifest, check_sha256
from cairn.client._progress import TransferProgress
from cairn.client._session import Session
from cairn.client._transfer import (
    DigestMismatchError,
    UnsafePathError,
    check_stop,
    hash_file,
    run_parallel,
    send,
)

PARTIAL_DIR = ".cairn-partial"
HASH_BATCH = 1 << 20
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))}
)


@dataclass
class _Blob:
    """One distinct content of a manifest and every file name it is saved under."""

    sha256: str
    size: int
    names: list[str] = field(default_factory=list)
    targets: list[Path] = field(default_factory=list)


def _inside(base: Path, target: Path, name: str) -> Path:
    """``target`` when it (after resolving its folder's links) stays inside ``base``."""
    resolved = target.parent.resolve() / target.name
    if not resolved.is_relative_to(base):
        raise UnsafePathError(f"refusing to write {name!r}: it resolves outside {base}")
    return target


def destination(base: Path, name: str) -> Path:
    """Where manifest file ``name`` goes under ``base`` (resolved); refuses any way out."""
    parts = name.split("/")
    if os.name == "nt" and (
        ":" in name
        or any(p.endswith((".", " ")) or p.split(".")[0].upper() in _WINDOWS_DEVICES for p in parts)
    ):
        raise UnsafePathError(f"refusing to write {name!r}: not a safe Windows file name")
    if parts[0] == PARTIAL_DIR:
        raise UnsafePathError(f"refusing to write {name!r}: {PARTIAL_DIR} is Cairn's own folder")
    return _inside(base, base.joinpath(*parts), name)


def _plan(files: Sequence[FileEntry], base: Path) -> list[_Blob]:
    """Check a whole manifest before anything is written; group its files by content."""
    try:
        check_manifest(f.path for f in files)
        for f in files:
            check_sha256(f.sha256)
            if not isinstance(f.size, int) or f.size < 0:
                raise ValidationError(f"file {f.path!r} has an invalid size")
    except ValidationError as exc:
        raise UnsafePathError(f"refusing to download: the manifest is unsafe: {exc}") from exc
    blobs: dict[str, _Blob] = {}
    for f in files:
        blob = blobs.setdefault(f.sha256, _Blob(f.sha256, f.size))
        if blob.size != f.size:
            raise UnsafePathError(f"refusing to download: {f.sha256} is listed with two sizes")
        blob.names.append(f.path)
        blob.targets.append(destination(base, f.path))
    return list(blobs.values())


def _holds(path: Path, sha256: str, size: int) -> bool:
    """Whether ``path`` is a regular file (not a link) with exactly these bytes."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size != size:
            return False
    except OSError:
        return False
    return hash_file(path) == (sha256, size)


def download_files(
    session: Session,
    files: Sequence[FileEntry],
    root: Path | str,
    file_path: Callable[[str], str],
    *,
    cache: BlobCache | None = None,
    progress: bool | None = None,
) -> Path:
    """Save every file of a manifest under ``root``, verified; returns ``root``.

    ``file_path(sha256)`` is the API path of a file's bytes. Files already present with the
    right digest are kept; cached blobs are linked or copied; the rest are downloaded in
    parallel to ``root/.cairn-partial/<sha256>`` (resuming one left by an interrupted run),
    verified, and renamed into place.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = root.resolve()
    blobs = _plan(files, base)
    total = sum(b.size for b in blobs)
    with TransferProgress(
        "Downloading", total_bytes=total, total_files=len(files), enabled=progress
    ) as bar:
        fetcher = _Fetcher(session, base, file_path, cache, bar, threading.Event())
        try:
            run_parallel([functools.partial(fetcher.fetch, blob) for blob in blobs], fetcher.stop)
        finally:
            with contextlib.suppress(OSError):
                (base / PARTIAL_DIR).rmdir()
    return root


@dataclass
class _Fetcher:
    """Brings each blob of one download into place."""

    session: Session
    base: Path
    file_path: Callable[[str], str]
    cache: BlobCache | None
    bar: TransferProgress
    stop: threading.Event

    def fetch(self, blob: _Blob) -> None:
        """Make every target of ``blob`` hold its bytes, transferring them at most once."""
        pending = [t for t in blob.targets if not _holds(t, blob.sha256, blob.size)]
        if pending:
            partials = self.base / PARTIAL_DIR
            partials.mkdir(exist_ok=True)
            temporary = partials / f"{blob.sha256}.{uuid.uuid4().hex}"
            if self._from_cache(blob, temporary):
                self.bar.advance(blob.size)
            else:
                temporary = partials / blob.sha256
                self._receive(blob, temporary)
            first = self._install(temporary, pending[0], blob)
            if self.cache is not None:
                self.cache.add(blob.sha256, first)
            for target in pending[1:]:
                copy = partials / f"{blob.sha256}.{uuid.uuid4().hex}"
                shutil.copyfile(first, copy)
                self._install(copy, target, blob)
        else:
            self.bar.advance(blob.size)
        for _ in blob.targets:
            self.bar.file_done()

    def _install(self, temporary: Path, target: Path, blob: _Blob) -> Path:
        """Rename a verified temporary file to ``target`` (checked again after mkdir)."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _inside(self.base, target, blob.names[0])
            os.replace(temporary, target)
        except BaseException:
            remove(temporary)
            raise
        return target

    def _from_cache(self, blob: _Blob, temporary: Path) -> bool:
        """Link or copy a re-verified cache entry to ``temporary``; evict it if it is bad."""
        if self.cache is None:
            return False
        cached = self.cache.find(blob.sha256, blob.size)
        if cached is None:
            return False
        if hash_file(cached) != (blob.sha256, blob.size):
            self.cache.evict(blob.sha256)
            return False
        link_or_copy(cached, temporary)
        return True

    def _receive(self, blob: _Blob, partial: Path) -> None:
        """Download to ``partial``, resuming what it holds; retry once from zero if it was bad."""
        resumed = partial.is_file() and partial.stat().st_size > 0
        if self._attempt(blob, partial):
            return
        remove(partial)
        if not resumed or not self._attempt(blob, partial):
            remove(partial)
            raise DigestMismatchError(
                f"the bytes received for {blob.names[0]!r} do not match its sha256 "
                f"{blob.sha256} and size {blob.size}; nothing was saved"
            )

    def _attempt(self, blob: _Blob, partial: Path) -> bool:
        """Fetch the bytes ``partial`` lacks; whether it then hashes to the blob's digest."""
        digest = hashlib.sha256()
        offset = partial.stat().st_size if partial.is_file() else 0
        if offset > blob.size:
            remove(partial)
            offset = 0
        if offset:
            with partial.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256")
            self.bar.advance(offset)
        if offset == blob.size and offset:
            return digest.hexdigest() == blob.sha256
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with send(self.session, "GET", self.file_path(blob.sha256), headers=headers) as response:
            if offset and response.status_code != 206:
                self.bar.advance(-offset)
                digest, offset = hashlib.sha256(), 0
            elif offset and not response.headers.get("content-range", "").startswith(
                f"bytes {offset}-"
            ):
                return False
            with (
                partial.open("ab" if offset else "wb", buffering=0) as out,
                hasher_for(blob.size - offset, digest) as hasher,
            ):
                received = self._write(response, out, hasher, offset, blob.size)
                return received == blob.size and hasher.hexdigest() == blob.sha256

    def _write(
        self,
        response: httpx.Response,
        out: BinaryIO,
        hasher: BackgroundHasher | InlineHasher,
        received: int,
        size: int,
    ) -> int:
        """Write the body piece by piece as received (no joining copy) while the hasher takes
        it in batches; returns the bytes then held, stopping once past ``size``."""
        batch: list[bytes] = []
        batched = 0
        for piece in response.iter_bytes():
            check_stop(self.stop)
            received += len(piece)
            if received > size:
                break
            _write_all(out, piece)
            batch.append(piece)
            batched += len(piece)
            if batched >= HASH_BATCH:
                hasher.feed(batch)
                self.bar.advance(batched)
                batch, batched = [], 0
        hasher.feed(batch)
        self.bar.advance(batched)
        return received


def _write_all(out: BinaryIO, data: bytes) -> None:
    """Write all of ``data`` to an unbuffered file (a raw write may take only a part)."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written:]
