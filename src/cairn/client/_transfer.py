"""Moving file bytes: the raw-bytes request, parallel tasks, hashing, reading files to send."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import os
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx

from cairn._prefetch import Prefetcher
from cairn.client._errors import (
    CairnError,
    NetworkError,
    ServerError,
    ValidationError,
    error_from_response,
)
from cairn.client._progress import TransferProgress
from cairn.client._session import Session

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

CHUNK = 1 << 20
# A file of at least READ_AHEAD_FROM bytes is read and hashed on a thread of its own, up to
# READ_AHEAD chunks ahead of the request that sends it: read, hash and send one after the
# other on one thread left the client's share of a 1 GiB upload on the critical path
# (2-core VM, interleaved pairs: 389-391 -> 415-422 MB/s).
READ_AHEAD_FROM = 8 << 20
READ_AHEAD = 4
HASH_WORKERS = min(8, os.cpu_count() or 1)
TRANSFER_WORKERS = 8


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
    """One streamed request; error answers raise the SDK's error for them. A download the
    server answers with 307 (a presigned URL of the bytes) is fetched from there instead."""
    client = session._client
    sent = {"User-Agent": session._user_agent, **(headers or {})}
    if session.api_key:
        sent["Authorization"] = f"Bearer {session.api_key}"
    request = client.build_request(method, session._origin + path, headers=sent, content=content)
    try:
        response = client.send(request, stream=True)
        if method == "GET" and response.status_code == 307:
            location = response.headers.get("location", "")
            response.close()
            with send_to_storage(session, "GET", location, headers or {}) as stored:
                yield stored
            return
        with _answered(response, error_from_response) as answered:
            yield answered
    except httpx.InvalidURL as exc:  # httpx parses any Location, followed or not
        raise CairnError(f"the server sent a transfer to an invalid URL ({exc})") from exc
    except httpx.TransportError as exc:
        raise NetworkError(
            f"transfer with {session._origin} failed: {str(exc) or type(exc).__name__}"
        ) from exc


def _storage_request(
    session: Session,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    content: Iterable[bytes] | None = None,
) -> httpx.Request:
    """A request to a presigned URL of the object store: the caller's headers, never the
    Cairn key or cookies, whatever the client's defaults; only http(s) URLs."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        target = httpx.URL()
    if target.scheme not in ("http", "https") or not target.host:
        raise CairnError(f"the server sent a transfer to {url[:200]!r}")
    request = session._client.build_request(
        method,
        target,
        headers={"User-Agent": session._user_agent, **(headers or {})},
        content=content,
    )
    request.headers.pop("Authorization", None)
    request.headers.pop("Cookie", None)
    return request


@contextlib.contextmanager
def send_to_storage(
    session: Session,
    method: str,
    url: str,
    headers: Mapping[str, str],
    content: Iterable[bytes] | None = None,
) -> Iterator[httpx.Response]:
    """One streamed request to a presigned URL; an error answer raises a storage error."""
    request = _storage_request(session, method, url, headers, content)
    try:
        response = session._client.send(request, stream=True, follow_redirects=False)
        with _answered(response, _storage_error) as answered:
            yield answered
    except httpx.TransportError as exc:
        raise NetworkError(
            f"transfer with {_origin_of(request.url)} failed: {str(exc) or type(exc).__name__}"
        ) from exc


@contextlib.contextmanager
def _answered(
    response: httpx.Response, error_for: Callable[[httpx.Response], CairnError]
) -> Iterator[httpx.Response]:
    """``response`` for the caller's block, closed afterwards; an error answer is read and
    raised as ``error_for`` describes it."""
    try:
        if response.is_error:
            response.read()
            raise error_for(response)
        yield response
    finally:
        response.close()


def _storage_error(response: httpx.Response) -> CairnError:
    """An error answer of the object store a transfer was sent to (S3 speaks XML)."""
    code = re.search(r"<Code>([^<]{1,100})</Code>", response.text)
    detail = code.group(1) if code else response.reason_phrase
    return ServerError(
        f"the object store at {_origin_of(response.request.url)} answered "
        f"{response.status_code} {detail} to a presigned {response.request.method}; "
        "run it again for a new link",
        status=response.status_code,
        code="storage_error",
    )


