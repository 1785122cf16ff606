"""Verified, contained, resumable, cached download of a version's files into one folder."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import stat
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from cairn._filewriter import FileWriter
from cairn._partial import PARTIAL_DIR as PARTIAL_DIR  # tests import it from here
from cairn.client._blobstream import MEDIA_TYPE, BlobStreamError, Piece, read_stream
from cairn.client._cache import BlobCache, copy_file, remove
from cairn.client._download_plan import Blob, batches, inside, plan
from cairn.client._errors import CairnError
from cairn.client._hasher import BackgroundHasher, InlineHasher, hasher_for
from cairn.client._manifest import FileEntry
from cairn.client._network import body_left_in_socket, raw_body
from cairn.client._progress import TransferProgress
from cairn.client._receiving import Taking, receive_into_ring, refilled, splice_into_file
from cairn.client._session import Session
from cairn.client._transfer import (
    DigestMismatchError,
    UnsafePathError,
    check_stop,
    hash_file,
    run_parallel,
    send,
)


def _holds(path: Path, sha256: str, size: int) -> bool:
    """Whether ``path`` is a regular file of its own (no symbolic or hard link) with exactly
    these bytes; a hard-linked one (as older versions left, shared with the cache) is replaced."""
    try:
        found = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(found.st_mode) or found.st_size != size or found.st_nlink != 1:
        return False
    return hash_file(path) == (sha256, size)


def _size_held(path: Path) -> int:
    """The size of the regular file at ``path``, 0 where there is none; anything else there
    (a symbolic link, say: a download would write through it) is removed, not followed."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(found.st_mode):
        remove(path)
        return 0
    return found.st_size


