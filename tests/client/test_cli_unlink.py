"""``cairn artifact unlink`` must be told which version: a bare collection is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.artifacts_support import write
from tests.client.cli_support import Run, as_json


@pytest.fixture
def linked(run: Run, tmp_path: Path) -> None:
    """Models/sentiment-classifier: v0, and v1 holding `production` and `staging`."""
    for index in range(2):
        path = tmp_path / f"model-{index}.safetensors"
        write(path, f"weights {index}".encode())
        args = ("--project", "admin/sentiment", "--name", "bert", "--type", "model")
        run("artifact", "push", str(path), *args)
        run("artifact", "link", f"admin/sentiment/bert:v{index}", "Models/sentiment-classifier")
    run("alias", "set", "Models/sentiment-classifier:v1", "production")
    run("alias", "set", "Models/sentiment-classifier:v1", "staging")


def versions(run: Run) -> list[str]:
    return [
        v["version"]
        for v in as_json(run("--json", "artifact", "ls", "Models/sentiment-classifier"))
    ]


@pytest.mark.usefixtures("linked")
@pytest.mark.parametrize(
    "ref", ["Models/sentiment-classifier", "default/wandb-registry-Models/sentiment-classifier"]
)
def test_a_bare_collection_is_refused_in_one_line(run: Run, ref: str) -> None:
    refused = run("artifact", "unlink", ref, code=1)
    assert refused.stderr == (
        f"Error: {ref} names no version; name the version to unlink, e.g. {ref}:v1\n"
    )
    assert refused.stdout == ""
    assert versions(run) == ["v1", "v0"], "nothing was unlinked"


@pytest.mark.usefixtures("linked")
def test_an_explicit_version_unlinks_without_asking(run: Run) -> None:
    assert run("artifact", "unlink", "Models/sentiment-classifier:production").stdout == (
        "Unlinked default/Models/sentiment-classifier:v1.\n"
    )
    assert versions(run) == ["v0"]
    said = as_json(run("--json", "artifact", "unlink", "Models/sentiment-classifier:latest"))
    assert said == {"unlinked": "default/Models/sentiment-classifier:v0"}
    assert versions(run) == []


@pytest.mark.usefixtures("linked")
def test_a_version_number_unlinks_that_version(run: Run) -> None:
    run("artifact", "unlink", "default/Models/sentiment-classifier:v0")
    assert versions(run) == ["v1"]
    history = as_json(run("--json", "collection", "history", "Models/sentiment-classifier"))
    assert history[0]["action"] == "version.unlink"
    assert history[0]["before"] == {
        "version": "v0", "source": "admin/sentiment/bert:v0", "aliases": [],
    }  # fmt: skip
