"""The download pipeline: hashing on its own thread, and the cache's copy fallback."""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn._filewriter import FileWriter
from cairn.client import _download, _hasher
from cairn.client._cache import BlobCache
from cairn.client._hasher import BackgroundHasher, FileSpan, InlineHasher, hasher_for
from cairn.client._progress import TransferProgress
from cairn.client._receiving import receive_into_ring
from cairn.client._transfer import DigestMismatchError, Stopped, hash_file
from tests.client.artifacts_support import MIB, file_gets, record, sha256, tree, version_json, write
from tests.client.conftest import mock_client


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


def hasher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cairn-sha256"]


# -- the hashers ---------------------------------------------------------------------------


def test_the_background_hasher_matches_hashlib_and_ends_its_thread() -> None:
    pieces = [os.urandom(n) for n in (1, 65_536, 3 * MIB + 7, 0, 12_345)]
    with BackgroundHasher() as hasher:
        for start in range(0, len(pieces), 2):
            hasher.feed(pieces[start : start + 2])
        assert hasher.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert hasher_threads() == []


def test_the_background_hasher_continues_a_digest() -> None:
    digest = hashlib.sha256(b"resumed-")
    with BackgroundHasher(digest) as hasher:
        hasher.feed([b"tail"])
        assert hasher.hexdigest() == hashlib.sha256(b"resumed-tail").hexdigest()


@pytest.mark.parametrize("hasher", [BackgroundHasher, InlineHasher])
def test_bytes_already_in_a_file_are_read_back_and_hashed_in_order(
    hasher: type[BackgroundHasher | InlineHasher], tmp_path: Path
) -> None:
    data = os.urandom(2 * _hasher.SPAN_BUFFER + 99)
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        with hasher() as made:
            made.feed([b"head", FileSpan(fd, 5, _hasher.SPAN_BUFFER + 1)])
            made.feed([FileSpan(fd, _hasher.SPAN_BUFFER + 6, len(data) - _hasher.SPAN_BUFFER - 6)])
            expected = b"head" + data[5:]
            assert made.hexdigest() == hashlib.sha256(expected).hexdigest()
    finally:
        os.close(fd)


def test_a_span_past_the_end_of_its_file_is_a_hashing_failure(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"short")
    fd = os.open(path, os.O_RDONLY)
    try:
        with BackgroundHasher() as made:
            made.feed([FileSpan(fd, 0, 10)])
            with pytest.raises(RuntimeError, match="ended 5 bytes early"):
                made.hexdigest()
    finally:
        os.close(fd)


class Exploding:
    """A digest that fails on its ``fail_at``-th update."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at = fail_at
        self.updates = 0

    def update(self, data: bytes) -> None:
        self.updates += 1
        if self.updates == self.fail_at:
            raise MemoryError("no memory for hashing")

    def hexdigest(self) -> str:
        return "0" * 64


def test_a_hasher_failure_is_raised_to_the_feeder_and_never_blocks_it() -> None:
    def feed_then_digest() -> str:
        with BackgroundHasher(Exploding(fail_at=2)) as hasher:  # type: ignore[arg-type]
            for _ in range(10 * _hasher.QUEUE_DEPTH):  # more than the queue holds: no hang
                hasher.feed([b"x"])
            return hasher.hexdigest()

    with pytest.raises(RuntimeError, match="hashing the download failed") as raised:
        feed_then_digest()
    assert isinstance(raised.value.__cause__, MemoryError)
    assert hasher_threads() == []


class Recording:
    """A digest that records the pieces it was given."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def update(self, data: bytes) -> None:
        self.pieces.append(bytes(data))

    def hexdigest(self) -> str:
        return "0" * 64


def test_each_batch_is_handed_back_once_hashed_in_order() -> None:
    digest = Recording()
    handed_back: list[tuple[int, int]] = []  # (batch, pieces hashed by then)
    with BackgroundHasher(digest) as hasher:  # type: ignore[arg-type]
        for index in range(3 * _hasher.QUEUE_DEPTH):
            done = functools.partial(lambda i: handed_back.append((i, len(digest.pieces))), index)
            hasher.feed([b"%d" % index], done)
        hasher.hexdigest()
    assert handed_back == [(i, i + 1) for i in range(3 * _hasher.QUEUE_DEPTH)]