def download_files(
    session: Session,
    files: Sequence[FileEntry],
    root: Path | str,
    file_path: Callable[[str], str],
    *,
    cache: BlobCache | None = None,
    progress: bool | None = None,
    batch_path: str | None = None,
) -> Path:
    """Save every file of a manifest under ``root``, verified; returns ``root``.

    ``file_path(sha256)`` is the API path of a file's bytes. Files already present with the
    right digest are kept; cached blobs are copied; the rest are downloaded in parallel to
    ``root/.cairn-partial/<sha256>`` (resuming one left by an interrupted run), verified,
    copied into the cache and renamed into place. Every file written is a file of its own,
    sharing no inode with the cache or another file. With ``batch_path`` (the API path
    answering many of the version's files as one blob stream) small files come many to a
    request; any that a batch fails to bring (an error answer, an older server, a bad or cut
    stream) are then fetched alone, which resumes and reports the precise error.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = root.resolve()
    blobs = plan(files, base)
    total = sum(b.size for b in blobs)
    with TransferProgress(
        "Downloading", total_bytes=total, total_files=len(files), enabled=progress
    ) as bar:
        fetcher = _Fetcher(session, base, file_path, cache, bar, threading.Event())
        tasks = [functools.partial(fetcher.fetch, blob) for blob in blobs]
        if batch_path is not None:
            alone, groups = batches(blobs)
            tasks = [functools.partial(fetcher.fetch, blob) for blob in alone]
            tasks += [functools.partial(fetcher.fetch_batch, batch_path, g) for g in groups]
        try:
            run_parallel(tasks, fetcher.stop)
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
    # folders made (and checked again once they exist) during this download: a manifest's
    # files share a few, and each check costs a system call per path component
    made: set[Path] = field(default_factory=set)
    # the partial downloads an earlier run left, listed once instead of looked for per file
    left: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        try:
            with os.scandir(self.base / PARTIAL_DIR) as entries:
                self.left = frozenset(e.name for e in entries if e.is_file(follow_symlinks=False))
        except OSError:  # none yet, or not a folder (saving a file then fails, saying so)
            self.left = frozenset()

    def fetch(self, blob: Blob) -> None:
        """Make every target of ``blob`` hold its bytes, transferring them at most once."""
        pending = self._still_needed(blob)
        if pending:
            self._fetch_alone(blob, pending)
        self._done(blob)

    def _still_needed(self, blob: Blob) -> list[Path]:
        """The targets of ``blob`` that need a transfer: none when every one already holds
        its bytes or the cache supplied them (the progress bar then counts them)."""
        pending = [t for t in blob.targets if not _holds(t, blob.sha256, blob.size)]
        if not pending:
            self.bar.advance(blob.size)
            return []
        return [] if self._from_cache(blob, pending) else pending

    def fetch_batch(self, batch_path: str, blobs: Sequence[Blob]) -> None:
        """``fetch`` for many blobs, transferring those still needed in one request (those
        with a partial download left by an earlier run resume alone); whatever the batch
        does not bring is then fetched alone."""
        wanted: dict[str, tuple[Blob, list[Path]]] = {}
        for blob in blobs:
            check_stop(self.stop)
            pending = self._still_needed(blob)
            if pending and blob.sha256 not in self.left:
                wanted[blob.sha256] = (blob, pending)
                continue
            if pending:
                self._fetch_alone(blob, pending)
            self._done(blob)
        if wanted:
            self._receive_batch(batch_path, wanted)
        for blob, pending in wanted.values():  # what the batch left: alone, as precisely
            self._fetch_alone(blob, pending)
            self._done(blob)

    def _receive_batch(self, batch_path: str, wanted: dict[str, tuple[Blob, list[Path]]]) -> None:
        """Ask for ``wanted`` as one blob stream, installing each verified record and taking
        it out of ``wanted``; an error answer or a bad stream ends this quietly."""
        body = json.dumps({"sha256": list(wanted)}).encode("ascii")
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Accept": MEDIA_TYPE,
        }
        sink: _BatchSink | None = None
        try:
            with (
                body_left_in_socket(),
                send(self.session, "POST", batch_path, headers=headers, content=[body]) as answer,
            ):
                media = answer.headers.get("content-type", "").split(";")[0].strip()
                if media != MEDIA_TYPE:
                    raise BlobStreamError(f"the batch answer is {media!r}, not a blob stream")
                expected = [(b.sha256, b.size) for b, _ in wanted.values()]
                raw = raw_body(answer)
                sink = _BatchSink(self, wanted, pieces_reused=raw is not None)
                read_stream(answer.iter_bytes() if raw is None else refilled(raw), expected, sink)
        except UnsafePathError:
            raise
        except CairnError:
            pass  # the blobs left are fetched alone, which says precisely what is wrong
        finally:
            if sink is not None:
                sink.close()

    def _fetch_alone(self, blob: Blob, pending: list[Path]) -> None:
        temporary = self._partials() / blob.sha256
        self._receive(blob, temporary)
        self._place(blob, temporary, pending)

    def _new_partial(self, name: str, size: int) -> tuple[Path, FileWriter]:
        """A new partial file ``name`` for ``size`` bytes, its folder made only when missing
        (one system call fewer per file than making it first)."""
        path = self.base / PARTIAL_DIR / name
        try:
            out = FileWriter(path, mode=0o666, reserve=size)
        except FileNotFoundError:
            self._partials()
            out = FileWriter(path, mode=0o666, reserve=size)
        return path, out

    def _partials(self) -> Path:
        # made again each time: another download into the same folder removes it when it ends
        partials = self.base / PARTIAL_DIR
        partials.mkdir(exist_ok=True)
        return partials

    def _done(self, blob: Blob) -> None:
        for _ in blob.targets:
            self.bar.file_done()

    def _place(
        self, blob: Blob, temporary: Path, pending: list[Path], *, cache: bool = True
    ) -> None:
        """Install the verified file ``temporary`` at every pending target: copied into the
        cache (with ``cache``) and to all targets but the first, then moved to the first."""
        try:
            if cache and self.cache is not None:
                self.cache.add(blob.sha256, temporary)
            for target in pending[1:]:
                copy = self._partials() / f"{blob.sha256}.{uuid.uuid4().hex}"
                copy_file(temporary, copy)
                self._install(copy, target, blob)
        except BaseException:
            if temporary.name != blob.sha256:  # a whole resumable download is kept for next time
                remove(temporary)
            raise
        self._install(temporary, pending[0], blob)

    def _install(self, temporary: Path, target: Path, blob: Blob) -> Path:
        """Rename a verified temporary file to ``target`` (checked again after mkdir)."""
        try:
            if target.parent not in self.made:
                target.parent.mkdir(parents=True, exist_ok=True)
                inside(self.base, target, blob.names[0])
                self.made.add(target.parent)
            os.replace(temporary, target)
        except BaseException:
            remove(temporary)
            raise
        return target

    def _from_cache(self, blob: Blob, pending: list[Path]) -> bool:
        """Install a copy of a cache entry at ``pending`` once the copy verifies (evicting the
        entry if it does not, for the download to repair); whether there was a good one."""
        cache = self.cache
        entry = None if cache is None else cache.find(blob.sha256, blob.size)
        if cache is None or entry is None:
            return False
        temporary = self._partials() / f"{blob.sha256}.{uuid.uuid4().hex}"
        if not cache.copy_out(entry, blob.sha256, blob.size, temporary):
            return False
        self.bar.advance(blob.size)
        self._place(blob, temporary, pending, cache=False)
        return True

    def _receive(self, blob: Blob, partial: Path) -> None:
        """Download to ``partial``, resuming what it holds (anything there but a regular file
        is removed first); retry once from zero if it was bad."""
        held = _size_held(partial)
        if self._attempt(blob, partial, held):
            return
        remove(partial)
        if not held or not self._attempt(blob, partial, 0):
            remove(partial)
            raise DigestMismatchError(
                f"the bytes received for {blob.names[0]!r} do not match its sha256 "
                f"{blob.sha256} and size {blob.size}; nothing was saved"
            )

    def _attempt(self, blob: Blob, partial: Path, offset: int) -> bool:
        """Fetch the bytes ``partial`` lacks past the ``offset`` it holds; whether it then
        hashes to the blob's digest."""
        digest = hashlib.sha256()
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
        with (
            body_left_in_socket(),
            send(self.session, "GET", self.file_path(blob.sha256), headers=headers) as response,
        ):
            if offset and response.status_code != 206:
                self.bar.advance(-offset)
                digest, offset = hashlib.sha256(), 0
            elif offset and not response.headers.get("content-range", "").startswith(
                f"bytes {offset}-"
            ):
                return False
            how: Literal["append", "replace"] = "append" if offset else "replace"
            out = FileWriter(
                partial, mode=0o666, how=how, readable=True, reserve=blob.size - offset
            )
            try:
                with hasher_for(blob.size - offset, digest) as hasher:
                    received = self._write(response, out, hasher, offset, blob.size)
                    out.finish()
                    return received == blob.size and hasher.hexdigest() == blob.sha256
            except BaseException:
                with contextlib.suppress(OSError):
                    out.finish()  # what arrived stays for the next run to resume from
                raise
            finally:
                out.close()

    def _write(
        self,
        response: httpx.Response,
        out: FileWriter,
        hasher: BackgroundHasher | InlineHasher,
        received: int,
        size: int,
    ) -> int:
        """Write the body piece by piece as received (no joining copy) while the hasher takes
        it in batches; returns the bytes then held, stopping once past ``size``."""
        body = raw_body(response)
        if body is not None:
            received = splice_into_file(body, out, hasher, received, size, self.stop, self.bar)
            return receive_into_ring(body, out, hasher, received, size, self.stop, self.bar)
        taking = Taking(out, hasher, self.bar)
        for piece in response.iter_bytes():
            check_stop(self.stop)
            received += len(piece)
            if received > size:
                break
            taking.take(piece)
        taking.flush()
        return received


