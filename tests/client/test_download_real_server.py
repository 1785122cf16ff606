"""SDK downloads from a real `cairn server` over TCP, where large bodies skip httpx."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client import _download, _receiving
from cairn.client._errors import NetworkError, NotFoundError
from cairn.client._hasher import BackgroundHasher
from cairn.client._network import RawBody
from cairn.client._transfer import DigestMismatchError
from tests import servers
from tests.reliability.client import PASSWORD, admin_key

MIB = 1 << 20
LARGE = os.urandom(3 * _receiving.PIECE + 12_345)  # fetched alone: over BATCH_FILE_BYTES


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "data"


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[servers.Server]:
    with servers.running(data_dir, {"CAIRN_ADMIN_PASSWORD": PASSWORD}) as running:
        yield running


@pytest.fixture
def api(server: servers.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(tmp_path / "cache"))
    with cairn.Api(base_url=server.base, api_key=admin_key(server.base)) as made:
        yield made


def spy_on(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """The starting offset of every body ``_download`` hands to ``_receiving.<name>`` with
    bytes still to come."""
    seen: list[int] = []
    real = getattr(_receiving, name)

    def spying(body: Any, out: Any, hasher: Any, received: int, size: int, *rest: Any) -> int:
        if received < size:
            seen.append(received)
        return int(real(body, out, hasher, received, size, *rest))

    monkeypatch.setattr(_download, name, spying)
    return seen


@pytest.fixture
def raw_receptions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The starting offset of every body the SDK moved from the socket into its file inside
    the kernel (splice)."""
    return spy_on(monkeypatch, "splice_into_file")


@pytest.fixture
def ring_receptions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The same for bodies received from the socket into the SDK's own buffers."""
    return spy_on(monkeypatch, "receive_into_ring")


def log(api: Any, tmp_path: Path, name: str, data: bytes = LARGE) -> Any:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "weights.bin").write_bytes(data)
    (source / "config.json").write_text('{"layers": 2}')
    art = cairn.Artifact(name, type="model")
    art.add_dir(source)
    return api.log_artifact(art, "admin/real", progress=False)


