"""``cairn artifact unlink`` must be told which version: a bare collection is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cairn.client.cli import cli
from cairn.client.cli._context import CliState
from tests.client.artifacts_support import write

Run = Callable[..., Result]


@pytest.fixture
def run(cli_state: Callable[[], CliState], admin_key: str) -> Run:
    """Invoke ``cairn ARGS`` as the admin, never with input; checks the exit code."""

    def invoke(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, ["--api-key", admin_key, *args], obj=cli_state())
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


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
