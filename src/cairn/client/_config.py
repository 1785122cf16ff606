"""Where the SDK finds its server and key: argument, CAIRN_* environment, credentials file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from cairn.client._errors import ConfigurationError

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
ENV_BASE_URL = "CAIRN_BASE_URL"
ENV_API_KEY = "CAIRN_API_KEY"
ENV_ORG = "CAIRN_ORG"
ENV_CONFIG_DIR = "CAIRN_CONFIG_DIR"


@dataclass(frozen=True)
class Credentials:
    """What ``cairn login`` stores: the server, the key, and who and which key it is."""

    base_url: str
    api_key: str
    key_id: int | None = None
    username: str | None = None


@dataclass(frozen=True)
class Settings:
    """The resolved connection settings of one ``Api``."""

    base_url: str
    api_key: str | None
    organization: str | None


def _env(name: str) -> str | None:
    """An environment variable, with empty meaning unset."""
    return os.environ.get(name) or None


def config_dir() -> Path:
    """``$CAIRN_CONFIG_DIR``, else ``~/.config/cairn``."""
    configured = _env(ENV_CONFIG_DIR)
    return Path(configured).expanduser() if configured else Path.home() / ".config" / "cairn"


def credentials_path() -> Path:
    """The credentials file: ``<config dir>/credentials.json``."""
    return config_dir() / "credentials.json"


def normalize_base_url(url: str) -> str:
    """``url`` without surrounding blanks or trailing slashes; refuses non-HTTP URLs."""
    cleaned = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(cleaned)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"invalid base URL {url!r}: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"invalid base URL {url!r}: it must start with http:// or https:// and name a host"
        )
    return cleaned


def load_credentials(path: Path | None = None) -> Credentials | None:
    """The stored credentials, or ``None`` when there is no credentials file."""
    path = path or credentials_path()
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read credentials file {path}: {exc}") from exc
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("base_url"), str)
        or not isinstance(raw.get("api_key"), str)
    ):
        raise ConfigurationError(f"credentials file {path} is malformed; run `cairn login` again")
    key_id, username = raw.get("key_id"), raw.get("username")
    return Credentials(
        base_url=raw["base_url"],
        api_key=raw["api_key"],
        key_id=key_id if isinstance(key_id, int) else None,
        username=username if isinstance(username, str) else None,
    )


def save_credentials(credentials: Credentials, path: Path | None = None) -> Path:
    """Write the credentials atomically; the file is mode 0600 from its creation on."""
    path = path or credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with O_EXCL and mode 0600, so no reader ever sees it wider.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(credentials), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


def delete_credentials(path: Path | None = None) -> bool:
    """Remove the credentials file; ``True`` if there was one."""
    path = path or credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def resolve_settings(
    base_url: str | None = None,
    api_key: str | None = None,
    organization: str | None = None,
) -> Settings:
    """Resolve each setting: explicit argument, then environment, then credentials file.

    The stored key is used only for the server it was issued by, so pointing
    ``CAIRN_BASE_URL`` elsewhere never sends it to another host.
    """
    url = base_url or _env(ENV_BASE_URL)
    key = api_key or _env(ENV_API_KEY)
    stored = load_credentials() if url is None or key is None else None
    if url is None:
        url = stored.base_url if stored else DEFAULT_BASE_URL
    url = normalize_base_url(url)
    if key is None and stored is not None and normalize_base_url(stored.base_url) == url:
        key = stored.api_key
    return Settings(base_url=url, api_key=key, organization=organization or _env(ENV_ORG))
