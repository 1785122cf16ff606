"""`cairn server` as a real process: first start provisions once, restart changes nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

CAIRN = str(Path(sys.executable).parent / "cairn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Run:
    """A server run: its base URL, and what it printed (filled in once it stopped)."""

    base: str
    output: str = ""


@contextmanager
def running_server(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[Run]:
    """Start `cairn server` on a free port; stop it when the block ends."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [CAIRN, "server", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
    )
    run = Run(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{run.base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("server did not start within 60 s")
        yield run
    finally:
        proc.terminate()
        run.output, _ = proc.communicate(timeout=30)


def _password_from(output: str) -> str:
    lines = output.splitlines()
    marker = next(i for i, line in enumerate(lines) if "shown only this once" in line)
    return next(line.strip() for line in lines[marker + 1 :] if line.strip())


def _login(base: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=10
    )


def test_first_start_prints_a_password_once_and_restart_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data) as first:
        pass
    password = _password_from(first.output)
    assert len(password) >= 16

    with running_server(data) as second:
        base = second.base
        login = _login(base, password)
        assert login.status_code == 201, login.text
        key = login.json()["key"]
        page = httpx.get(
            f"{base}/api/v1/orgs/default/registries",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()
    assert "shown only this once" not in second.output
    assert password not in second.output
    assert sorted(r["name"] for r in page["items"]) == ["Datasets", "Models"]
    assert (data / "cairn.db").exists()


def test_admin_password_from_environment(tmp_path: Path) -> None:
    with running_server(tmp_path / "d", {"CAIRN_ADMIN_PASSWORD": "from-the-env-42"}) as run:
        assert _login(run.base, "from-the-env-42").status_code == 201
        assert _login(run.base, "wrong-password-1").status_code == 401
    assert "shown only this once" not in run.output
