"""The BlobStore contract, run unchanged against the local directory store and S3 (SeaweedFS)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import pytest

from cairn.server.blobs.base import READ_CHUNK, BlobStore, InvalidDigestError, blob_key
from tests.blobs.conftest import Backend

MiB = 1 << 20
BIG = 20 * MiB + 3  # crosses the S3 store's 8 MiB part size twice, ends in a short part
SIZES = [0, 1, BIG]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks(data: bytes, size: int = 1_000_003) -> Iterable[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size)) if data else [b""]


def put(store: BlobStore, data: bytes, chunk: int = 1_000_003, *, sized: bool = False) -> str:
    """Write and commit `data` (begun with its size when `sized`); its digest."""
    writer = store.begin(len(data)) if sized else store.begin()
    for part in chunks(data, chunk):
        writer.write(part)
    digest = sha(data)
    writer.commit(digest)
    return digest


def read_all(store: BlobStore, digest: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(store.read(digest, start, end))


# -- write, commit, read ---------------------------------------------------------------------


@pytest.mark.parametrize("sized", [False, True], ids=["size-unknown", "size-given"])
@pytest.mark.parametrize("size", SIZES)
def test_roundtrip(store: BlobStore, size: int, sized: bool) -> None:
    data = os.urandom(size)
    digest = put(store, data, sized=sized)
    pieces = list(store.read(digest))
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= READ_CHUNK for piece in pieces)
    assert store.exists(digest)
    assert store.size(digest) == size


def test_holds_files_tells_whether_local_path_names_the_blobs_file(store: BlobStore) -> None:
    data = os.urandom(3 * MiB + 5)
    digest = put(store, data)
    path = store.local_path(digest)
    if store.holds_files:
        assert path is not None
        assert path.read_bytes() == data
    else:
        assert path is None


@pytest.mark.parametrize(
    ("size", "chunk"),
    [(BIG, BIG), (100_000, 7), (16 * MiB, 8 * MiB)],
    ids=["one-write", "tiny-writes", "whole-parts"],
)
def test_roundtrip_whatever_the_write_sizes(store: BlobStore, size: int, chunk: int) -> None:
    data = os.urandom(size)
    assert read_all(store, put(store, data, chunk)) == data


def test_exists_and_size_before_and_after(blob_backend: Backend) -> None:
    store = blob_backend.store
    data = os.urandom(1234)
    digest = sha(data)
    assert not store.exists(digest)
    assert store.size(digest) is None
    put(store, data)
    assert store.exists(digest)
    assert store.size(digest) == 1234
    store.delete(digest)
    assert not store.exists(digest)
    assert store.size(digest) is None
    assert blob_backend.contents() == set()


def test_sizes_of_many_in_order(blob_backend: Backend) -> None:
    store = blob_backend.store
    blobs = [os.urandom(n) for n in (0, 10, 3000, 7)]
    for data in blobs[1:]:
        put(store, data)
    asked = [sha(b) for b in blobs] + [sha(blobs[2])]
    assert store.sizes(asked) == [None, 10, 3000, 7, 3000]
    assert store.sizes(asked[1:2]) == [10]
    assert store.sizes([]) == []


RANGE_SIZE = 2 * READ_CHUNK + 5
RANGES = [
    (0, None),
    (0, 0),
    (0, 1),
    (5, 10),
    (10, 5),
    (READ_CHUNK - 1, READ_CHUNK + 1),
    (READ_CHUNK, None),
    (RANGE_SIZE - 1, None),
    (RANGE_SIZE - 1, RANGE_SIZE),
    (RANGE_SIZE, None),
    (RANGE_SIZE + 10, None),
    (RANGE_SIZE + 10, RANGE_SIZE + 20),
    (5, RANGE_SIZE + 100),
    (0, RANGE_SIZE),
]


def test_ranged_reads(store: BlobStore) -> None:
    data = os.urandom(RANGE_SIZE)
    digest = put(store, data)
    for start, end in RANGES:
        pieces = list(store.read(digest, start, end))
        assert b"".join(pieces) == data[start:end], (start, end)
        assert all(0 < len(piece) <= READ_CHUNK for piece in pieces), (start, end)


@pytest.mark.parametrize(("start", "end"), [(0, None), (3, None), (5, 3 * MiB + 7)])
def test_reads_come_in_pieces_of_the_size_asked(
    store: BlobStore, start: int, end: int | None
) -> None:
    data = os.urandom(3 * MiB + 100)
    digest = put(store, data)
    pieces = list(store.read(digest, start, end, piece=MiB))
    assert b"".join(pieces) == data[start:end]
    assert [len(p) for p in pieces[:-1]] == [MiB] * (len(pieces) - 1)
    assert 0 < len(pieces[-1]) <= MiB


def test_ranged_reads_of_the_empty_blob(store: BlobStore) -> None:
    digest = put(store, b"")
    for start, end in [(0, None), (0, 0), (0, 10), (3, None)]:
        assert read_all(store, digest, start, end) == b"", (start, end)


@pytest.mark.parametrize(("start", "end"), [(0, None), (5, 10), (3, 3)])
def test_reading_an_absent_blob_raises(store: BlobStore, start: int, end: int | None) -> None:
    with pytest.raises(FileNotFoundError):
        read_all(store, sha(b"never stored"), start, end)


# -- commit, abort, staging ------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, BIG])
def test_committing_a_present_digest_keeps_one_object(blob_backend: Backend, size: int) -> None:
    data = os.urandom(size)
    digest = put(blob_backend.store, data)
    assert put(blob_backend.store, data) == digest
    [name] = blob_backend.contents()
    assert name.endswith(blob_key(digest))
    assert read_all(blob_backend.store, digest) == data
    assert blob_backend.store.clean_staging(timedelta(0)) == 0


@pytest.mark.parametrize("size", SIZES)
def test_abort_leaves_nothing(blob_backend: Backend, size: int) -> None:
    writer = blob_backend.store.begin(size)
    for part in chunks(os.urandom(size)):
        writer.write(part)
    writer.abort()
    assert blob_backend.contents() == set()
    assert list(blob_backend.store.digests()) == []
    assert blob_backend.store.clean_staging(timedelta(0)) == 0


def test_abort_twice_and_after_commit_is_harmless(blob_backend: Backend) -> None:
    writer = blob_backend.store.begin()
    writer.write(b"x")
    writer.abort()
    writer.abort()
    writer = blob_backend.store.begin()
    writer.write(b"y")
    writer.commit(sha(b"y"))
    writer.abort()
    assert read_all(blob_backend.store, sha(b"y")) == b"y"
    assert len(blob_backend.contents()) == 1


@pytest.mark.parametrize("size", [1, BIG])
def test_uncommitted_bytes_are_never_visible(blob_backend: Backend, size: int) -> None:
    store = blob_backend.store
    data = os.urandom(size)
    digest = sha(data)
    writer = store.begin()
    for part in chunks(data):
        writer.write(part)
    assert not store.exists(digest)
    assert store.size(digest) is None
    assert list(store.digests()) == []
    with pytest.raises(FileNotFoundError):
        read_all(store, digest)
    writer.abort()
    assert not store.exists(digest)
    assert blob_backend.contents() == set()


def test_delete_is_idempotent(blob_backend: Backend) -> None:
    store = blob_backend.store
    absent = sha(b"absent")
    store.delete(absent)
    digest = put(store, b"doomed")
    keep = put(store, b"kept")
    store.delete(digest)
    store.delete(digest)
    assert not store.exists(digest)
    assert read_all(store, keep) == b"kept"
    assert {digest for digest, _ in store.digests()} == {keep}


def test_digests_lists_exactly_the_committed_blobs(store: BlobStore) -> None:
    before = time.time()
    committed = {put(store, os.urandom(size)) for size in (0, 1, 10, 300)}
    pending = store.begin()
    pending.write(b"pending")
    aborted = store.begin()
    aborted.write(b"aborted")
    aborted.abort()
    listed = list(store.digests())
    pending.abort()
    assert sorted(digest for digest, _ in listed) == sorted(committed)
    for _, modified in listed:
        assert before - 5 <= modified <= time.time() + 5


def test_clean_staging_removes_only_stale_staging(blob_backend: Backend) -> None:
    store = blob_backend.store
    data = os.urandom(BIG)
    kept = put(store, data)
    abandoned = store.begin()
    for part in chunks(os.urandom(BIG)):
        abandoned.write(part)
    held = blob_backend.contents()
    assert len(held) == 2  # the blob, and the abandoned writer's staging file or upload
    assert store.clean_staging(timedelta(days=365)) == 0
    assert blob_backend.contents() == held
    time.sleep(1.1)  # S3 stamps objects and uploads to the second
    assert store.clean_staging(timedelta(0)) == 1
    assert len(blob_backend.contents()) == 1
    assert store.clean_staging(timedelta(0)) == 0
    assert read_all(store, kept) == data
    abandoned.abort()
    assert [digest for digest, _ in store.digests()] == [kept]


def test_clean_staging_spares_a_writer_still_writing(store: BlobStore) -> None:
    first, second = os.urandom(BIG), os.urandom(8 * MiB)
    writer = store.begin()
    for part in chunks(first):
        writer.write(part)
    time.sleep(2.0)
    writer.write(second)  # S3: one more part now; the upload itself began 2 s ago
    assert store.clean_staging(timedelta(seconds=1.5)) == 0
    digest = sha(first + second)
    writer.commit(digest)
    assert read_all(store, digest) == first + second


# -- hostile digests -------------------------------------------------------------------------

HEX = "0123456789abcdef" * 4
HOSTILE: list[Any] = [
    HEX.upper(),
    HEX[:-1] + "A",
    HEX[:63],
    HEX + "0",
    "",
    "a",
    HEX * 100,
    "../" + HEX[3:],
    "..%2f" + HEX[5:],
    "..%2F" + HEX[5:],
    "%2e%2e%2f" + HEX[9:],
    "%2e%2e/" + HEX[7:],
    "%252e%252e%252f" + HEX[15:],
    "..%c0%af" + HEX[8:],
    "..%ef%bc%8f" + HEX[11:],
    "..\\" + HEX[3:],
    "..%5c" + HEX[5:],
    "\uff0e\uff0e\uff0f" + HEX[3:],  # fullwidth ../
    "/etc/passwd",
    "/" + HEX[1:],
    "\\" + HEX[1:],
    "C:\\" + HEX[3:],
    "//" + HEX[2:],
    HEX[:2] + "/" + HEX[3:],
    HEX[:2] + "/" + HEX[2:4] + "/" + HEX,
    HEX + "/",
    HEX + "/../" + HEX,
    "./" + HEX[2:],
    "~/" + HEX[2:],
    HEX[:63] + "\x00",
    "\x00" + HEX[1:],
    HEX + "\x00",
    HEX + "\n",
    "\n" + HEX,
    HEX + "\r",
    " " + HEX[1:],
    HEX[:63] + " ",
    HEX[:63] + "\t",
    "\u0661" * 64,  # ARABIC-INDIC DIGIT ONE
    "\uff10" * 64,  # FULLWIDTH DIGIT ZERO
    "\U0001d7ce" * 64,  # MATHEMATICAL BOLD DIGIT ZERO
    "\u0660" * 63 + "0",
    "\uff41" * 64,  # FULLWIDTH LATIN SMALL A
    "\u0430" * 64,  # CYRILLIC SMALL A
    "\u0251" * 64,  # LATIN SMALL ALPHA
    HEX[:63] + "\u00e9",
    HEX[:63] + "a\u0301",
    "\u202e" + HEX[1:],
    "sha256:" + HEX[7:],
    "0x" + HEX[2:],
    "%61" * 21 + "a",
    "%00" + HEX[3:],
    HEX[:32] + "%2f" + HEX[35:],
    "*" * 64,
    "." * 64,
    None,
    HEX.encode(),
    int(HEX, 16),
]


def test_the_hostile_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 40
    assert len({repr(item) for item in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize("digest", HOSTILE, ids=range(len(HOSTILE)))
def test_blob_key_rejects(digest: Any) -> None:
    with pytest.raises(InvalidDigestError):
        blob_key(digest)


def _commit(store: BlobStore, digest: str) -> None:
    writer = store.begin()
    writer.write(b"attack")
    try:
        writer.commit(digest)
    finally:
        writer.abort()


OPERATIONS: dict[str, Callable[[BlobStore, str], object]] = {
    "read": lambda store, digest: list(store.read(digest)),
    "read-range": lambda store, digest: list(store.read(digest, 1, 3)),
    "exists": lambda store, digest: store.exists(digest),
    "size": lambda store, digest: store.size(digest),
    "delete": lambda store, digest: store.delete(digest),
    "commit": _commit,
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_hostile_digests_never_reach_storage(blob_backend: Backend, operation: str) -> None:
    act = OPERATIONS[operation]
    world = blob_backend.world()
    sent = blob_backend.requests() if blob_backend.requests else 0
    let_through: list[tuple[Any, str]] = []
    for digest in HOSTILE:
        try:
            act(blob_backend.store, digest)
        except InvalidDigestError:
            continue
        except Exception as err:  # reached storage, which then complained
            let_through.append((digest, repr(err)))
        else:
            let_through.append((digest, "accepted"))
    assert let_through == []
    assert blob_backend.world() == world
    if blob_backend.requests:  # a small writer sends nothing before commit: no request at all
        assert blob_backend.requests() == sent
        blob_backend.store.exists(HEX)
        assert blob_backend.requests() == sent + 1  # the counter does count
