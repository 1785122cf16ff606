"""Downloads from a hostile or broken server: nothing outside the root, nothing unverified."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import cairn
from cairn.client._download import PARTIAL_DIR
from cairn.client._transfer import check_stop, run_parallel
from tests.client.artifacts_support import sha256, tree, version_json, write
from tests.client.conftest import Handler, mock_client

GOOD = b"good bytes"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


def entry(path: str, data: bytes = GOOD, **extra: Any) -> dict[str, Any]:
    return {"path": path, "sha256": sha256(data), "size": len(data), "md5": "0" * 32, **extra}


class FakeServer:
    """Answers ``/resolve`` with a manifest and file requests with chosen bytes."""

    def __init__(self, files: list[dict[str, Any]], body: Handler | None = None) -> None:
        self.files = files
        self.body = body or (lambda request: httpx.Response(200, content=GOOD))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/resolve":
            return httpx.Response(200, json={"kind": "logged", "logged": version_json(self.files)})
        return self.body(request)

    @property
    def file_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if "/files/" in r.url.path]

    def download(self, root: Path, **options: Any) -> Path:
        with cairn.Api(client=mock_client(self), api_key="k", organization="o") as api:
            return api.artifact("team/proj/art:v0").download(root, **options)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Path]:
    """A folder whose contents outside ``root`` must not change during the test."""
    folder = tmp_path / "sandbox"
    (folder / "outside").mkdir(parents=True)
    before = tree(folder)
    yield folder
    assert tree(folder) == before | {
        k: v for k, v in tree(folder).items() if k.startswith("root/")
    }, "something was written outside the download root"


HOSTILE_NAMES = [
    "../evil", "/etc/x", "a/../../x", "C:\\x", "..\\x", "C:x", "c:/x", "\\\\server\\share\\x",
    ".", "..", "a/./b", "a//b", "a/", "a\0b", "a\nb", "\u202e", "e\u0301", "x" * 1025,
    f"{PARTIAL_DIR}/x", "../outside/evil",
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_write_nothing_and_raise(sandbox: Path, name: str) -> None:
    server = FakeServer([entry("fine.txt"), entry(name)])
    with pytest.raises(cairn.UnsafePathError) as caught:
        server.download(sandbox / "root")
    assert isinstance(caught.value, cairn.CairnError)
    assert isinstance(caught.value, ValueError)
    assert server.file_requests == []
    assert tree(sandbox / "root") == {}
    assert tree(sandbox / "outside") == {}


@pytest.mark.parametrize(
    "files",
    [
        [entry("Model.bin"), entry("model.BIN")],
        [entry("a"), entry("a/b")],
        [entry("x", sha256="../../../../etc/passwd".ljust(64, "a"))],
        [entry("x", sha256="A" * 64)],
        [entry("x", size=-1)],
        [entry("x"), entry("y", size=3)],
    ],
    ids=["case-twins", "file-and-folder", "path-in-digest", "upper-digest", "negative", "sizes"],
)
def test_hostile_manifests_are_refused_whole(sandbox: Path, files: list[dict[str, Any]]) -> None:
    server = FakeServer(files)
    with pytest.raises(cairn.UnsafePathError):
        server.download(sandbox / "root")
    assert server.file_requests == []
    assert tree(sandbox) == {}


def test_a_symlinked_folder_pointing_outside_is_not_followed(sandbox: Path) -> None:
    root = sandbox / "root"
    root.mkdir()
    (root / "link").symlink_to(sandbox / "outside", target_is_directory=True)
    server = FakeServer([entry("link/evil.txt")])
    with pytest.raises(cairn.UnsafePathError, match="outside"):
        server.download(root)
    assert list((sandbox / "outside").iterdir()) == []
    assert server.file_requests == []


def test_a_symlinked_root_is_followed_once(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    FakeServer([entry("sub/ok.txt")]).download(tmp_path / "alias")
    assert tree(real) == {"sub/ok.txt": GOOD}


def test_a_symlinked_file_is_replaced_not_written_through(tmp_path: Path) -> None:
    root = tmp_path / "root"
    target = write(tmp_path / "outside" / "precious", b"keep me")
    root.mkdir()
    (root / "file.txt").symlink_to(target)
    FakeServer([entry("file.txt")]).download(root)
    assert not (root / "file.txt").is_symlink()
    assert (root / "file.txt").read_bytes() == GOOD
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("served", [b"evil bytes", b"good bytes and more", b"good", b""], ids=str)
def test_wrong_bytes_raise_and_leave_nothing(tmp_path: Path, served: bytes) -> None:
    server = FakeServer([entry("model.bin")], lambda r: httpx.Response(200, content=served))
    with pytest.raises(cairn.DigestMismatchError, match=r"model\.bin"):
        server.download(tmp_path / "root")
    assert tree(tmp_path / "root") == {}
    assert not (tmp_path / "root" / PARTIAL_DIR).exists()
    assert not (tmp_path / "cache").exists()


def test_a_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    write(tmp_path / "root" / PARTIAL_DIR / sha256(GOOD), GOOD[:4])
    server = FakeServer([entry("model.bin")])
    server.download(tmp_path / "root", cache=False)
    assert [r.headers.get("range") for r in server.file_requests] == ["bytes=4-"]
    assert tree(tmp_path / "root") == {"model.bin": GOOD}


def test_a_wrong_content_range_is_not_appended(tmp_path: Path) -> None:
    write(tmp_path / "root" / PARTIAL_DIR / sha256(GOOD), GOOD[:4])

    def answer(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            return httpx.Response(206, content=GOOD[2:], headers={"Content-Range": "bytes 2-9/10"})
        return httpx.Response(200, content=GOOD)

    server = FakeServer([entry("model.bin")], answer)
    server.download(tmp_path / "root", cache=False)
    assert [r.headers.get("range") for r in server.file_requests] == ["bytes=4-", None]
    assert tree(tmp_path / "root") == {"model.bin": GOOD}


def test_a_complete_partial_needs_no_request(tmp_path: Path) -> None:
    write(tmp_path / "root" / PARTIAL_DIR / sha256(GOOD), GOOD)
    server = FakeServer([entry("model.bin")])
    server.download(tmp_path / "root", cache=False)
    assert server.file_requests == []
    assert tree(tmp_path / "root") == {"model.bin": GOOD}


def test_same_content_under_two_names_is_fetched_once(tmp_path: Path) -> None:
    server = FakeServer([entry("a.bin"), entry("dir/b.bin"), entry("empty", b"")])
    server.body = lambda r: httpx.Response(200, content=b"" if sha256(b"") in r.url.path else GOOD)
    server.download(tmp_path / "root")
    # this server answers a batch with plain bytes, not a blob stream: the SDK then asks
    # for each content alone, the shared one once
    assert len([r for r in server.file_requests if r.method == "GET"]) == 2
    assert tree(tmp_path / "root") == {"a.bin": GOOD, "dir/b.bin": GOOD, "empty": b""}


def test_a_network_failure_keeps_the_partial_for_resuming(tmp_path: Path) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    server = FakeServer([entry("model.bin")], fail)
    with pytest.raises(cairn.NetworkError, match="connection reset"):
        server.download(tmp_path / "root")
    assert tree(tmp_path / "root") == {}


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_an_unwritable_cache_never_fails_a_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = write(tmp_path / "not-a-folder", "file where the cache folder should be")
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(blocked))
    FakeServer([entry("model.bin")]).download(tmp_path / "root")
    assert tree(tmp_path / "root") == {"model.bin": GOOD}


def test_a_hostile_name_cannot_pick_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile = version_json([entry("ok.txt")], name="../../evil")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"kind": "logged", "logged": hostile})

    api = cairn.Api(client=mock_client(answer), api_key="k", organization="o")
    with pytest.raises(cairn.UnsafePathError):
        api.artifact("team/proj/art").download()
    assert list(tmp_path.iterdir()) == []


def test_the_first_failure_stops_the_other_transfers() -> None:
    stop = threading.Event()
    saw_stop = threading.Event()

    def fail() -> None:
        raise ValueError("boom")

    def long_transfer() -> None:
        for _ in range(500):
            try:
                check_stop(stop)
            except Exception:
                saw_stop.set()
                raise
            time.sleep(0.01)

    with pytest.raises(ValueError, match="boom"):
        run_parallel([long_transfer, fail, long_transfer], stop)
    assert saw_stop.is_set()


@pytest.mark.parametrize(
    "location",
    ["file:///etc/passwd", "javascript:alert(1)", "ftp://bucket.example/blob", "/relative/path"],
)
def test_a_download_redirected_anywhere_but_http_is_refused(sandbox: Path, location: str) -> None:
    server = FakeServer(
        [entry("a.bin")], body=lambda request: httpx.Response(307, headers={"location": location})
    )
    with pytest.raises(cairn.CairnError, match="the server sent a transfer to"):
        server.download(sandbox / "root")
    assert all(r.url.host == "cairn.test" for r in server.requests)  # nothing fetched there
    assert not (sandbox / "root" / "a.bin").exists()


def test_a_download_redirect_never_carries_the_key_or_cookies(sandbox: Path) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "bucket.example":
            return httpx.Response(200, content=GOOD)
        if request.url.path == "/api/v1/resolve":
            return httpx.Response(
                200, json={"kind": "logged", "logged": version_json([entry("a.bin")])}
            )
        return httpx.Response(
            307, headers={"location": "https://bucket.example/b?X-Amz-Signature=s"}
        )

    client = httpx.Client(
        transport=httpx.MockTransport(answer),
        base_url="http://cairn.test",
        headers={"Authorization": "Bearer default-header"},
        cookies={"session": "c"},
    )
    with client, cairn.Api(client=client, api_key="k", organization="o") as api:
        root = api.artifact("team/proj/art:v0").download(sandbox / "root")
    assert (Path(root) / "a.bin").read_bytes() == GOOD
    to_bucket = [r for r in seen if r.url.host == "bucket.example"]
    assert len(to_bucket) == 1
    assert "authorization" not in to_bucket[0].headers
    assert "cookie" not in to_bucket[0].headers
    to_cairn = [r for r in seen if r.url.host == "cairn.test"]
    assert all(r.headers["authorization"] == "Bearer k" for r in to_cairn)