def _origin_of(url: httpx.URL | str) -> str:
    url = httpx.URL(url)
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class Stopped(Exception):
    """Raised inside a transfer task when another one failed or the user interrupted."""


def check_stop(stop: threading.Event) -> None:
    """End the current task early once ``stop`` is set (partial downloads stay for resuming)."""
    if stop.is_set():
        raise Stopped


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
    raise_failure(futures)


def raise_failure(futures: Iterable[Future[None]]) -> None:
    """Raise the error of the first ended task that failed (not one merely stopped)."""
    for future in futures:
        error = None if future.cancelled() else future.exception()
        if error is not None and not isinstance(error, Stopped):
            raise error


# -- hashing and reading files to send ------------------------------------------------------


def hash_file(path: Path) -> tuple[str, int]:
    """``(sha256, size)`` of a file, read in chunks (hashlib releases the GIL meanwhile); for
    a file of READ_AHEAD_FROM bytes or more, the disk is asked for the next ones ahead
    (``cairn._prefetch``)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size < READ_AHEAD_FROM:
            digest = hashlib.file_digest(handle, "sha256")
            return digest.hexdigest(), handle.tell()
        return _hash_ahead(handle)


def _hash_ahead(handle: io.BufferedReader) -> tuple[str, int]:
    """``(sha256, size)`` of the rest of ``handle``, the disk asked ahead of each read."""
    digest = hashlib.sha256()
    size = 0
    buffer = memoryview(bytearray(CHUNK))
    prefetch = Prefetcher(handle.fileno())
    while True:
        prefetch.ahead_of(size)
        n = handle.readinto(buffer)
        if not n:
            return digest.hexdigest(), size
        digest.update(buffer[:n])
        size += n


def file_chunks(
    path: Path,
    size: int,
    bar: TransferProgress,
    stop: threading.Event,
    digest: Hash | None = None,
) -> Generator[bytes, None, None]:
    """The bytes of ``path``, which must still be ``size`` long, advancing the progress bar
    (and ``digest``, when given, as they are read)."""
    sent = 0
    with path.open("rb") as handle:
        read = _read_ahead if size >= READ_AHEAD_FROM else _read
        with contextlib.closing(read(handle, digest)) as chunks:
            for chunk in chunks:
                check_stop(stop)
                sent += len(chunk)
                if sent > size:
                    break
                bar.advance(len(chunk))
                yield chunk
    if sent != size:
        raise ValidationError(f"{path} changed while it was being uploaded; log it again")


def _read(handle: BinaryIO, digest: Hash | None) -> Generator[bytes, None, None]:
    """The handle's bytes a CHUNK at a time, each added to ``digest`` (when given) first."""
    while chunk := handle.read(CHUNK):
        if digest is not None:
            digest.update(chunk)
        yield chunk


def _read_ahead(handle: BinaryIO, digest: Hash | None) -> Generator[bytes, None, None]:
    """What ``_read`` gives, read and hashed on a thread of its own up to READ_AHEAD chunks
    before the caller takes them, the disk asked for the next ones ahead of the reads
    (``cairn._prefetch``); closing the iterator stops that thread."""

    prefetch = Prefetcher(handle.fileno())

    def next_chunk() -> bytes:
        prefetch.ahead_of(handle.tell())
        chunk = handle.read(CHUNK)
        if digest is not None:
            digest.update(chunk)
        return chunk

    with ThreadPoolExecutor(1, thread_name_prefix="cairn-read") as reader:
        ahead = collections.deque(reader.submit(next_chunk) for _ in range(READ_AHEAD))
        try:
            while chunk := ahead.popleft().result():
                ahead.append(reader.submit(next_chunk))
                yield chunk
        finally:
            for pending in ahead:
                pending.cancel()