class _BatchSink:
    """Writes each record of a blob stream to a fresh partial file while hashing it, and
    installs it once its digest and size match (a mismatch ends the stream). With
    ``pieces_reused`` every piece is hashed on this thread before ``data`` returns."""

    def __init__(
        self,
        fetcher: _Fetcher,
        wanted: dict[str, tuple[Blob, list[Path]]],
        *,
        pieces_reused: bool,
    ) -> None:
        self.fetcher = fetcher
        self.wanted = wanted
        self.pieces_reused = pieces_reused
        self.sha256 = ""
        self.path: Path | None = None
        self.taking: Taking | None = None

    def begin(self, sha256: str, size: int) -> None:
        """Open a fresh partial file for the record of ``sha256``."""
        self.sha256 = sha256
        self.path, out = self.fetcher._new_partial(f"{sha256}.{uuid.uuid4().hex}", size)
        if self.pieces_reused:  # a piece is overwritten once data() returns: hash it at once
            self.taking = Taking(out, InlineHasher(), self.fetcher.bar, batch_limit=0)
        else:
            self.taking = Taking(out, hasher_for(size), self.fetcher.bar)

    def data(self, piece: Piece) -> None:
        """Write and hash the record's next bytes."""
        check_stop(self.fetcher.stop)
        assert self.taking is not None
        self.taking.take(piece)

    def end(self) -> None:
        """Verify the record and install it at its targets, or end the stream."""
        taking, self.taking = self.taking, None
        assert taking is not None
        taking.flush()
        taking.out.finish()
        taking.out.close()
        digest = taking.hasher.hexdigest()
        blob, pending = self.wanted[self.sha256]
        if digest != blob.sha256 or taking.received != blob.size:
            self.taking = taking  # close() takes back its progress and removes the file
            raise BlobStreamError(f"the bytes received for {blob.names[0]!r} do not match")
        path, self.path = self.path, None
        assert path is not None
        self.fetcher._place(blob, path, pending)
        del self.wanted[self.sha256]
        self.fetcher._done(blob)

    def close(self) -> None:
        """Throw away a record left unfinished, and take back the progress it made."""
        if self.taking is not None:
            taking, self.taking = self.taking, None
            taking.hasher.__exit__(None, None, None)
            taking.out.close()
            self.fetcher.bar.advance(-taking.counted())
        if self.path is not None:
            remove(self.path)
            self.path = None
