"""Request bodies take each value only in its own JSON type: no `true` for 1, no "1" for 1."""

from __future__ import annotations

import types
import typing
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cairn.server.api import schemas
from tests.conftest import call

# Values pydantic's lax mode would turn into an int or a bool, and what each field gets.
LAX_FOR = {
    int: [True, False, "1", "0", 1.0],
    bool: [1, 0, "true", "yes", "on", "1"],
}


def _request_models() -> list[type[schemas.Request]]:
    found: list[type[schemas.Request]] = []
    todo: list[type[schemas.Request]] = [schemas.Request]
    while todo:
        model = todo.pop()
        found += model.__subclasses__()
        todo += model.__subclasses__()
    return sorted(found, key=lambda m: m.__name__)


def _scalars(annotation: Any) -> set[type]:
    """int and bool inside an annotation: `int`, `bool | None`, `list[Annotated[int, …]]`."""
    if annotation in (int, bool):
        return {annotation}
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalars(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list):
        return set().union(*(_scalars(a) for a in typing.get_args(annotation)))
    return set()


def _cases() -> list[tuple[type[schemas.Request], str, Any]]:
    cases = []
    for model in _request_models():
        for name, info in model.model_fields.items():
            for kind in sorted(_scalars(info.annotation), key=lambda k: k.__name__):
                is_list = typing.get_origin(info.annotation) is list
                for lax in LAX_FOR[kind]:
                    cases.append((model, name, [lax] if is_list else lax))
    return cases


CASES = _cases()


def test_the_sweep_covers_every_int_and_bool_field() -> None:
    """The introspection finds the fields it is meant to (so the sweep cannot be empty)."""
    fields = {(m.__name__, f) for m, f, _ in CASES}
    assert {
        ("BlobRef", "size"),
        ("SizesIn", "sizes"),
        ("FileIn", "size"),
        ("NewUserIn", "service"),
        ("UserPatchIn", "active"),
        ("RegistryPatchIn", "allow_all_artifact_types"),
    } <= fields


@pytest.mark.parametrize(
    ("model", "field", "value"),
    CASES,
    ids=[f"{m.__name__}.{f}={v!r}" for m, f, v in CASES],
)
def test_lax_value_is_refused(model: type[schemas.Request], field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate({field: value})
    at_field = [e for e in raised.value.errors() if e["loc"][0] == field]
    assert at_field, raised.value.errors()
    assert at_field[0]["type"] in {"int_type", "bool_type"}, at_field


def test_exact_types_are_still_accepted() -> None:
    blob = schemas.BlobRef.model_validate({"sha256": "a" * 64, "size": 7})
    assert blob.size == 7
    patch = schemas.RegistryPatchIn.model_validate({"allow_all_artifact_types": False})
    assert patch.allow_all_artifact_types is False
    user = schemas.NewUserIn.model_validate({"username": "eve", "service": True})
    assert user.service is True


LOG = "/projects/admin/lax/artifacts"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/orgs/default/registries/Models", {"allow_all_artifact_types": "yes"}),
        ("POST", "/orgs/default/users", {"username": "svc-bot", "service": 1}),
        ("POST", "/blobs/missing", {"blobs": [{"sha256": "a" * 64, "size": "12"}]}),
        (
            "POST",
            LOG,
            {
                "name": "m",
                "type": "model",
                "files": [{"path": "a", "sha256": "a" * 64, "size": True}],
            },
        ),
    ],
    ids=["registry-bool-string", "user-bool-int", "missing-size-string", "log-size-true"],
)
def test_over_http_a_lax_value_is_422_and_changes_nothing(
    app_client: httpx.Client, admin_key: str, method: str, path: str, body: dict[str, Any]
) -> None:
    before = call(app_client, "GET", "/orgs/default/registries/Models", admin_key).json()
    resp = call(app_client, method, path, admin_key, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "validation_error"
    after = call(app_client, "GET", "/orgs/default/registries/Models", admin_key).json()
    assert after == before
    if path == LOG:
        assert call(app_client, "GET", "/projects/admin/lax", admin_key).status_code == 404
    if path.endswith("/users"):  # not created: the same name with a true boolean is new
        again = {"username": "svc-bot", "service": True}
        assert call(app_client, "POST", path, admin_key, json=again).status_code == 201
