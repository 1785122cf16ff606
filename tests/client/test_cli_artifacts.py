"""``cairn artifact|alias|collection`` against the real in-process server, tables and ``--json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.client.artifacts_support import tree, write
from tests.client.cli_support import Run, as_json


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Path:
    write(tmp_path / "src" / "model.safetensors", b"weights" * 100)
    write(tmp_path / "src" / "tokenizer" / "vocab.txt", "hello\n")
    return tmp_path / "src"


def push(run: Run, source: Path, *extra: str) -> Any:
    args = ["--project", "admin/sentiment", "--name", "bert", "--type", "model"]
    model, tokenizer = str(source / "model.safetensors"), str(source / "tokenizer")
    return as_json(run("--json", "artifact", "push", model, tokenizer, *args, *extra))


def test_push_pull_show_and_list(
    run: Run, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = push(run, source, "--alias", "candidate", "--metadata", '{"f1": 0.91}')
    assert pushed["ref"] == "admin/sentiment/bert:v0"
    assert pushed["metadata"] == {"f1": 0.91}
    assert set(pushed["aliases"]) == {"candidate", "latest"}
    assert sorted(f["path"] for f in pushed["files"]) == ["model.safetensors", "vocab.txt"]
    assert push(run, source)["ref"] == "admin/sentiment/bert:v0"  # identical: same version

    solo = (
        "artifact", "push", str(source / "model.safetensors"), "--project", "admin/sentiment",
        "--name", "solo", "--type", "model", "--description", "just weights",
    )  # fmt: skip
    first = run(*solo)
    assert "admin/sentiment/solo:v0" in first.stdout
    assert "just weights" in first.stdout
    assert "Nothing new" not in first.stderr
    again = run(*solo)
    assert "admin/sentiment/solo:v0" in again.stdout
    assert "Nothing new to log: admin/sentiment/solo:v0 holds the same files." in again.stderr

    monkeypatch.chdir(tmp_path)
    pulled = as_json(run("--json", "artifact", "pull", "admin/sentiment/bert", "-o", "out"))
    assert pulled == {"ref": "admin/sentiment/bert:v0", "path": "out", "files": 2}
    assert sorted(tree(tmp_path / "out")) == ["model.safetensors", "vocab.txt"]
    said = run("artifact", "pull", "admin/sentiment/bert:candidate").stdout
    assert said.startswith("Downloaded admin/sentiment/bert:v0 (2 files) to artifacts")
    assert tree(tmp_path / "artifacts" / "bert-v0") == {
        "model.safetensors": b"weights" * 100,
        "vocab.txt": b"hello\n",
    }

    shown = run("artifact", "show", "admin/sentiment/bert").stdout
    for text in ("admin/sentiment/bert:v0", "candidate", '{"f1": 0.91}', "vocab.txt", "700 bytes"):
        assert text in shown
    data = as_json(run("--json", "artifact", "show", "admin/sentiment/bert:v0"))
    assert data["type"] == "model"
    assert {f["path"]: f["size"] for f in data["files"]} == {
        "model.safetensors": 700,
        "vocab.txt": 6,
    }

    listed = as_json(run("--json", "artifact", "ls", "admin/sentiment/bert"))
    assert [v["ref"] for v in listed] == ["admin/sentiment/bert:v0"]
    assert "admin/sentiment/bert:v0" in run("artifact", "ls", "admin/sentiment/bert").stdout


def test_link_alias_unlink(run: Run, source: Path, tmp_path: Path) -> None:
    push(run, source)
    linked = as_json(
        run("--json", "artifact", "link", "admin/sentiment/bert:v0", "Models/clf", "--alias", "qa")
    )
    assert linked["ref"] == "default/Models/clf:v0"
    assert set(linked["aliases"]) == {"qa", "latest"}
    assert linked["source"]["ref"] == "admin/sentiment/bert:v0"
    table = run("artifact", "link", "admin/sentiment/bert", "default/Models/other").stdout
    assert "default/Models/other:v0" in table

    run("alias", "set", "Models/clf:v0", "production")
    said = as_json(run("--json", "alias", "set", "wandb-registry-Models/clf:qa", "staging"))
    assert said["ref"] == "default/Models/clf:v0"
    assert {"production", "staging", "qa"} <= set(said["aliases"])
    versions = as_json(run("--json", "artifact", "ls", "Models/clf"))
    assert [v["ref"] for v in versions] == ["default/Models/clf:v0"]
    table = run("artifact", "ls", "default/Models/clf").stdout
    assert "production" in table
    assert "admin/sentiment/bert:v0" in table

    run("alias", "rm", "Models/clf", "qa")
    collection = as_json(run("--json", "collection", "show", "Models/clf"))
    assert collection["aliases"] == {"production": "v0", "staging": "v0"}
    failed = run("alias", "rm", "Models/clf", "qa", code=1)
    assert failed.stderr.startswith("Error: ")
    assert failed.stderr.count("\n") == 1

    pulled = run("artifact", "pull", "Models/clf:production", "-o", str(tmp_path / "out")).stdout
    assert "default/Models/clf:v0" in pulled
    assert run("artifact", "unlink", "Models/clf:production").stdout == (
        "Unlinked default/Models/clf:v0.\n"
    )
    assert as_json(run("--json", "artifact", "ls", "Models/clf")) == []
    run("artifact", "unlink", "admin/sentiment/bert:v0", code=2)
    run("artifact", "link", "Models/other", "Models/clf", code=2)


def test_collection_commands(run: Run, source: Path) -> None:
    created = as_json(
        run(
            "--json", "collection", "create", "Models/clf", "--type", "model",
            "--description", "Classifiers", "--tag", "nlp",
        )
    )  # fmt: skip
    assert (created["ref"], created["tags"]) == ("default/Models/clf", ["nlp"])
    run("collection", "create", "default/Models/other", "--type", "model")
    run("collection", "create", "Models/data", "--type", "dataset", code=1)

    listed = run("collection", "list", "Models").stdout
    for text in ("clf", "other", "Classifiers"):
        assert text in listed
    tagged = as_json(run("--json", "collection", "list", "Models", "--filter", '{"tag": "nlp"}'))
    assert [c["name"] for c in tagged] == ["clf"]

    edited = as_json(
        run(
            "--json", "collection", "edit", "Models/clf", "--rename", "classifier",
            "--description", "Renamed", "--add-tag", "prod", "--remove-tag", "nlp",
        )
    )  # fmt: skip
    assert (edited["name"], edited["description"], edited["tags"]) == (
        "classifier", "Renamed", ["prod"],
    )  # fmt: skip
    run("collection", "edit", "Models/classifier", code=2)
    typo = run("--json", "collection", "edit", "Models/classifier", "--remove-tag", "prdo")
    assert as_json(typo)["tags"] == ["prod"]
    assert typo.stderr.strip() == (
        "Warning: default/Models/classifier has no tag 'prdo'; nothing to remove"
    )
    assert run("collection", "edit", "Models/classifier", "--remove-tag", "prod").stderr == ""
    run("collection", "edit", "Models/classifier", "--add-tag", "prod")

    push(run, source)
    run("artifact", "link", "admin/sentiment/bert", "Models/classifier", "--alias", "prod")
    history = as_json(run("--json", "collection", "history", "Models/classifier", "--limit", "2"))
    assert [e["action"] for e in history] == ["alias.add", "version.link"]
    assert "version.link" in run("collection", "history", "Models/classifier").stdout

    assert (
        "Deleted collection default/Models/other."
        in run("collection", "delete", "Models/other", input="y\n").stdout
    )
    run("collection", "delete", "Models/classifier", input="n\n", code=1)
    deleted = as_json(run("--json", "collection", "delete", "Models/classifier", "--yes"))
    assert deleted == {"deleted": "default/Models/classifier"}
    assert as_json(run("--json", "collection", "list", "Models")) == []


def test_errors_are_one_line(run: Run, source: Path, tmp_path: Path) -> None:
    missing = run("artifact", "pull", "Models/nothing", code=1)
    assert missing.stderr.startswith("Error: ")
    assert missing.stderr.count("\n") == 1
    assert "not valid JSON" in run(
        "artifact", "push", str(source), "--project", "admin/p", "--name", "n", "--type", "t",
        "--metadata", "{bad", code=2,
    ).stderr  # fmt: skip
    bad_alias = run(
        "artifact", "push", str(source), "--project", "admin/p", "--name", "n", "--type", "t",
        "--alias", "latest", code=1,
    )  # fmt: skip
    assert "reserved" in bad_alias.stderr
    assert "names a version" in run("artifact", "ls", "Models/clf:v1", code=2).stderr
    project = run("artifact", "ls", "nlp-team/sentiment", code=1).stderr
    assert "give ENTITY/PROJECT/ARTIFACT" in project
    assert project.count("Error:") == 1
    assert "cannot read reference" in run("artifact", "show", "nope", code=1).stderr
    assert run("--json", "artifact", "pull", "Models/nothing", code=1).stdout == ""


def test_repeated_metadata_options_are_merged_in_order(run: Run, source: Path) -> None:
    pushed = push(run, source, "--metadata", '{"f1": 0.9, "lr": 1}', "--metadata", '{"f1": 0.91}')
    assert pushed["metadata"] == {"f1": 0.91, "lr": 1}
    args = ("--project", "admin/p", "--name", "n", "--type", "t", "--metadata", "{}")
    bad = run("artifact", "push", str(source), *args, "--metadata", "[1]", code=2)
    assert "must be a JSON object" in bad.stderr
