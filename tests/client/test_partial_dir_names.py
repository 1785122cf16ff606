"""Files under ``.cairn-partial/`` (the download folder) are refused when logged, not at pull."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import cairn
from cairn.client._download_plan import destination
from cairn.client._manifest import check_file_name, check_manifest
from cairn.client._transfer import UnsafePathError
from cairn.client.cli import cli
from cairn.client.cli._context import CliState
from cairn.server.domain.errors import ValidationError as ServerValidationError
from cairn.server.domain.manifest import file_path as server_file_path
from tests.client.artifacts_support import record, tree, write

RESERVED = [
    ".cairn-partial/abc", ".cairn-partial", ".CAIRN-PARTIAL/abc", ".Cairn-Partial/a/b",
    ".cairn-partial./abc", ".cairn-partial /abc", ".ca\u0131rn-partial/abc",
    "\uff0e\uff43\uff41\uff49\uff52\uff4e\uff0d\uff50\uff41\uff52\uff54\uff49\uff41\uff4c/abc",
]  # fmt: skip
ALLOWED = ["a/.cairn-partial/abc", ".cairn-partials/abc", "cairn-partial/abc", ".cairn-part/x"]


@pytest.mark.parametrize("name", RESERVED)
def test_the_sdk_and_the_server_refuse_the_download_folder(name: str) -> None:
    with pytest.raises(cairn.ValidationError, match=r"\.cairn-partial/.*remove that folder"):
        check_manifest(["model.bin", name])
    with pytest.raises(ServerValidationError, match=r"\.cairn-partial/.*remove that folder"):
        server_file_path(name)


@pytest.mark.parametrize("name", ALLOWED)
def test_other_names_like_it_are_fine(name: str) -> None:
    check_manifest([name])
    assert check_file_name(name) == server_file_path(name) == name


@pytest.mark.parametrize("name", [".CAIRN-PARTIAL/abc", ".cairn-partial./abc"])
def test_downloads_never_write_into_a_variant_of_it(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePathError, match="Cairn's own folder"):
        destination(tmp_path, name)


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    """A folder holding an interrupted pull's leftovers next to real files."""
    write(tmp_path / "pdir" / "model.bin", b"weights")
    write(tmp_path / "pdir" / ".cairn-partial" / "abc", b"half a file")
    return tmp_path / "pdir"


def test_logging_such_a_folder_fails_before_sending_anything(
    api: cairn.Api, app_client: httpx.Client, pdir: Path
) -> None:
    requests = record(app_client)
    art = cairn.Artifact("p", type="model")
    with pytest.raises(cairn.ValidationError, match=r"'\.cairn-partial/abc' is inside"):
        art.add_dir(pdir)
    assert art.files == {}
    assert requests == []


def test_cli_push_of_such_a_folder_fails_and_logs_nothing(
    cli_state: Callable[[], CliState], admin_key: str, pdir: Path, api: cairn.Api
) -> None:
    args = ["--api-key", admin_key, "artifact", "push", str(pdir), "--project", "admin/p"]
    result = CliRunner().invoke(cli, [*args, "--name", "p", "--type", "model"], obj=cli_state())
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output
    assert ".cairn-partial" in result.output
    assert "remove that folder" in result.output
    with pytest.raises(cairn.NotFoundError):
        api.artifact("admin/p/p:v0").files  # noqa: B018


def test_a_folder_without_it_pushes_and_pulls(
    api: cairn.Api, tmp_path: Path, pdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(tmp_path / "cache"))
    (pdir / ".cairn-partial" / "abc").unlink()
    (pdir / ".cairn-partial").rmdir()
    art = cairn.Artifact("p", type="model")
    art.add_dir(pdir)
    version = api.log_artifact(art, "admin/p", progress=False)
    assert tree(version.download(tmp_path / "dlQ", progress=False)) == {"model.bin": b"weights"}
