"""SDK downloads from a real `cairn server` over TCP, where large bodies skip httpx."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client import _download
from cairn.client._errors import NetworkError
from cairn.client._hasher import BackgroundHasher
from cairn.client._network import RawBody
from cairn.client._transfer import DigestMismatchError
from tests import servers
from tests.reliability.client import PASSWORD, admin_key

MIB = 1 << 20
LARGE = os.urandom(3 * _download.PIECE + 12_345)  # fetched alone: over BATCH_FILE_BYTES


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


@pytest.fixture
def raw_receptions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The starting offset of every body the SDK received from the socket itself."""
    seen: list[int] = []
    real = _download._Fetcher._write_raw

    def spying(self: Any, body: Any, out: Any, hasher: Any, received: int, size: int) -> int:
        seen.append(received)
        return real(self, body, out, hasher, received, size)

    monkeypatch.setattr(_download._Fetcher, "_write_raw", spying)
    return seen


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
    data = os.urandom(3 * _download.RING * _download.PIECE + 777)  # every buffer used thrice
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
def refilled_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes of every batch the SDK received from the socket itself, one entry each."""
    seen: list[int] = []
    real = _download._refilled

    def spying(body: Any) -> Iterator[memoryview]:
        index = len(seen)
        seen.append(0)  # batches run on several threads at once
        for piece in real(body):
            seen[index] += len(piece)
            yield piece

    monkeypatch.setattr(_download, "_refilled", spying)
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


def test_small_files_come_from_the_socket_in_batches_intact(
    api: Any, tmp_path: Path, refilled_batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = small_files(120)
    version = log_small(api, tmp_path, "small-intact", data)
    alone: list[str] = []
    real = _download._Fetcher._fetch_alone

    def spying(self: Any, blob: Any, pending: list[Path]) -> None:
        alone.append(blob.sha256)
        real(self, blob, pending)

    monkeypatch.setattr(_download._Fetcher, "_fetch_alone", spying)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == data
    assert alone == []
    distinct = {hashlib.sha256(d).hexdigest(): len(d) for d in data.values()}
    headers = sum(len(f"{sha} {size}\n") for sha, size in distinct.items())
    assert sum(refilled_batches) == sum(distinct.values()) + headers
    assert len(refilled_batches) >= 2  # several batches, each on its own connection


def test_a_batch_cut_short_on_the_socket_leaves_the_rest_to_single_fetches(
    api: Any, tmp_path: Path, refilled_batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = small_files(60)
    version = log_small(api, tmp_path, "small-cut", data)
    real = RawBody.receive_into
    first: list[RawBody] = []
    cut = {"left": 300_001}

    def cutting(self: RawBody, view: memoryview) -> int:
        first[:] = first or [self]
        if self is not first[0]:
            return real(self, view)
        if cut["left"] <= 0:  # the first body received ends there, as if the peer closed
            raise httpx.RemoteProtocolError("peer closed connection (injected)")
        received = real(self, view[: cut["left"]])
        cut["left"] -= received
        return received

    monkeypatch.setattr(RawBody, "receive_into", cutting)
    root = version.download(tmp_path / "out", cache=False, progress=False)
    assert files(root) == data
    assert 300_001 in refilled_batches  # one batch ended there; the files after its cut
    assert not (root / _download.PARTIAL_DIR).exists()  # came alone, and nothing is left


def test_damaged_bytes_in_a_batch_are_refused_and_installed_nowhere(
    api: Any, data_dir: Path, tmp_path: Path, refilled_batches: list[int]
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
    assert refilled_batches
