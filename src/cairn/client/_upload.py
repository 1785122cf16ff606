"""Uploading files as blobs: only what the server lacks, hashed before or while it is sent."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from cairn._ends import file_ends
from cairn.client._blobstream import MEDIA_TYPE, TRAILER, BlobStreamError, header, trailer
from cairn.client._direct_upload import DirectUploads
from cairn.client._errors import CairnError
from cairn.client._progress import TransferProgress
from cairn.client._session import Session, api_path
from cairn.client._transfer import (
    HASH_WORKERS,
    TRANSFER_WORKERS,
    file_chunks,
    hash_file,
    raise_failure,
    send,
)

MISSING_BATCH = 10_000
# Files up to STREAMED_FILE_BYTES go to the server together, in blob streams (at most
# STREAM_FILES files each): one request per file would cost more than the bytes of a small
# file. Larger files get a request each. A stream carries enough bytes for each sender to
# have about two (one that ends late then holds up little), from STREAM_BYTES_MIN to
# STREAM_BYTES_MAX: every request costs the server its own work, and 1,000 files of 1 MiB
# sent in 64 MiB streams rather than 16 took 7-8% less of its CPU and went 3-5% faster
# (2-core VM, 4 and 5 interleaved pairs; bench/README.md, session 23).
STREAMED_FILE_BYTES = 8 << 20
STREAM_BYTES_MIN = 16 << 20
STREAM_BYTES_MAX = 64 << 20
STREAM_FILES = 500
# What a server without blob streams (or /blobs/sizes) answers: no route, or a body it does
# not take.
OLDER_SERVER = frozenset({404, 405, 415})


@dataclasses.dataclass(frozen=True)
class _File:
    """A file to send: its place in the push, and its sha256 unless it is hashed as it is sent."""

    index: int
    path: Path
    size: int
    sha256: str | None


def push_files(
    session: Session, paths: Sequence[Path], *, progress: bool | None = None
) -> list[tuple[str, int]]:
    """Upload the blobs of ``paths`` the server lacks; ``(sha256, size)`` of each path.

    A file whose size no blob this caller sent has (``POST /blobs/sizes``), and which no
    other file of the push matches in size and in its first and last 4 KiB, is certainly
    missing and unique: it is sent at once, hashed as it is read, its sha256 after its
    bytes, so it is read once and sent without waiting for a hash.
    The other files are hashed first, in parallel in the background, while the main thread
    takes the digests in order, in batches of whatever is ready, asks the server which it
    lacks (``/blobs/missing``) and hands those to the upload threads. Each digest is asked
    for and sent once.
    """
    sizes = [path.stat().st_size for path in paths]
    stream_bytes = _stream_bytes(sizes)
    unseen = _unseen(session, paths, sizes)
    results: list[tuple[str, int] | None] = [None] * len(paths)
    later = [i for i in range(len(paths)) if unseen is None or not unseen[i]]
    stop = threading.Event()
    failed = threading.Event()
    done = 0
    with (
        TransferProgress(
            "Uploading", total_bytes=sum(sizes), total_files=len(paths), enabled=progress
        ) as bar,
        ThreadPoolExecutor(HASH_WORKERS) as hashers,
        ThreadPoolExecutor(TRANSFER_WORKERS) as senders,
    ):
        hashing = [hashers.submit(hash_file, paths[i]) for i in later]
        direct = DirectUploads(session)
        sending: list[Future[None]] = []
        queued: list[_File] = []
        queued_bytes = 0

        @functools.cache
        def takes_streams() -> bool:
            return unseen is not None or _takes_blob_streams(session)

        def submit(task: Callable[[], None]) -> None:
            sending.append(senders.submit(task))
            sending[-1].add_done_callback(lambda f: _note_failure(f, failed))

        def send_file(file: _File) -> None:
            nonlocal queued, queued_bytes
            if file.size > STREAMED_FILE_BYTES or not takes_streams():
                if file.sha256 is None:
                    through_server = _stream_uploader(session, [file], results, bar, stop)
                else:
                    through_server = _uploader(session, file, bar, stop)
                if file.size > STREAMED_FILE_BYTES:
                    submit(_direct_uploader(direct, file, results, bar, stop, through_server))
                else:
                    submit(through_server)
                return
            queued.append(file)
            queued_bytes += file.size
            if queued_bytes >= stream_bytes or len(queued) >= STREAM_FILES:
                submit(_stream_uploader(session, queued, results, bar, stop))
                queued, queued_bytes = [], 0

        def skip(size: int) -> None:
            bar.advance(size)
            bar.file_done()

        try:
            for i, size in enumerate(sizes):
                if unseen is not None and unseen[i]:
                    send_file(_File(i, paths[i], size, None))
            asked: set[str] = set()
            while done < len(later) and not failed.is_set():
                ready = [hashing[done].result()]
                while done + len(ready) < len(later) and len(ready) < MISSING_BATCH:
                    if not hashing[done + len(ready)].done():
                        break
                    ready.append(hashing[done + len(ready)].result())
                batch: dict[str, _File] = {}
                for sha256, size in ready:
                    index = later[done]
                    done += 1
                    results[index] = (sha256, size)
                    if sha256 in asked or sha256 in batch:
                        skip(size)
                    else:
                        batch[sha256] = _File(index, paths[index], size, sha256)
                asked.update(batch)
                missing = set(_missing(session, batch))
                for sha256, file in batch.items():
                    if sha256 in missing:
                        send_file(file)
                    else:
                        skip(file.size)
            if queued:
                submit(_stream_uploader(session, queued, results, bar, stop))
            wait(sending, return_when=FIRST_EXCEPTION)
        finally:
            if done < len(later) or failed.is_set():
                stop.set()
                for hashed in hashing:
                    hashed.cancel()
                for sent in sending:
                    sent.cancel()
    raise_failure(sending)
    pushed = [result for result in results if result is not None]
    if len(pushed) != len(paths):
        raise RuntimeError("a file was neither sent nor found on the server")
    return pushed


def _stream_bytes(sizes: Sequence[int]) -> int:
    """How many bytes a blob stream of this push carries: the files that may go in streams
    shared out so that each sender gets about two, within the bounds above."""
    streamed = sum(size for size in sizes if size <= STREAMED_FILE_BYTES)
    share = streamed // (2 * TRANSFER_WORKERS)
    return min(STREAM_BYTES_MAX, max(STREAM_BYTES_MIN, share))


def _note_failure(future: Future[None], failed: threading.Event) -> None:
    if not future.cancelled() and future.exception() is not None:
        failed.set()


def _unseen(session: Session, paths: Sequence[Path], sizes: Sequence[int]) -> list[bool] | None:
    """For each file, whether it is certainly missing on the server and the only one of the
    push with its content: no blob this caller sent has both its size and its ends
    (``cairn._ends``, read only where the size alone does not tell), and no other file of
    the push has both either. ``None`` when that cannot be told: the server predates
    ``/blobs/sizes``."""
    answer = _sent(session, "sizes", "sizes", sorted(set(sizes)))
    if answer is None:
        return None
    sent = set(answer)
    counts = Counter(sizes)
    probed = [i for i, size in enumerate(sizes) if counts[size] > 1 or size in sent]
    ends: dict[int, str] = {}
    if probed:
        with ThreadPoolExecutor(HASH_WORKERS) as readers:
            found = readers.map(file_ends, (paths[i] for i in probed))
            ends = dict(zip(probed, found, strict=True))
    seen_sizes = sorted({(sizes[i], ends[i]) for i in ends if sizes[i] in sent})
    asked = [{"size": size, "ends": ends} for size, ends in seen_sizes]
    found_sent = _sent(session, "ends", "files", asked) if asked else []
    maybe_sent = None if found_sent is None else {(f["size"], f["ends"]) for f in found_sent}
    twins = Counter((sizes[i], ends[i]) for i in probed)

    def unseen(i: int, size: int) -> bool:
        if size in sent and (maybe_sent is None or (size, ends[i]) in maybe_sent):
            return False
        return counts[size] == 1 or twins[size, ends[i]] == 1

    return [unseen(i, size) for i, size in enumerate(sizes)]


def _sent(session: Session, question: str, field: str, items: Sequence[Any]) -> list[Any] | None:
    """What ``POST /blobs/{question}`` answers about ``items`` (sent as ``field``), asked
    MISSING_BATCH at a time: those a blob this caller sent has (``sizes``) or may be
    (``ends``). None from a server that cannot tell, as it predates that route."""
    sent: list[Any] = []
    try:
        for start in range(0, len(items), MISSING_BATCH):
            body = {field: list(items[start : start + MISSING_BATCH])}
            sent += session.request("POST", api_path("blobs", question), json=body)["sent"]
    except CairnError as exc:
        if exc.status in OLDER_SERVER:
            return None
        raise
    return sent


def _missing(session: Session, blobs: Mapping[str, _File]) -> list[str]:
    """Which of ``blobs`` the server wants from this caller."""
    wanted = [{"sha256": sha, "size": file.size} for sha, file in blobs.items()]
    missing: list[str] = []
    for start in range(0, len(wanted), MISSING_BATCH):
        body = {"blobs": wanted[start : start + MISSING_BATCH]}
        missing += session.request("POST", api_path("blobs", "missing"), json=body)["missing"]
    return missing


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
    files: Sequence[_File],
    results: list[tuple[str, int] | None],
    bar: TransferProgress,
    stop: threading.Event,
) -> Callable[[], None]:
    """A task that sends ``files`` in one blob stream; a file without a sha256 is hashed as it
    is read, and its digest (in ``results``) follows its bytes. A server without blob streams
    (OLDER_SERVER) gets the files one request each."""
    files = list(files)
    computed: dict[int, str] = {}

    def body() -> Iterator[bytes]:
        for file in files:
            yield header(file.sha256, file.size)
            if file.sha256 is not None:
                yield from file_chunks(file.path, file.size, bar, stop)
                continue
            digest = hashlib.sha256()
            yield from file_chunks(file.path, file.size, bar, stop, digest)
            computed[file.index] = digest.hexdigest()
            yield trailer(computed[file.index])

    def upload() -> None:
        length = sum(
            len(header(f.sha256, f.size)) + f.size + (0 if f.sha256 else TRAILER) for f in files
        )
        headers = {
            "Content-Type": MEDIA_TYPE,
            "Content-Length": str(length),
            "Accept": "application/json",
        }
        try:
            with send(
                session, "POST", api_path("blobs", "batch"), headers=headers, content=body()
            ) as response:
                response.read()
                stored = [blob["sha256"] for blob in response.json()["blobs"]]
        except CairnError as exc:
            if exc.status not in OLDER_SERVER:
                raise
            bar.advance(-sum(f.size for f in files))  # nothing was kept: send again
            for file in files:
                sha256 = file.sha256 or hash_file(file.path)[0]
                results[file.index] = (sha256, file.size)
                _uploader(session, dataclasses.replace(file, sha256=sha256), bar, stop)()
            return
        sent = [file.sha256 or computed[file.index] for file in files]
        if stored != sent:
            raise BlobStreamError("the server's answer names other files than the stream sent")
        for file, sha256 in zip(files, sent, strict=True):
            results[file.index] = (sha256, file.size)
            bar.file_done()

    return upload


def _direct_uploader(
    direct: DirectUploads,
    file: _File,
    results: list[tuple[str, int] | None],
    bar: TransferProgress,
    stop: threading.Event,
    through_server: Callable[[], None],
) -> Callable[[], None]:
    """A task that sends a large file straight to the object store where the server offers
    that (``DirectUploads``), else runs ``through_server``."""

    def upload() -> None:
        sha256 = direct.send(file.path, file.size, file.sha256, bar, stop)
        if sha256 is None:
            through_server()
            return
        results[file.index] = (sha256, file.size)
        bar.file_done()

    return upload


def _uploader(
    session: Session, file: _File, bar: TransferProgress, stop: threading.Event
) -> Callable[[], None]:
    """A task that streams one file, whose sha256 is known, with its Content-Length."""
    assert file.sha256 is not None

    def upload() -> None:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(file.size),
            "Accept": "application/json",
        }
        with send(
            session,
            "PUT",
            api_path("blobs", str(file.sha256)),
            headers=headers,
            content=file_chunks(file.path, file.size, bar, stop),
        ):
            bar.file_done()

    return upload
