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


def _sign_in_forwarded(base: str) -> httpx.Response:
    """A web sign-in as a TLS-terminating proxy on this host forwards it."""
    return httpx.post(
        f"{base}/login",
        data={"username": "admin", "password": "from-the-env-42"},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )


def test_behind_a_trusted_tls_proxy_session_cookies_are_secure(tmp_path: Path) -> None:
    env = {"CAIRN_ADMIN_PASSWORD": "from-the-env-42"}
    with running(tmp_path / "trusted", env) as run:
        trusted = _sign_in_forwarded(run.base)
    assert trusted.status_code == 303, trusted.text
    assert "; secure" in trusted.headers["set-cookie"].lower()

    untrusted_env = {**env, "FORWARDED_ALLOW_IPS": "192.0.2.1"}  # a proxy elsewhere
    with running(tmp_path / "untrusted", untrusted_env) as run:
        ignored = _sign_in_forwarded(run.base)
    assert ignored.status_code == 303, ignored.text
    assert "; secure" not in ignored.headers["set-cookie"].lower()
