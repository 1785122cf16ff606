"""Batch downloads in the SDK: small files many to a request, read from a blob stream strictly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client import _download, _download_plan
from cairn.client._blobstream import MAX_HEADER, MEDIA_TYPE, BlobStreamError, read_stream
from cairn.client._download import PARTIAL_DIR
from cairn.client._download_plan import BATCH_DIGESTS, BATCH_FILE_BYTES, Blob, batches
from cairn.client._errors import NotFoundError
from cairn.client._progress import TransferProgress
from cairn.client._transfer import DigestMismatchError
from tests import servers
from tests.client.artifacts_support import MIB, sha256, tree, version_json
from tests.client.conftest import error, mock_client

ADMIN_PASSWORD = "batch-download-admin-pw"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


def record_bytes(sha: str, data: bytes) -> bytes:
    return f"{sha} {len(data)}\n".encode() + data


def stream_of(*blobs: bytes) -> bytes:
    return b"".join(record_bytes(sha256(b), b) for b in blobs)


# -- the parser, on crafted bytes ----------------------------------------------------------


class Collect:
    """A RecordSink that keeps what it is handed."""

    def __init__(self) -> None:
        self.records: list[tuple[str, int, bytes]] = []
        self.ended = 0
        self.current: list[bytes] = []

    def begin(self, sha256: str, size: int) -> None:
        self.records.append((sha256, size, b""))
        self.current = []

    def data(self, piece: bytes | memoryview) -> None:
        self.current.append(bytes(piece))

    def end(self) -> None:
        sha, size, _ = self.records[-1]
        self.records[-1] = (sha, size, b"".join(self.current))
        self.ended += 1


BLOBS = [b"first", b"", os.urandom(70_000), b"\n\n", b"last"]
EXPECTED = [(sha256(b), len(b)) for b in BLOBS]


@pytest.mark.parametrize("piece", [1, 2, 7, 64, 86, 87, 4096, 1 << 20])
def test_records_are_read_whatever_the_pieces(piece: int) -> None:
    body = stream_of(*BLOBS)
    sink = Collect()
    read_stream((body[i : i + piece] for i in range(0, len(body), piece)), EXPECTED, sink)
    assert sink.records == [(sha256(b), len(b), b) for b in BLOBS]
    assert sink.ended == len(BLOBS)


@pytest.mark.parametrize("piece", [1, 7, 86, 87, 4096, 70_001])
def test_records_are_read_from_one_buffer_refilled_for_every_piece(piece: int) -> None:
    body = stream_of(*BLOBS)
    buffer = bytearray(piece)

    def refilled() -> Iterator[memoryview]:
        for i in range(0, len(body), piece):
            chunk = body[i : i + piece]
            buffer[: len(chunk)] = chunk  # what was handed out before is overwritten
            yield memoryview(buffer)[: len(chunk)]
        buffer[:] = bytes(len(buffer))

    sink = Collect()
    read_stream(refilled(), EXPECTED, sink)
    assert sink.records == [(sha256(b), len(b), b) for b in BLOBS]
    assert sink.ended == len(BLOBS)


def test_nothing_asked_nothing_sent() -> None:
    sink = Collect()
    read_stream([], [], sink)
    assert sink.records == []


GOOD_HEAD = f"{sha256(b'first')} 5\n".encode()
MALFORMED = {
    "upper-case digest": GOOD_HEAD.upper(),
    "short digest": GOOD_HEAD[1:],
    "a path as digest": b"../../../../etc/passwd 5\n",
    "leading zero": GOOD_HEAD.replace(b" 5\n", b" 05\n"),
    "negative size": GOOD_HEAD.replace(b" 5\n", b" -5\n"),
    "two spaces": GOOD_HEAD.replace(b" 5\n", b"  5\n"),
    "tab": GOOD_HEAD.replace(b" ", b"\t"),
    "CRLF": GOOD_HEAD.replace(b"\n", b"\r\n"),
    "no line feed, endless": GOOD_HEAD[:-1] + b"5" * 1000,
    "NUL": GOOD_HEAD.replace(b" ", b"\0"),
}


@pytest.mark.parametrize("header", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_headers_are_refused_before_any_byte(header: bytes) -> None:
    sink = Collect()
    with pytest.raises(BlobStreamError):
        read_stream([header + b"first"], [(sha256(b"first"), 5)], sink)
    assert sink.records == []


def test_a_header_longer_than_the_longest_is_refused_without_reading_on() -> None:
    seen = []

    def pieces() -> Iterator[bytes]:
        for _ in range(1000):
            seen.append(1)
            yield b"a"

    with pytest.raises(BlobStreamError):
        read_stream(pieces(), [(sha256(b"first"), 5)], Collect())
    assert len(seen) == MAX_HEADER


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (stream_of(b"b", b"a"), [(sha256(b"a"), 1), (sha256(b"b"), 1)]),  # out of order
        (stream_of(b"a", b"c"), [(sha256(b"a"), 1), (sha256(b"b"), 1)]),  # never asked
        (stream_of(b"a", b"b"), [(sha256(b"a"), 1)]),  # an extra record
        (stream_of(b"a", b"a"), [(sha256(b"a"), 1)]),  # the same record twice
        (stream_of(b"a") + b"\n", [(sha256(b"a"), 1)]),  # trailing bytes
        (f"{sha256(b'ab')} 1\na".encode(), [(sha256(b"ab"), 2)]),  # another size
        (f"{sha256(b'a')} 2\nab".encode(), [(sha256(b"a"), 1)]),  # a longer record
    ],
    ids=["order", "not asked", "extra", "twice", "trailing", "smaller", "larger"],
)
def test_records_other_than_those_asked_are_refused(
    body: bytes, expected: list[tuple[str, int]]
) -> None:
    with pytest.raises(BlobStreamError):
        read_stream([body], expected, Collect())


@pytest.mark.parametrize("cut", [0, 10, 65, len(stream_of(b"first")) - 1])
def test_a_stream_cut_short_is_refused(cut: int) -> None:
    body = stream_of(b"first", b"second")
    sink = Collect()
    with pytest.raises(BlobStreamError):
        read_stream([body[: len(stream_of(b"first")) + cut]], EXPECTED_TWO, sink)
    assert sink.ended <= 1


EXPECTED_TWO = [(sha256(b"first"), 5), (sha256(b"second"), 6)]


def test_the_parser_never_hands_a_record_more_than_its_size() -> None:
    sink = Collect()
    body = stream_of(b"abc") + b"X" * 100
    with pytest.raises(BlobStreamError):
        read_stream([body], [(sha256(b"abc"), 3)], sink)
    assert sink.records == [(sha256(b"abc"), 3, b"abc")]


# -- how blobs are grouped ------------------------------------------------------------------


def blob(size: int, tag: int = 0) -> Blob:
    return Blob(hashlib.sha256(b"%d-%d" % (size, tag)).hexdigest(), size)


def test_large_files_alone_largest_first_small_ones_grouped_in_order() -> None:
    small = [blob(MIB, i) for i in range(100)]
    large = [blob(BATCH_FILE_BYTES + 1), blob(3 * BATCH_FILE_BYTES)]
    alone, groups = batches([large[0], *small[:50], large[1], *small[50:]])
    assert alone == [large[1], large[0]]
    assert [b for g in groups for b in g] == small
    assert len(groups) >= 8, "every transfer worker gets a batch"
    assert all(sum(b.size for b in g) <= _download_plan.BATCH_BYTES for g in groups)


def test_a_batch_holds_at_most_the_servers_digest_limit() -> None:
    tiny = [blob(10, i) for i in range(2 * BATCH_DIGESTS + 5)]
    _, groups = batches(tiny)
    assert [len(g) for g in groups] == [BATCH_DIGESTS, BATCH_DIGESTS, 5]


def test_a_batch_is_at_most_batch_bytes() -> None:
    many = [blob(BATCH_FILE_BYTES, i) for i in range(64)]
    _, groups = batches(many)
    assert all(sum(b.size for b in g) <= _download_plan.BATCH_BYTES for g in groups)
    assert sum(len(g) for g in groups) == 64


# -- a server that answers batches as a test wants ----------------------------------------


def entry(path: str, data: bytes) -> dict[str, Any]:
    return {"path": path, "sha256": sha256(data), "size": len(data), "md5": "0" * 32}


Batch = Callable[[httpx.Request, list[str]], httpx.Response]


class Server:
    """A manifest, single-file GETs with the right bytes, and batches answered by ``batch``."""

    def __init__(self, files: dict[str, bytes], batch: Batch) -> None:
        self.files = files
        self.by_sha = {sha256(d): d for d in files.values()}
        self.batch = batch
        self.gets: list[str] = []
        self.batches: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/resolve":
            files = [entry(p, d) for p, d in self.files.items()]
            return httpx.Response(200, json={"kind": "logged", "logged": version_json(files)})
        if request.method == "POST" and path.endswith("/files/batch"):
            assert request.headers["content-type"] == "application/json"
            digests = json.loads(request.content)["sha256"]
            self.batches.append(digests)
            return self.batch(request, digests)
        digest = path.rsplit("/", 1)[-1]
        self.gets.append(digest)
        return httpx.Response(200, content=self.by_sha[digest])

    def download(self, root: Path, **options: Any) -> Path:
        with cairn.Api(client=mock_client(self), api_key="k", organization="o") as api:
            return api.artifact("team/proj/art:v0").download(root, **options)


def honest(server: Server) -> Batch:
    def answer(_: httpx.Request, digests: list[str]) -> httpx.Response:
        body = b"".join(record_bytes(d, server.by_sha[d]) for d in digests)
        return httpx.Response(200, content=body, headers={"Content-Type": MEDIA_TYPE})

    return answer


FILES = {
    "a.txt": b"alpha",
    "dir/b.bin": os.urandom(5000),
    "empty": b"",
    "same-as-a.txt": b"alpha",
    "big.bin": os.urandom(BATCH_FILE_BYTES + 10),
}


def test_small_files_come_in_one_batch_large_ones_alone(tmp_path: Path) -> None:
    server = Server(FILES, lambda r, d: honest(server)(r, d))
    root = server.download(tmp_path / "root", cache=False)
    assert tree(root) == FILES
    assert server.batches == [[sha256(b"alpha"), sha256(FILES["dir/b.bin"]), sha256(b"")]]
    assert server.gets == [sha256(FILES["big.bin"])]
    assert not (root / PARTIAL_DIR).exists()
    server.batches.clear()
    server.gets.clear()
    server.download(root, cache=False)  # everything is there already
    assert server.batches == []
    assert server.gets == []


def test_each_folder_is_made_and_resolved_once_not_once_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resolving a path costs a system call per component: a manifest of many files in a few
    folders resolves each folder once when it is planned, and makes and resolves it again
    once when its first file is saved."""
    files = {f"{folder}/f{i}.txt": f"{folder}-{i}".encode() for folder in "ab" for i in range(60)}
    server = Server(files, lambda r, d: honest(server)(r, d))
    resolved: list[Path] = []
    made: list[Path] = []
    real_resolve, real_mkdir = Path.resolve, Path.mkdir

    def resolving(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return real_resolve(self, strict)

    def making(self: Path, *args: Any, **named: Any) -> None:
        made.append(self)
        real_mkdir(self, *args, **named)

    monkeypatch.setattr(Path, "resolve", resolving)
    monkeypatch.setattr(Path, "mkdir", making)
    root = server.download(tmp_path / "root", cache=False)
    monkeypatch.undo()
    assert tree(root) == files
    folders = [root.resolve() / "a", root.resolve() / "b"]
    assert sorted(p for p in resolved if p in folders) == sorted(folders * 2)
    assert sorted(p for p in made if p in folders) == folders


def test_a_second_root_comes_from_the_cache(tmp_path: Path) -> None:
    server = Server(FILES, lambda r, d: honest(server)(r, d))
    server.download(tmp_path / "one")
    server.batches.clear()
    server.gets.clear()
    assert tree(server.download(tmp_path / "two")) == FILES
    assert server.batches == []
    assert server.gets == []


@pytest.mark.parametrize(
    "answer",
    [
        error(404, "not_found", "Not Found"),  # an older server without the route
        httpx.Response(405, json={"detail": "Method Not Allowed"}),
        error(503, "service_unavailable", "try again"),
        error(500, "internal_error", "internal server error"),
        httpx.Response(200, content=b"<html>a proxy page</html>"),
        httpx.Response(200, content=b"", headers={"Content-Type": MEDIA_TYPE}),
    ],
    ids=["404", "405", "503", "500", "not a blob stream", "empty stream"],
)
def test_any_failed_batch_falls_back_to_single_files(
    tmp_path: Path, answer: httpx.Response
) -> None:
    server = Server(FILES, lambda r, d: answer)
    root = server.download(tmp_path / "root", cache=False)
    assert tree(root) == FILES
    assert len(server.batches) == 1
    assert sorted(server.gets) == sorted({sha256(d) for d in FILES.values()})


def test_the_single_file_route_then_reports_the_real_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/resolve":
            return httpx.Response(
                200, json={"kind": "logged", "logged": version_json([entry("a.txt", b"alpha")])}
            )
        return error(404, "not_found", "file is missing from storage")

    with (
        cairn.Api(client=mock_client(refuse), api_key="k", organization="o") as api,
        pytest.raises(NotFoundError, match="missing from storage"),
    ):
        api.artifact("team/proj/art:v0").download(tmp_path / "root", cache=False)
    assert tree(tmp_path / "root") == {}


SMALL = {f"f{i}.bin": os.urandom(100 + i) for i in range(4)}


def hostile(kind: str) -> Batch:
    """A batch answer that is wrong in one way (after one good record)."""

    def answer(_: httpx.Request, digests: list[str]) -> httpx.Response:
        by_sha = {sha256(d): d for d in SMALL.values()}
        good = record_bytes(digests[0], by_sha[digests[0]])
        second = digests[1]
        bodies = {
            "wrong header": good + b"../../outside/evil 4\nevil",
            "foreign digest": good + record_bytes(sha256(b"evil"), b"evil"),
            "digest mismatch": good + record_bytes(second, b"X" * len(by_sha[second])),
            "wrong size": good + f"{second} 3\nabc".encode(),
            "extra record": b"".join(record_bytes(d, by_sha[d]) for d in digests)
            + record_bytes(sha256(b"evil"), b"evil"),
            "truncated": good + record_bytes(second, by_sha[second])[:-5],
        }
        return httpx.Response(200, content=bodies[kind], headers={"Content-Type": MEDIA_TYPE})

    return answer


HOSTILE = [
    "wrong header",
    "foreign digest",
    "digest mismatch",
    "wrong size",
    "extra record",
    "truncated",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_stream_installs_nothing_bad_and_nothing_outside(
    tmp_path: Path, kind: str
) -> None:
    sandbox = tmp_path / "sandbox"
    (sandbox / "outside").mkdir(parents=True)
    server = Server(SMALL, hostile(kind))
    root = server.download(sandbox / "root", cache=False)
    assert tree(root) == SMALL
    assert tree(sandbox) == {f"root/{name}": data for name, data in SMALL.items()}
    assert not (root / PARTIAL_DIR).exists()
    # records verified before the stream went wrong are kept; the rest came alone
    assert len(server.gets) == (0 if kind == "extra record" else len(SMALL) - 1)


@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "extra record"])
def test_a_hostile_server_gets_nothing_unverified_written(tmp_path: Path, kind: str) -> None:
    """Batch and single route both lie: the download fails and only verified files exist."""
    server = Server(SMALL, hostile(kind))
    server.by_sha = {sha: b"Y" * len(data) for sha, data in server.by_sha.items()}
    with pytest.raises(DigestMismatchError):
        server.download(tmp_path / "root", cache=False)
    left = tree(tmp_path / "root")
    assert all(SMALL[name] == data for name, data in left.items()), "unverified bytes installed"


