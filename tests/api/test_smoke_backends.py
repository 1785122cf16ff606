"""The API works end to end on both storage backends."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import call

pytestmark = pytest.mark.both_backends


def test_core_registries_exist_after_first_start(app_client: httpx.Client, admin_key: str) -> None:
    page = call(app_client, "GET", "/orgs/default/registries", admin_key).json()
    assert {(r["name"], tuple(r["artifact_types"])) for r in page["items"]} == {
        ("Models", ("model",)),
        ("Datasets", ("dataset",)),
    }
    assert all(r["visibility"] == "organization" and r["is_core"] for r in page["items"])
