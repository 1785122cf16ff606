"""`cairn server` as a real process: first start provisions once, restart changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.servers import running


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
    with running(data) as first:
        pass
    password = _password_from(first.output)
    assert len(password) >= 16

    with running(data) as second:
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
    with running(tmp_path / "d", {"CAIRN_ADMIN_PASSWORD": "from-the-env-42"}) as run:
        assert _login(run.base, "from-the-env-42").status_code == 201
        assert _login(run.base, "wrong-password-1").status_code == 401
    assert "shown only this once" not in run.output
