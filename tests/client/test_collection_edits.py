"""What the SDK's ``Collection`` lets you change, and what it refuses instead of ignoring."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import cairn
from tests.client.artifacts_support import record, sample_artifact


def test_changing_the_type_raises_and_sends_nothing(
    api: cairn.Api, app_client: httpx.Client
) -> None:
    collection = api.create_registry(name="Tuned", visibility="organization").create_collection(
        "clf", type="model"
    )
    sent = record(app_client)
    with pytest.raises(cairn.ValidationError, match="fixed at creation") as refused:
        collection.type = "dataset"
    assert isinstance(refused.value, ValueError), "W&B-style code catching ValueError still works"
    assert collection.type == "model"
    collection.type = "model"  # the same type is no change
    collection.save()
    assert sent == [], "nothing to save"
    assert api.collection("Tuned/clf").type == "model"


def test_tags_changed_in_place_are_saved(api: cairn.Api) -> None:
    collection = api.registry("Models").create_collection("clf", type="model", tags=["nlp"])
    collection.tags.append("prod")
    collection.save()
    assert api.collection("Models/clf").tags == ["nlp", "prod"]


def test_a_linked_version_unlinks_the_version_it_was_resolved_to(
    api: cairn.Api, tmp_path: Path
) -> None:
    first = api.log_artifact(sample_artifact(tmp_path / "a"), "admin/nlp")
    first.link("Models/clf")
    resolved = api.artifact("Models/clf")  # latest: v0
    (tmp_path / "a" / "model.safetensors").write_bytes(b"newer weights")
    api.log_artifact(sample_artifact(tmp_path / "a"), "admin/nlp").link("Models/clf")
    assert isinstance(resolved, cairn.LinkedVersion)
    resolved.unlink()
    assert [v.version for v in api.collection("Models/clf").versions()] == ["v1"]
