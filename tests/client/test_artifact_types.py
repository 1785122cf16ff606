"""The add-only artifact-type list, and ``Registry.save()`` sending only what changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import cairn
from tests.client.conftest import mock_client
from tests.client.test_session import REGISTRY, Recorder

REMOVAL = (
    r"cannot remove artifact type 'model': artifact types saved to a registry cannot be removed"
)


def saved(*names: str) -> cairn.ArtifactTypes:
    return cairn.ArtifactTypes(names, saved=names)


def test_adding_works_and_duplicates_are_ignored() -> None:
    types = saved("model")
    types.append("dataset")
    types.extend(["checkpoint", "model"])
    types += ["code"]
    types.insert(0, "dataset")
    assert types == ["model", "dataset", "checkpoint", "code"]
    assert isinstance(types, cairn.ArtifactTypes)


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.remove("model"),
        lambda t: t.pop(),
        lambda t: t.pop(0),
        lambda t: t.clear(),
        lambda t: t.__delitem__(0),
        lambda t: t.__delitem__(slice(None)),
        lambda t: t.__setitem__(0, "other"),
        lambda t: t.__setitem__(slice(0, 1), []),
        lambda t: t.__imul__(0),
    ],
    ids=["remove", "pop", "pop0", "clear", "del", "del-slice", "set", "set-slice", "imul0"],
)
def test_removing_a_saved_type_raises_naming_it(edit: Callable[[Any], object]) -> None:
    types = saved("model")
    with pytest.raises(cairn.ArtifactTypeRemovalError, match=REMOVAL) as caught:
        edit(types)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, cairn.ValidationError)
    assert types == ["model"]


def test_del_statement_and_item_assignment_raise() -> None:
    types = saved("model", "dataset")
    with pytest.raises(cairn.ArtifactTypeRemovalError, match="'dataset'"):
        del types[1]
    with pytest.raises(cairn.ArtifactTypeRemovalError, match="'model'"):
        types[0] = "checkpoint"
    assert types == ["model", "dataset"]


def test_unsaved_types_may_be_removed() -> None:
    types = saved("model")
    types.extend(["dataset", "code", "checkpoint"])
    types.remove("dataset")
    assert types.pop() == "checkpoint"
    del types[1]
    assert types == ["model"]
    types.append("x")
    types[1] = "y"
    assert types == ["model", "y"]


def _registry(recorder: Recorder) -> cairn.Registry:
    api = cairn.Api(api_key="k", organization="default", client=mock_client(recorder))
    return api.registry("Fine Tuned ü")


def _patch_body(recorder: Recorder) -> Any:
    request = recorder.requests[-1]
    assert request.method == "PATCH"
    return json.loads(request.content)


def test_save_sends_only_changed_fields_to_the_saved_name() -> None:
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    registry.description = "LoRA fine-tunes"
    registry.artifact_types.append("checkpoint")
    registry.name = "Renamed"
    registry.save()
    assert _patch_body(recorder) == {
        "name": "Renamed",
        "description": "LoRA fine-tunes",
        "artifact_types": ["model", "checkpoint"],
    }
    assert recorder.requests[-1].url.raw_path.endswith(b"/registries/Fine%20Tuned%20%C3%BC")


def test_save_without_changes_sends_nothing() -> None:
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    registry.save()
    assert len(recorder.requests) == 1


def test_assigning_a_list_without_a_saved_type_raises_on_save() -> None:
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    registry.artifact_types = ["dataset"]
    assert registry.artifact_types == ["dataset"]
    with pytest.raises(cairn.ArtifactTypeRemovalError, match=REMOVAL):
        registry.save()
    assert len(recorder.requests) == 1  # nothing was sent


def test_assigned_list_stays_add_only() -> None:
    registry = _registry(Recorder(REGISTRY))
    registry.artifact_types = ["model", "dataset"]
    registry.artifact_types.remove("dataset")
    with pytest.raises(cairn.ArtifactTypeRemovalError):
        registry.artifact_types.remove("model")


def test_save_takes_the_servers_answer_as_the_new_saved_state() -> None:
    answer = {**REGISTRY, "artifact_types": ["model", "dataset"]}
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    recorder.body = answer
    registry.artifact_types.append("dataset")
    registry.save()
    with pytest.raises(cairn.ArtifactTypeRemovalError, match="'dataset'"):
        registry.artifact_types.remove("dataset")


def test_read_only_fields_are_not_sent() -> None:
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    registry.role = "viewer"
    registry.protected_aliases.append("production")
    registry.save()
    assert _patch_body(recorder) == {"protected_aliases": ["production"]}


def test_member_objects_send_their_kind() -> None:
    members = [{"kind": "user", "name": "bob", "email": "b@x.org", "role": "viewer"}]
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    recorder.body = members
    user = cairn.User(username="bob")
    team = cairn.Team(registry._session, {"name": "ml", "organization": "default"})
    registry.add_members("carol", user, team, role="viewer")
    body = json.loads(recorder.requests[-1].content)
    assert body == {
        "members": [
            {"member": "carol", "role": "viewer"},
            {"member": "bob", "kind": "user", "role": "viewer"},
            {"member": "ml", "kind": "team", "role": "viewer"},
        ]
    }


def test_remove_by_email_looks_up_the_member() -> None:
    members = [
        {"kind": "team", "name": "ml", "email": None, "role": "viewer"},
        {"kind": "user", "name": "bob", "email": "b@x.org", "role": "viewer"},
    ]
    recorder = Recorder(REGISTRY)
    registry = _registry(recorder)
    recorder.body = members
    registry.remove_members("b@x.org", "ml")
    deletes = [r for r in recorder.requests if r.method == "DELETE"]
    assert [r.url.path.split("/members/")[1] for r in deletes] == ["user/bob", "team/ml"]
    with pytest.raises(cairn.NotFoundError, match="'nobody' is not a member"):
        registry.remove_members("nobody")


def test_add_members_needs_a_member() -> None:
    with pytest.raises(cairn.ValidationError):
        _registry(Recorder(REGISTRY)).add_members()


def test_http_error_in_save_keeps_local_changes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            return httpx.Response(409, json={"error": {"code": "conflict", "message": "no"}})
        return httpx.Response(200, json=REGISTRY)

    api = cairn.Api(api_key="k", organization="default", client=mock_client(handler))
    registry = api.registry("x")
    registry.description = "new"
    with pytest.raises(cairn.ConflictError):
        registry.save()
    assert registry.description == "new"
