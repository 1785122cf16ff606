"""Moving file bytes: the raw-bytes request, parallel tasks, hashing, missing-blob upload."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from cairn.client._blobstream import MEDIA_TYPE, header
from cairn.client._errors import CairnError, NetworkError, ValidationError, error_from_response
from cairn.client._progress import TransferProgress
from cairn.client._session import Session, api_path

CHUNK = 1 << 20
MISSING_BATCH = 10_000
HASH_WORKERS = min(8, os.cpu_count() or 1)
TRANSFER_WORKERS = 8
# Files up to STREAMED_FILE_BYTES go to the server together, in blob streams of about
# STREAM_BYTES (at most STREAM_FILES files): one request per file would cost more than
# the bytes of a small file. Larger files get a request each.
STREAMED_FILE_BYTES = 8 << 20
STREAM_BYTES = 16 << 20
STREAM_FILES = 500
# What a server without blob streams answers them: no route, or a body it does not take.
OLDER_SERVER = frozenset({404, 405, 415})


class DigestMismatchError(CairnError):
    """Downloaded (or cached) bytes do not hash to the manifest's sha256 or size."""

    code = "digest_mismatch"


class UnsafePathError(CairnError, ValueError):
    """A manifest names a file that would land outside the download folder, or cannot be one."""

    code = "unsafe_path"


# -- HTTP for raw bytes, on the Session's client, key and error mapping ----------------------


@contextlib.contextmanager
def send(
    session: Session,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: Iterable[bytes] | None = None,
) -> Iterator[httpx.Response]:
    """One streamed request; error answers raise the SDK's error for them."""
    client = session._client
    sent = {"User-Agent": session._user_agent, **(headers or {})}
    if session.api_key:
        sent["Authorization"] = f"Bearer {session.api_key}"
    request = client.build_request(method, session._origin + path, headers=sent, content=content)
    try:
        response = client.send(request, stream=True)
        try:
            if response.is_error:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()
    except httpx.TransportError as exc:
        raise NetworkError(
            f"transfer with {session._origin} failed: {str(exc) or type(exc).__name__}"
        ) from exc


class _Stopped(Exception):
    """Raised inside a transfer task when another one failed or the user interrupted."""


def check_stop(stop: threading.Event) -> None:
    """End the current task early once ``stop`` is set (partial downloads stay for resuming)."""
    if stop.is_set():
        raise _Stopped


def run_parallel(
    tasks: Sequence[Callable[[], None]], stop: threading.Event, workers: int = TRANSFER_WORKERS
) -> None:
    """Run ``tasks`` on a thread pool; on the first failure (or Ctrl-C) set ``stop``, which the
    tasks check between chunks, and skip the tasks not started yet; raise that failure."""
    if not tasks:
        return
    with ThreadPoolExecutor(min(workers, len(tasks))) as pool:
        futures = [pool.submit(task) for task in tasks]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            stop.set()
            for future in futures:
                future.cancel()
    for future in futures:
        error = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, _Stopped):
            raise error


# -- hashing and upload --------------------------------------------------------------------


