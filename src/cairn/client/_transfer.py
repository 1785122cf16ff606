"""Moving file bytes: the raw-bytes request, parallel tasks, hashing, reading files to send."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

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
    """One streamed request; error answers raise the SDK's error for them."""
    client = session._client
    sent = {"User-Agent": session._user_agent, **(headers or {})}
    if session.api_key:
        sent["Authorization"] = f"Bearer {session.api_key}"
    request = client.build_request(method, session._origin + path, headers=sent, content=content)
    try:
        response = client.send(request, stream=True)
        if method == "GET" and response.status_code == 307:
            response = _to_storage(session, response, headers)
        try:
            if response.is_error:
                response.read()
                if _origin_of(response.request.url) != _origin_of(request.url):
                    raise _storage_error(response)
                raise error_from_response(response)
            yield response
        finally:
            response.close()
    except httpx.InvalidURL as exc:  # httpx parses any Location, followed or not
        raise CairnError(f"the server redirected a download to an invalid URL ({exc})") from exc
    except httpx.TransportError as exc:
        where = session._origin
        if _has_request(exc) and _origin_of(exc.request.url) != _origin_of(request.url):
            where = _origin_of(exc.request.url)  # the object store of a presigned download
        raise NetworkError(
            f"transfer with {where} failed: {str(exc) or type(exc).__name__}"
        ) from exc


def _to_storage(
    session: Session, redirect: httpx.Response, headers: Mapping[str, str] | None
) -> httpx.Response:
    """Follow a download's 307 to the presigned URL of its bytes: the same headers (Range),
    never the Cairn credentials, whatever the client's defaults."""
    location = redirect.headers.get("location", "")
    redirect.close()
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL:
        target = httpx.URL()
    if target.scheme not in ("http", "https") or not target.host:
        raise CairnError(f"the server redirected a download to {location[:200]!r}")
    client = session._client
    request = client.build_request(
        "GET", target, headers={"User-Agent": session._user_agent, **(headers or {})}
    )
    request.headers.pop("Authorization", None)
    request.headers.pop("Cookie", None)
    return client.send(request, stream=True, follow_redirects=False)


def _storage_error(response: httpx.Response) -> CairnError:
    """An error answer of the object store a download was sent to (S3 speaks XML)."""
    code = re.search(r"<Code>([^<]{1,100})</Code>", response.text)
    detail = code.group(1) if code else response.reason_phrase
    return ServerError(
        f"the object store at {_origin_of(response.request.url)} answered "
        f"{response.status_code} {detail} for a presigned download; run it again for a new link",
        status=response.status_code,
        code="storage_error",
    )


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has none
    except RuntimeError:
        return False
    return True


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
    """``(sha256, size)`` of a file, read in chunks (hashlib releases the GIL meanwhile)."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        return digest.hexdigest(), handle.tell()


def file_chunks(
    path: Path,
    size: int,
    bar: TransferProgress,
    stop: threading.Event,
    digest: Hash | None = None,
) -> Iterator[bytes]:
    """The bytes of ``path``, which must still be ``size`` long, advancing the progress bar
    (and ``digest``, when given, as they are read)."""
    sent = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            check_stop(stop)
            sent += len(chunk)
            if sent > size:
                break
            if digest is not None:
                digest.update(chunk)
            bar.advance(len(chunk))
            yield chunk
    if sent != size:
        raise ValidationError(f"{path} changed while it was being uploaded; log it again")
