"""Batch downloads in the SDK: small files many to a request, read from a blob stream strictly."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client import _download
from cairn.client._blobstream import MEDIA_TYPE
from cairn.client._download import PARTIAL_DIR
from cairn.client._download_plan import BATCH_FILE_BYTES
from cairn.client._errors import NotFoundError
from cairn.client._progress import TransferProgress
from cairn.client._transfer import DigestMismatchError
from tests import servers
from tests.client.artifacts_support import sha256, tree, version_json
from tests.client.blob_stream_support import record_bytes
from tests.client.conftest import error, mock_client

ADMIN_PASSWORD = "batch-download-admin-pw"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


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