def hash_file(path: Path) -> tuple[str, int]:
    """``(sha256, size)`` of a file, read in chunks (hashlib releases the GIL meanwhile)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return digest.hexdigest(), handle.tell()


def push_files(
    session: Session, paths: Sequence[Path], *, progress: bool | None = None
) -> list[tuple[str, int]]:
    """Hash ``paths`` and upload the blobs the server lacks; ``(sha256, size)`` of each path.

    The steps overlap: files are hashed in parallel in the background while the main thread
    takes the digests in order, in batches of whatever is ready, asks the server which it
    lacks and hands those to the upload threads. Each digest is asked for and sent once.
    """
    total = sum(path.stat().st_size for path in paths)
    stop = threading.Event()
    failed = threading.Event()
    hashes: list[tuple[str, int]] = []
    with (
        TransferProgress(
            "Uploading", total_bytes=total, total_files=len(paths), enabled=progress
        ) as bar,
        ThreadPoolExecutor(HASH_WORKERS) as hashers,
        ThreadPoolExecutor(TRANSFER_WORKERS) as senders,
    ):
        hashing = [hashers.submit(hash_file, path) for path in paths]
        sending: list[Future[None]] = []
        asked: set[str] = set()
        streamed: list[tuple[str, Path, int]] = []
        streamed_bytes = 0

        @functools.cache
        def takes_streams() -> bool:
            return _takes_blob_streams(session)

        def submit(task: Callable[[], None]) -> None:
            sending.append(senders.submit(task))
            sending[-1].add_done_callback(lambda f: _note_failure(f, failed))

        try:
            while len(hashes) < len(paths) and not failed.is_set():
                batch: dict[str, tuple[Path, int]] = {}
                ready = [hashing[len(hashes)].result()]
                while len(hashes) + len(ready) < len(paths) and len(ready) < MISSING_BATCH:
                    following = hashing[len(hashes) + len(ready)]
                    if not following.done():
                        break
                    ready.append(following.result())
                for sha256, size in ready:
                    path = paths[len(hashes)]
                    hashes.append((sha256, size))
                    if sha256 in asked or sha256 in batch:
                        bar.advance(size)
                        bar.file_done()
                    else:
                        batch[sha256] = (path, size)
                asked.update(batch)
                missing = set(_missing(session, batch))
                for sha256, (path, size) in batch.items():
                    if sha256 not in missing:
                        bar.advance(size)
                        bar.file_done()
                    elif size > STREAMED_FILE_BYTES or not takes_streams():
                        submit(_uploader(session, sha256, path, size, bar, stop))
                    else:
                        streamed.append((sha256, path, size))
                        streamed_bytes += size
                        if streamed_bytes >= STREAM_BYTES or len(streamed) >= STREAM_FILES:
                            submit(_stream_uploader(session, streamed, bar, stop))
                            streamed, streamed_bytes = [], 0
            if streamed:
                submit(_stream_uploader(session, streamed, bar, stop))
            wait(sending, return_when=FIRST_EXCEPTION)
        finally:
            if len(hashes) < len(paths) or failed.is_set():
                stop.set()
                for hashed in hashing:
                    hashed.cancel()
                for sent in sending:
                    sent.cancel()
    for future in sending:
        error = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, _Stopped):
            raise error
    return hashes


def _note_failure(future: Future[None], failed: threading.Event) -> None:
    if not future.cancelled() and future.exception() is not None:
        failed.set()


def _missing(session: Session, blobs: Mapping[str, tuple[Path, int]]) -> list[str]:
    """Which of ``blobs`` the server wants from this caller."""
    wanted = [{"sha256": sha, "size": size} for sha, (_, size) in blobs.items()]
    missing: list[str] = []
    for start in range(0, len(wanted), MISSING_BATCH):
        body = {"blobs": wanted[start : start + MISSING_BATCH]}
        missing += session.request("POST", api_path("blobs", "missing"), json=body)["missing"]
    return missing


def _file_chunks(
    path: Path, size: int, bar: TransferProgress, stop: threading.Event
) -> Iterator[bytes]:
    """The bytes of ``path``, which must still be ``size`` long, advancing the progress bar."""
    sent = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            check_stop(stop)
            sent += len(chunk)
            if sent > size:
                break
            bar.advance(len(chunk))
            yield chunk
    if sent != size:
        raise ValidationError(f"{path} changed while it was being uploaded; log it again")


def _takes_blob_streams(session: Session) -> bool:
    """Whether the server takes blob streams, asked with an empty one (one small request):
    a server without them answers 404, 405 or 415. Sending it files instead could end in a
    cut connection, as a server may refuse a body without reading it."""
    headers = {"Content-Type": MEDIA_TYPE, "Content-Length": "0", "Accept": "application/json"}
    try:
        with send(session, "POST", api_path("blobs", "batch"), headers=headers):
            return True
    except CairnError as exc:
        if exc.status in OLDER_SERVER:
            return False
        raise


def _stream_uploader(
    session: Session,
    files: Sequence[tuple[str, Path, int]],
    bar: TransferProgress,
    stop: threading.Event,
) -> Callable[[], None]:
    """A task that sends ``files`` ((sha256, path, size) each) in one blob stream; a server
    without blob streams (OLDER_SERVER) gets them one request each."""
    files = list(files)

    def body() -> Iterator[bytes]:
        for sha256, path, size in files:
            yield header(sha256, size)
            yield from _file_chunks(path, size, bar, stop)

    def upload() -> None:
        length = sum(len(header(sha256, size)) + size for sha256, _, size in files)
        headers = {
            "Content-Type": MEDIA_TYPE,
            "Content-Length": str(length),
            "Accept": "application/json",
        }
        try:
            with send(session, "POST", api_path("blobs", "batch"), headers=headers, content=body()):
                pass
        except CairnError as exc:
            if exc.status not in OLDER_SERVER:
                raise
            bar.advance(-sum(size for _, _, size in files))  # nothing was kept: send again
            for sha256, path, size in files:
                _uploader(session, sha256, path, size, bar, stop)()
            return
        for _ in files:
            bar.file_done()

    return upload


def _uploader(
    session: Session,
    sha256: str,
    path: Path,
    size: int,
    bar: TransferProgress,
    stop: threading.Event,
) -> Callable[[], None]:
    """A task that streams one file as the blob ``sha256`` with its Content-Length."""

    def upload() -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "Accept": "application/json",
        }
        with send(
            session,
            "PUT",
            api_path("blobs", sha256),
            headers=headers,
            content=_file_chunks(path, size, bar, stop),
        ):
            bar.file_done()

    return upload