def blob_file(data_dir: Path, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    found = [p for p in data_dir.rglob(digest) if p.is_file()]
    assert len(found) == 1, found
    return found[0]


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_large_file_comes_from_the_socket_intact(
    api: Any, tmp_path: Path, raw_receptions: list[int]
) -> None:
    version = log(api, tmp_path, "intact")
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == {"weights.bin": LARGE, "config.json": b'{"layers": 2}'}
    assert raw_receptions == [0]


def test_a_large_file_moves_from_socket_to_file_without_passing_through_the_sdk(
    api: Any, tmp_path: Path, ring_receptions: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = log(api, tmp_path, "spliced")
    moved: list[int] = []
    real = os.splice

    def counting(src: int, dst: int, count: int, *rest: Any, **named: Any) -> int:
        n = real(src, dst, count, *rest, **named)
        moved.append(n)
        return n

    monkeypatch.setattr(os, "splice", counting)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == {"weights.bin": LARGE, "config.json": b'{"layers": 2}'}
    assert sum(moved) == 2 * len(LARGE)  # socket -> pipe, then pipe -> file: every byte
    assert ring_receptions == []


def refusing(*args: Any, **named: Any) -> int:
    raise OSError(errno.EINVAL, "Invalid argument")


def test_a_file_system_that_refuses_splice_gets_the_bytes_written_nothing_lost(
    api: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = log(api, tmp_path, "written")
    real = os.splice

    def only_into_pipes(src: int, dst: int, count: int, *rest: Any, **named: Any) -> int:
        if stat.S_ISREG(os.fstat(dst).st_mode):
            return refusing()
        return real(src, dst, count, *rest, **named)

    monkeypatch.setattr(os, "splice", only_into_pipes)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == {"weights.bin": LARGE, "config.json": b'{"layers": 2}'}


@pytest.mark.parametrize("how", ["socket refuses splice", "no splice on this system"])
def test_without_splice_the_body_comes_through_the_ring_from_its_start(
    how: str,
    api: Any,
    tmp_path: Path,
    ring_receptions: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = log(api, tmp_path, how.replace(" ", "-"))
    if how == "no splice on this system":
        monkeypatch.delattr(os, "splice")
    else:
        monkeypatch.setattr(os, "splice", refusing)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == {"weights.bin": LARGE, "config.json": b'{"layers": 2}'}
    assert ring_receptions == [0]


def test_an_interrupted_large_file_resumes_from_the_socket(
    api: Any, tmp_path: Path, raw_receptions: list[int]
) -> None:
    version = log(api, tmp_path, "resumed")
    root = tmp_path / "out"
    partial = root / _download.PARTIAL_DIR / hashlib.sha256(LARGE).hexdigest()
    partial.parent.mkdir(parents=True)
    partial.write_bytes(LARGE[: 5 * MIB + 3])
    version.download(root, cache=False, progress=False)
    assert files(root) == {"weights.bin": LARGE, "config.json": b'{"layers": 2}'}
    assert raw_receptions == [5 * MIB + 3]


def logged_with_its_blob(api: Any, data_dir: Path, tmp_path: Path, name: str) -> tuple[Any, Path]:
    """A version with a large file of new content, and the server's file of that content."""
    data = os.urandom(len(LARGE))
    return log(api, tmp_path, name, data), blob_file(data_dir, data)


def test_damaged_stored_bytes_raise_and_leave_nothing(
    api: Any, data_dir: Path, tmp_path: Path, raw_receptions: list[int]
) -> None:
    version, blob = logged_with_its_blob(api, data_dir, tmp_path, "damaged")
    data = blob.read_bytes()
    with blob.open("r+b") as handle:
        handle.seek(len(data) // 2)
        handle.write(bytes([data[len(data) // 2] ^ 0xFF]))
    root = tmp_path / "out"
    with pytest.raises(DigestMismatchError):
        version.download(root, cache=False, progress=False)
    assert "weights.bin" not in files(root)
    assert raw_receptions == [0]


def test_stored_bytes_cut_short_fail_at_once_and_keep_what_arrived_for_resuming(
    api: Any, data_dir: Path, tmp_path: Path, raw_receptions: list[int]
) -> None:
    version, blob = logged_with_its_blob(api, data_dir, tmp_path, "short")
    data = blob.read_bytes()
    os.truncate(blob, len(data) - MIB)  # the server then closes the connection early
    root = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(NetworkError, match="peer closed connection"):
        version.download(root, cache=False, progress=False)
    assert time.monotonic() - started < 10  # not a wait for the read timeout
    partial = root / _download.PARTIAL_DIR / hashlib.sha256(data).hexdigest()
    assert partial.read_bytes() == data[: len(data) - MIB]
    assert "weights.bin" not in files(root)
    assert raw_receptions == [0]


class SlowDigest:
    """sha256, taking its time over every update (buffers wait longer to be handed back)."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest

    def update(self, data: Any) -> None:
        time.sleep(0.05)
        self.digest.update(data)

    def hexdigest(self) -> str:
        return str(self.digest.hexdigest())


def test_a_slow_hasher_never_sees_a_buffer_refilled_under_it(
    api: Any, tmp_path: Path, raw_receptions: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(3 * _receiving.RING * _receiving.PIECE + 777)  # every buffer used thrice
    version = log(api, tmp_path, "slow-hashing", data)
    monkeypatch.setattr(
        _download,
        "hasher_for",
        lambda remaining, digest=None: BackgroundHasher(SlowDigest(digest or hashlib.sha256())),  # type: ignore[arg-type]
    )
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root)["weights.bin"] == data
    assert raw_receptions == [0]


# -- small files: one blob stream per batch, received into one refilled buffer ---------------


@pytest.fixture
def refilled_batches(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The bytes of every batch the SDK received from the socket itself, a counter each
    (batches run on several threads at once)."""
    seen: list[list[int]] = []
    real = _receiving.refilled

    def spying(body: Any) -> Iterator[memoryview]:
        counter = [0]
        seen.append(counter)
        for piece in real(body):
            counter[0] += len(piece)
            yield piece

    monkeypatch.setattr(_download, "refilled", spying)
    return seen


@pytest.fixture
def fetched_alone(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sha256 of every blob the SDK fetched with a request of its own."""
    seen: list[str] = []
    real = _download._Fetcher._fetch_alone

    def spying(self: Any, blob: Any, pending: list[Path]) -> None:
        seen.append(blob.sha256)
        real(self, blob, pending)

    monkeypatch.setattr(_download._Fetcher, "_fetch_alone", spying)
    return seen


@pytest.fixture
def installed_from_batches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sha256 of every record a batch verified and installed."""
    seen: list[str] = []
    real = _download._BatchSink.end

    def spying(self: Any) -> None:
        real(self)
        seen.append(self.sha256)

    monkeypatch.setattr(_download._BatchSink, "end", spying)
    return seen


def log_small(api: Any, tmp_path: Path, name: str, data: dict[str, bytes]) -> Any:
    source = tmp_path / "small-src"
    for path, content in data.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(content)
    art = cairn.Artifact(name, type="dataset")
    art.add_dir(source)
    return api.log_artifact(art, "admin/real", progress=False)


def small_files(count: int) -> dict[str, bytes]:
    """Files whose records straddle the receive buffer's edges at many offsets."""
    made = {f"part/{i:03d}.bin": os.urandom(i * 9_973 % (3 * MIB // 2) + i) for i in range(count)}
    return made | {"empty": b"", "twin.bin": made["part/001.bin"]}


def digests(data: dict[str, bytes]) -> dict[str, int]:
    return {hashlib.sha256(d).hexdigest(): len(d) for d in data.values()}


def test_small_files_come_from_the_socket_in_batches_intact(
    api: Any,
    tmp_path: Path,
    refilled_batches: list[list[int]],
    fetched_alone: list[str],
    installed_from_batches: list[str],
) -> None:
    data = small_files(120)
    version = log_small(api, tmp_path, "small-intact", data)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == data
    assert fetched_alone == []
    distinct = digests(data)
    assert sorted(installed_from_batches) == sorted(distinct)
    headers = sum(len(f"{sha} {size}\n") for sha, size in distinct.items())
    assert sum(c[0] for c in refilled_batches) == sum(distinct.values()) + headers
    assert len(refilled_batches) >= 2  # several batches, each on its own connection


CUT_AT = 2 * MIB + 1


def test_a_batch_cut_short_on_the_socket_keeps_what_came_and_fetches_the_rest_alone(
    api: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refilled_batches: list[list[int]],
    fetched_alone: list[str],
    installed_from_batches: list[str],
) -> None:
    data = small_files(60)
    version = log_small(api, tmp_path, "small-cut", data)
    real = RawBody.receive_into
    chosen: list[RawBody] = []
    lock = threading.Lock()
    cut = {"left": CUT_AT}

    def cutting(self: RawBody, view: memoryview) -> int:
        with lock:  # the first body long enough to be cut there is cut there
            if not chosen and self._left > CUT_AT:
                chosen.append(self)
        if self not in chosen:
            return real(self, view)
        if cut["left"] <= 0:  # as if the peer closed the connection
            raise httpx.RemoteProtocolError("peer closed connection (injected)")
        received = real(self, view[: cut["left"]])
        cut["left"] -= received
        return received

    monkeypatch.setattr(RawBody, "receive_into", cutting)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == data
    assert CUT_AT in [c[0] for c in refilled_batches]
    distinct = digests(data)
    assert fetched_alone  # the records after the cut
    assert sorted(fetched_alone + installed_from_batches) == sorted(distinct)  # each once
    assert not (root / _download.PARTIAL_DIR).exists()  # and nothing is left behind


def test_damaged_bytes_in_a_batch_are_refused_and_installed_nowhere(
    api: Any,
    data_dir: Path,
    tmp_path: Path,
    refilled_batches: list[list[int]],
    fetched_alone: list[str],
    installed_from_batches: list[str],
) -> None:
    data = small_files(40)
    victim = os.urandom(200_000)
    data["victim.bin"] = victim
    version = log_small(api, tmp_path, "small-damaged", data)
    blob = blob_file(data_dir, victim)
    with blob.open("r+b") as handle:
        handle.seek(100_000)
        handle.write(bytes([victim[100_000] ^ 0xFF]))
    root = tmp_path / "out"
    with pytest.raises(DigestMismatchError, match=r"victim\.bin"):
        version.download(root, cache=False, progress=False)
    assert "victim.bin" not in files(root)
    sha = hashlib.sha256(victim).hexdigest()
    assert sha not in installed_from_batches  # the batch refused it
    assert sha in fetched_alone  # and the single fetch, which names the file, refused it too
    assert refilled_batches


def test_a_batch_refused_by_the_server_leaves_its_files_to_single_fetches(
    api: Any,
    data_dir: Path,
    tmp_path: Path,
    refilled_batches: list[list[int]],
    fetched_alone: list[str],
) -> None:
    data = small_files(10)
    gone = os.urandom(50_000)
    data["gone.bin"] = gone
    version = log_small(api, tmp_path, "small-gone", data)
    blob_file(data_dir, gone).unlink()  # the batch then answers 404 before its first byte
    root = tmp_path / "out"
    with pytest.raises(NotFoundError, match=r"gone\.bin"):
        version.download(root, cache=False, progress=False)
    assert hashlib.sha256(gone).hexdigest() in fetched_alone
    assert refilled_batches == []  # an error answer is read through h11, not the socket
    assert "gone.bin" not in files(root)