def test_after_a_hasher_failure_every_batch_is_still_handed_back() -> None:
    fed: list[int] = []
    handed_back: list[int] = []

    def feed_until_it_fails() -> None:
        with BackgroundHasher(Exploding(fail_at=2)) as hasher:  # type: ignore[arg-type]
            for index in range(10 * _hasher.QUEUE_DEPTH):
                hasher.feed([b"x"], functools.partial(handed_back.append, index))
                fed.append(index)

    with pytest.raises(RuntimeError, match="hashing the download failed"):
        feed_until_it_fails()
    assert len(fed) >= 2
    assert handed_back == fed  # none kept: a receiver waiting for its buffers goes on
    assert hasher_threads() == []


def test_the_inline_hasher_hands_a_batch_back_after_hashing_it() -> None:
    digest = Recording()
    seen: list[int] = []
    InlineHasher(digest).feed([b"a", b"b"], lambda: seen.append(len(digest.pieces)))  # type: ignore[arg-type]
    assert seen == [2]


def test_a_failure_in_the_writer_still_ends_the_hasher_thread() -> None:
    def write_fails() -> None:
        with BackgroundHasher() as hasher:
            hasher.feed([b"some bytes"])
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_fails()
    assert hasher_threads() == []


def test_small_remainders_are_hashed_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(hasher_for(_hasher.BACKGROUND_FROM), InlineHasher)
    with hasher_for(_hasher.BACKGROUND_FROM + 1) as background:
        assert isinstance(background, BackgroundHasher)
    inline = hasher_for(10, hashlib.sha256(b"a"))
    inline.feed([b"b", b"c"])
    assert inline.hexdigest() == hashlib.sha256(b"abc").hexdigest()


# -- downloads that hash in the background -------------------------------------------------


@pytest.fixture
def background_from_one_mib(monkeypatch: pytest.MonkeyPatch) -> list[type[Any]]:
    """Files over 1 MiB hash in the background; the hasher types used, in order."""
    used: list[type[Any]] = []
    real = _hasher.hasher_for

    def spying(remaining: int, digest: Any = None) -> BackgroundHasher | InlineHasher:
        hasher = real(remaining, digest)
        used.append(type(hasher))
        return hasher

    monkeypatch.setattr(_hasher, "BACKGROUND_FROM", MIB)
    monkeypatch.setattr(_download, "hasher_for", spying)
    return used


def test_a_large_file_is_hashed_off_the_receiving_thread(
    api: cairn.Api, tmp_path: Path, background_from_one_mib: list[type[Any]]
) -> None:
    data = os.urandom(4 * MIB + 321)
    api.create_team("team")
    art = cairn.Artifact("big", type="model")
    art.add_file(write(tmp_path / "src" / "weights.bin", data))
    art.add_file(write(tmp_path / "src" / "small.txt", "small"))
    version = api.log_artifact(art, "team/proj")
    root = version.download(tmp_path / "out", cache=False)
    assert tree(root) == {"weights.bin": data, "small.txt": b"small"}
    assert sorted(t.__name__ for t in background_from_one_mib) == [
        "BackgroundHasher",
        "InlineHasher",
    ]
    assert hasher_threads() == []


def test_a_resumed_large_file_continues_the_digest_in_the_background(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, background_from_one_mib: list[Any]
) -> None:
    data = os.urandom(5 * MIB + 99)
    api.create_team("team")
    art = cairn.Artifact("big", type="model")
    art.add_file(write(tmp_path / "src" / "weights.bin", data))
    version = api.log_artifact(art, "team/proj")
    root = tmp_path / "out"
    write(root / _download.PARTIAL_DIR / sha256(data), data[: MIB + 5])
    requests = record(app_client)
    version.download(root, cache=False)
    assert [r.headers.get("range") for r in file_gets(requests)] == [f"bytes={MIB + 5}-"]
    assert background_from_one_mib == [BackgroundHasher]
    assert (root / "weights.bin").read_bytes() == data