# -- a real server process ------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A running `cairn server` and an admin API key for it."""
    data = tmp_path_factory.mktemp("batch-server")
    with servers.running(data, env={"CAIRN_ADMIN_PASSWORD": ADMIN_PASSWORD}) as server:
        login = httpx.post(
            f"{server.base}/api/v1/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert login.status_code in (200, 201), login.text
        yield server.base, login.json()["key"]


def publish(base: str, key: str, files: dict[str, bytes], name: str) -> None:
    """Upload the bytes and log ``admin/batch/<name>:v0`` over plain HTTP."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=60) as http:
        for data in {sha256(d): d for d in files.values()}.values():
            put = http.put(
                f"/blobs/{sha256(data)}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 201, put.text
        manifest = [{"path": p, "sha256": sha256(d), "size": len(d)} for p, d in files.items()]
        body = {"name": name, "type": "model", "files": manifest}
        logged = http.post("/projects/admin/batch/artifacts", json=body)
        assert logged.status_code == 201, logged.text


def test_many_small_files_and_a_big_one_from_a_real_server(
    live: tuple[str, str], tmp_path: Path
) -> None:
    base, key = live
    files = {f"shard/{i:03d}.bin": os.urandom(4096 + i) for i in range(300)}
    files |= {"empty.txt": b"", "copy.bin": files["shard/000.bin"]}
    files["big.bin"] = os.urandom(BATCH_FILE_BYTES + 12_345)
    publish(base, key, files, "many")
    requests: list[httpx.Request] = []
    with (
        httpx.Client(base_url=base, event_hooks={"request": [requests.append]}) as http,
        cairn.Api(client=http, api_key=key) as api,
    ):
        version = api.artifact("admin/batch/many:v0")
        assert isinstance(version, cairn.Version)
        root = version.download(tmp_path / "logged", cache=False)
        assert tree(root) == files
        file_requests = [r for r in requests if "/files/" in r.url.path]
        posts = [r for r in file_requests if r.method == "POST"]
        assert [r.url.path.rsplit("/", 1)[-1] for r in file_requests if r.method == "GET"] == [
            sha256(files["big.bin"])
        ]
        assert 1 <= len(posts) <= 2
        assert all(r.url.path.endswith("/versions/v0/files/batch") for r in posts)

        linked = version.link("Models/batch-many")
        requests.clear()
        assert tree(linked.download(tmp_path / "linked", cache=False)) == files
        assert any(
            r.method == "POST" and "/registries/Models/collections/batch-many/" in r.url.path
            for r in requests
        )


class Tally(TransferProgress):
    """A progress bar that sums what it is told."""

    last: Tally | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes = 0
        self.files = 0
        Tally.last = self

    def advance(self, size: int) -> None:
        self.bytes += size

    def file_done(self) -> None:
        self.files += 1


@pytest.mark.parametrize("kind", ["honest", *HOSTILE])
def test_progress_counts_every_byte_and_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(_download, "TransferProgress", Tally)
    files = {**SMALL, "copy.bin": SMALL["f0.bin"]}
    server = Server(files, hostile(kind) if kind != "honest" else honest_for(files))
    server.download(tmp_path / "root", cache=False)
    assert Tally.last is not None
    assert Tally.last.bytes == sum(len(d) for d in SMALL.values())
    assert Tally.last.files == len(files)


def honest_for(files: dict[str, bytes]) -> Batch:
    by_sha = {sha256(d): d for d in files.values()}

    def answer(_: httpx.Request, digests: list[str]) -> httpx.Response:
        body = b"".join(record_bytes(d, by_sha[d]) for d in digests)
        return httpx.Response(200, content=body, headers={"Content-Type": MEDIA_TYPE})

    return answer


def test_a_small_file_left_partial_by_an_earlier_run_resumes_alone(tmp_path: Path) -> None:
    server = Server(FILES, lambda r, d: honest(server)(r, d))
    root = tmp_path / "root"
    left = FILES["dir/b.bin"]
    (root / PARTIAL_DIR).mkdir(parents=True)
    (root / PARTIAL_DIR / sha256(left)).write_bytes(left[:1000])
    assert tree(server.download(root, cache=False)) == FILES
    assert server.batches == [[sha256(b"alpha"), sha256(b"")]]
    assert sorted(server.gets) == sorted([sha256(left), sha256(FILES["big.bin"])])
    assert not (root / PARTIAL_DIR).exists()


def test_the_partial_folder_is_made_when_missing_not_once_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{i}.bin": os.urandom(100 + i) for i in range(40)}
    root = tmp_path / "root"
    (root / PARTIAL_DIR).mkdir(parents=True)  # as another download into the folder left it

    def answer(request: httpx.Request, digests: list[str]) -> httpx.Response:
        # another download into the same folder ended meanwhile and removed it
        shutil.rmtree(root / PARTIAL_DIR, ignore_errors=True)
        return honest(server)(request, digests)

    server = Server(files, answer)
    made: list[Path] = []
    real_mkdir = Path.mkdir

    def making(self: Path, *args: Any, **named: Any) -> None:
        made.append(self)
        real_mkdir(self, *args, **named)

    monkeypatch.setattr(Path, "mkdir", making)
    assert tree(server.download(root, cache=False)) == files
    assert len(server.batches) == 1
    assert made.count(root.resolve() / PARTIAL_DIR) == 1


def test_a_symbolic_link_left_as_a_partial_file_is_removed_not_written_through(
    tmp_path: Path,
) -> None:
    server = Server(FILES, lambda r, d: honest(server)(r, d))
    root = tmp_path / "root"
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not yours")
    (root / PARTIAL_DIR).mkdir(parents=True)
    for data in (FILES["big.bin"], FILES["dir/b.bin"]):  # fetched alone, and batched
        (root / PARTIAL_DIR / sha256(data)).symlink_to(outside)
    assert tree(server.download(root, cache=False)) == FILES
    assert outside.read_bytes() == b"not yours"
    assert not (root / "big.bin").is_symlink()
    assert not (root / "dir" / "b.bin").is_symlink()
