"""Settings resolution (argument, environment, credentials file) and the 0600 credentials file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cairn.client import _config
from cairn.client._config import (
    Credentials,
    delete_credentials,
    load_credentials,
    resolve_settings,
    save_credentials,
)
from cairn.client._errors import ConfigurationError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_defaults_without_any_configuration() -> None:
    settings = resolve_settings()
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.api_key is None
    assert settings.organization is None


def test_credentials_path_follows_cairn_config_dir(config_dir: Path) -> None:
    assert _config.credentials_path() == config_dir / "credentials.json"


def test_credentials_path_defaults_to_dot_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_CONFIG_DIR")
    expected = Path.home() / ".config" / "cairn" / "credentials.json"
    assert _config.credentials_path() == expected


def test_argument_beats_environment_beats_file(monkeypatch: pytest.MonkeyPatch) -> None:
    save_credentials(Credentials(base_url="http://file:1", api_key="file-key"))
    assert resolve_settings() == _config.Settings("http://file:1", "file-key", None)

    monkeypatch.setenv("CAIRN_BASE_URL", "http://env:2/")
    monkeypatch.setenv("CAIRN_API_KEY", "env-key")
    monkeypatch.setenv("CAIRN_ORG", "env-org")
    assert resolve_settings() == _config.Settings("http://env:2", "env-key", "env-org")

    explicit = resolve_settings("http://arg:3", "arg-key", "arg-org")
    assert explicit == _config.Settings("http://arg:3", "arg-key", "arg-org")


def test_stored_key_is_only_sent_to_the_server_that_issued_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_credentials(Credentials(base_url="http://cairn.internal:8080/", api_key="secret"))
    assert resolve_settings().api_key == "secret"
    assert resolve_settings("http://cairn.internal:8080").api_key == "secret"
    assert resolve_settings("http://elsewhere:8080").api_key is None
    monkeypatch.setenv("CAIRN_BASE_URL", "http://elsewhere:8080")
    assert resolve_settings().api_key is None


def test_empty_environment_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_BASE_URL", "")
    monkeypatch.setenv("CAIRN_API_KEY", "")
    assert resolve_settings() == _config.Settings("http://127.0.0.1:8080", None, None)


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://h", "http://", "http://[::1"])
def test_base_url_must_be_a_valid_http_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid base URL"):
        resolve_settings(url)


def test_saved_file_is_0600_in_a_0700_directory(config_dir: Path) -> None:
    path = save_credentials(Credentials("http://h:1", "k", key_id=3, username="alice"))
    assert path == config_dir / "credentials.json"
    assert _mode(path) == 0o600
    assert _mode(config_dir) == 0o700
    assert load_credentials() == Credentials("http://h:1", "k", key_id=3, username="alice")
    assert [p.name for p in config_dir.iterdir()] == ["credentials.json"]


def test_file_is_never_wider_than_0600_even_before_the_rename(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_replace = os.replace

    def checking_replace(src: str, dst: Path) -> None:
        seen.append(_mode(Path(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    old_umask = os.umask(0)  # the most permissive umask must not widen the file
    try:
        path = save_credentials(Credentials("http://h:1", "k"))
    finally:
        os.umask(old_umask)
    assert seen == [0o600]
    assert _mode(path) == 0o600


def test_overwriting_a_world_readable_file_leaves_0600(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "credentials.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_credentials(Credentials("http://h:1", "new"))
    assert _mode(path) == 0o600
    assert load_credentials() == Credentials("http://h:1", "new")


def test_failed_write_leaves_no_temporary_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(src: str, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_credentials(Credentials("http://h:1", "k"))
    assert list(config_dir.iterdir()) == []


def test_malformed_file_is_a_configuration_error(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "credentials.json").write_text('{"base_url": 1}')
    with pytest.raises(ConfigurationError, match="cairn login"):
        load_credentials()
    (config_dir / "credentials.json").write_text("not json")
    with pytest.raises(ConfigurationError, match="cannot read"):
        resolve_settings()


def test_explicit_settings_do_not_read_the_file(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "credentials.json").write_text("not json")
    assert resolve_settings("http://h:1", "k").api_key == "k"


def test_delete_credentials() -> None:
    assert delete_credentials() is False
    save_credentials(Credentials("http://h:1", "k"))
    assert delete_credentials() is True
    assert load_credentials() is None