def test_wrong_large_bytes_raise_and_leave_nothing(
    tmp_path: Path, background_from_one_mib: list[Any]
) -> None:
    good = os.urandom(3 * MIB)
    bad = bytearray(good)
    bad[2 * MIB] ^= 0xFF
    files = [{"path": "w.bin", "sha256": sha256(good), "size": len(good), "md5": "0" * 32}]

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/resolve":
            return httpx.Response(200, json={"kind": "logged", "logged": version_json(files)})
        return httpx.Response(200, content=bytes(bad))

    root = tmp_path / "root"
    with (
        cairn.Api(client=mock_client(serve), api_key="k", organization="o") as api,
        pytest.raises(DigestMismatchError),
    ):
        api.artifact("team/proj/art:v0").download(root, cache=False)
    assert tree(root) == {}
    assert background_from_one_mib == [BackgroundHasher]
    assert hasher_threads() == []


# -- bodies received from the socket ------------------------------------------------------


class Trickle:
    """A body arriving 1 KiB at a time; sets ``stop`` after ``stop_after`` receives."""

    def __init__(self, stop: threading.Event, stop_after: int) -> None:
        self.stop = stop
        self.stop_after = stop_after
        self.receives = 0

    def receive_into(self, view: memoryview) -> int:
        self.receives += 1
        if self.receives == self.stop_after:
            self.stop.set()
        n = min(1024, len(view))
        view[:n] = b"x" * n
        return n


def test_a_body_from_the_socket_stops_within_a_receive_and_counts_each_on_the_bar(
    tmp_path: Path,
) -> None:
    stop = threading.Event()
    body = Trickle(stop, stop_after=3)
    out = FileWriter(tmp_path / "partial")
    advanced: list[int] = []
    bar = TransferProgress("t", total_bytes=1 << 30, total_files=1, enabled=False)
    bar.advance = advanced.append  # type: ignore[method-assign,assignment]
    with BackgroundHasher() as hasher, pytest.raises(Stopped):
        receive_into_ring(body, out, hasher, 0, 1 << 30, stop, bar)  # type: ignore[arg-type]
    assert body.receives == 3  # not the ~4,000 a 4 MiB buffer would take
    assert advanced == [1024, 1024, 1024]  # each receive counted as it is written
    out.finish()
    out.close()
    assert (tmp_path / "partial").read_bytes() == b"x" * 3 * 1024  # kept for resuming


# -- the cache holds copies --------------------------------------------------------------


def test_downloads_fill_and_use_the_cache_with_copies(
    api: cairn.Api,
    tmp_path: Path,
    app_client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(2 * MIB)
    api.create_team("team")
    art = cairn.Artifact("m", type="model")
    art.add_file(write(tmp_path / "src" / "w.bin", data))
    version = api.log_artifact(art, "team/proj")
    requests = record(app_client)
    first = version.download(tmp_path / "one")
    cached = BlobCache().path(sha256(data))
    assert hash_file(cached) == (sha256(data), len(data))
    assert cached.stat().st_ino != (first / "w.bin").stat().st_ino
    second = version.download(tmp_path / "two")
    assert len(file_gets(requests)) == 1
    assert (second / "w.bin").read_bytes() == data
    (second / "w.bin").write_bytes(b"edited")  # a copy: editing it leaves the cache intact
    assert hash_file(cached) == (sha256(data), len(data))


def test_a_download_reserves_the_space_of_the_bytes_still_to_come(
    api: cairn.Api, tmp_path: Path, reserved_space: list[tuple[int, int]]
) -> None:
    calls = reserved_space
    data = os.urandom(9 * MIB + 17)  # more than one write, fresh or resumed
    api.create_team("team")
    art = cairn.Artifact("big", type="model")
    art.add_file(write(tmp_path / "src" / "weights.bin", data))
    version = api.log_artifact(art, "team/proj")
    calls.clear()
    fresh = version.download(tmp_path / "fresh", cache=False)
    assert calls, "nothing was reserved"
    assert calls[0][0] > 0, "space was reserved before the first bytes"
    assert calls[-1][0] + calls[-1][1] == len(data)  # never past the file's end
    resumed = tmp_path / "resumed"
    write(resumed / _download.PARTIAL_DIR / sha256(data), data[: MIB + 5])
    calls.clear()
    version.download(resumed, cache=False)
    assert calls
    assert calls[0][0] > MIB + 5
    assert calls[-1][0] + calls[-1][1] == len(data)
    assert (fresh / "weights.bin").read_bytes() == (resumed / "weights.bin").read_bytes() == data
