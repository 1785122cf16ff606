"""Downloads against the real server: verified, idempotent, cached, resumable, role-checked."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

import cairn
from cairn.client._cache import BlobCache
from cairn.client._download import PARTIAL_DIR
from cairn.client._progress import TransferProgress, progress_enabled
from cairn.client._transfer import hash_file
from tests.client.artifacts_support import (
    MIB,
    file_gets,
    logged,
    record,
    sha256,
    tree,
    write,
)
from tests.conftest import MakeUser


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def big(tmp_path: Path) -> bytes:
    """About 5 MiB of non-repeating bytes (crosses the 1 MiB chunk boundaries)."""
    return os.urandom(5 * MIB + 12345)


def log_big(api: cairn.Api, tmp_path: Path, data: bytes) -> cairn.LinkedVersion:
    api.create_team("team")
    art = cairn.Artifact("big", type="model")
    art.add_file(write(tmp_path / "src" / "weights.bin", data))
    art.add_file(write(tmp_path / "src" / "README.md", "# big\n"), name="docs/README.md")
    return api.log_artifact(art, "team/proj").link("Models/big", aliases=["production"])


def test_download_verifies_and_is_idempotent(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, cache_dir: Path
) -> None:
    source = tmp_path / "src"
    logged(api, source).link("Models/clf", aliases=["production"])
    prod = api.artifact("Models/clf:production")
    requests = record(app_client)
    root = prod.download(tmp_path / "out", cache=False)
    assert root == tmp_path / "out"
    expected = {
        "model.safetensors": (source / "model.safetensors").read_bytes(),
        "tokenizer/vocab.txt": (source / "tokenizer" / "vocab.txt").read_bytes(),
        "tokenizer/sub/config.json": (source / "tokenizer" / "sub" / "config.json").read_bytes(),
    }
    assert tree(root) == expected
    assert len(file_gets(requests)) == 1, "three small files come in one blob stream"
    assert all("/versions/v0/files/" in r.url.path for r in file_gets(requests))
    assert not (root / PARTIAL_DIR).exists()
    assert not cache_dir.exists()

    requests.clear()
    prod.download(root, cache=False)
    assert file_gets(requests) == []
    assert tree(root) == expected

    write(root / "tokenizer" / "vocab.txt", "edited locally")
    write(root / "extra.txt", "mine")
    prod.download(root, cache=False)
    assert len(file_gets(requests)) == 1
    assert tree(root) == {**expected, "extra.txt": b"mine"}


def test_logged_versions_download_too(api: cairn.Api, tmp_path: Path) -> None:
    version = logged(api, tmp_path / "src")
    found = api.artifact(version.ref)
    root = found.download(tmp_path / "out")
    assert sorted(tree(root)) == sorted(f.path for f in version.files)


def test_cache_serves_a_second_root_without_transfer(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, cache_dir: Path
) -> None:
    logged(api, tmp_path / "src").link("Models/clf")
    prod = api.artifact("Models/clf")
    requests = record(app_client)
    first = prod.download(tmp_path / "one")
    assert len(file_gets(requests)) == 1, "three small files come in one blob stream"
    cache = BlobCache()
    assert cache.root == cache_dir
    for entry in prod.files:
        cached = cache.path(entry.sha256)
        assert cached == cache_dir / "blobs" / entry.sha256[:2] / entry.sha256[2:4] / entry.sha256
        assert hash_file(cached) == (entry.sha256, entry.size)

    requests.clear()
    second = prod.download(tmp_path / "two")
    assert file_gets(requests) == []
    assert tree(second) == tree(first)

    # A cache entry that no longer verifies is evicted and the blob fetched again.
    model = next(f for f in prod.files if f.path == "model.safetensors")
    os.unlink(cache.path(model.sha256))
    write(cache.path(model.sha256), b"x" * model.size)
    third = prod.download(tmp_path / "three")
    assert len(file_gets(requests)) == 1
    assert tree(third) == tree(first)
    assert hash_file(cache.path(model.sha256)) == (model.sha256, model.size)


def test_resume_after_a_partial_file(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, big: bytes
) -> None:
    linked = log_big(api, tmp_path, big)
    root = tmp_path / "out"
    write(root / PARTIAL_DIR / sha256(big), big[: len(big) // 2])
    requests = record(app_client)
    linked.download(root, cache=False)
    ranged = [r for r in file_gets(requests) if "range" in r.headers]
    assert [r.headers["range"] for r in ranged] == [f"bytes={len(big) // 2}-"]
    assert (root / "weights.bin").read_bytes() == big
    assert not (root / PARTIAL_DIR).exists()


def test_a_corrupt_partial_is_discarded_and_fetched_whole(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, big: bytes
) -> None:
    linked = log_big(api, tmp_path, big)
    root = tmp_path / "out"
    write(root / PARTIAL_DIR / sha256(big), b"\0" * MIB)
    requests = record(app_client)
    linked.download(root, cache=False)
    weights = [r for r in file_gets(requests) if r.url.path.endswith(sha256(big))]
    assert [r.headers.get("range") for r in weights] == [f"bytes={MIB}-", None]
    assert (root / "weights.bin").read_bytes() == big


def test_roles_decide_who_downloads(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, make_user: MakeUser
) -> None:
    rita_key, vic_key = make_user("rita"), make_user("vic")
    registry = api.create_registry(name="Secret", visibility="restricted")
    registry.add_members("rita")
    registry.add_members("vic", role="viewer")
    logged(api, tmp_path / "src").link("Secret/clf")

    with cairn.Api(client=app_client, api_key=rita_key) as rita:
        found = rita.artifact("Secret/clf")
        assert isinstance(found, cairn.LinkedVersion)
        assert found.role == "restricted_viewer"
        assert sorted(f.path for f in found.files) == [
            "model.safetensors", "tokenizer/sub/config.json", "tokenizer/vocab.txt",
        ]  # fmt: skip
        with pytest.raises(cairn.NotFoundError):
            found.download(tmp_path / "rita")
    assert tree(tmp_path / "rita") == {}
    assert not (tmp_path / "rita" / PARTIAL_DIR).exists()

    with cairn.Api(client=app_client, api_key=vic_key) as vic:
        assert len(tree(vic.artifact("Secret/clf").download(tmp_path / "vic"))) == 3

    outsider = cairn.Api(client=app_client, api_key=make_user("olga"))
    with pytest.raises(cairn.NotFoundError):
        outsider.artifact("Secret/clf")


def test_progress_is_off_when_stderr_is_not_a_terminal(
    api: cairn.Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True
    version = logged(api, tmp_path / "src")
    version.download(tmp_path / "quiet")
    assert capsys.readouterr().err == ""
    version.download(tmp_path / "loud", progress=True, cache=False)
    shown = capsys.readouterr().err
    assert "Downloading" in shown
    assert "3/3 files" in shown


def test_progress_counts_bytes_and_files(capsys: pytest.CaptureFixture[str]) -> None:
    with TransferProgress("Uploading", total_bytes=10, total_files=2, enabled=True) as bar:
        bar.advance(10)
        bar.file_done()
        bar.file_done()
    assert bar.files_done == 2
    assert "2/2 files" in capsys.readouterr().err
    with TransferProgress("Nothing", total_bytes=0, total_files=0, enabled=True) as idle:
        idle.file_done()
    assert capsys.readouterr().err == ""


def test_hashing_streams_in_chunks(tmp_path: Path, big: bytes) -> None:
    paths = [write(tmp_path / "big", big), write(tmp_path / "small", b"abc")]
    assert [hash_file(p) for p in paths] == [(sha256(big), len(big)), (sha256(b"abc"), 3)]
