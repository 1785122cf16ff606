"""The SDK against the real server: logging, re-logging, linking, resolving every ref form."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import cairn
from tests.client.artifacts_support import (
    logged,
    record,
    sample_artifact,
    sha256,
    stored,
    uploads,
    write,
)
from tests.conftest import MakeUser


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Downloads cache blobs under the test's folder, never in the home folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CAIRN_CACHE_DIR", str(folder))
    return folder


def test_log_files_and_a_folder(api: cairn.Api, tmp_path: Path, app_client: httpx.Client) -> None:
    requests = record(app_client)
    acknowledged = stored(app_client)
    version = logged(api, tmp_path / "src")
    assert version.ref == "nlp-team/sentiment/sentiment-bert:v0"
    assert (version.version, version.version_index) == ("v0", 0)
    assert (version.entity, version.project, version.name, version.type) == (
        "nlp-team", "sentiment", "sentiment-bert", "model",
    )  # fmt: skip
    assert set(version.aliases) == {"candidate", "latest"}
    assert version.metadata == {"f1": 0.91}
    assert version.description == "BERT"
    assert version.created_by == "admin"
    model = (tmp_path / "src" / "model.safetensors").read_bytes()
    by_name = {f.path: f for f in version.files}
    assert sorted(by_name) == [
        "model.safetensors",
        "tokenizer/sub/config.json",
        "tokenizer/vocab.txt",
    ]
    assert (by_name["model.safetensors"].sha256, by_name["model.safetensors"].size) == (
        sha256(model), len(model),
    )  # fmt: skip
    assert version.file_count == 3
    sent = uploads(requests)
    assert len(sent) == 1, "three small files go in one blob stream"
    assert sent[0].headers["content-type"] == "application/vnd.cairn.blobs"
    assert int(sent[0].headers["content-length"]) > len(model)
    assert "transfer-encoding" not in sent[0].headers
    assert sorted(acknowledged) == sorted(f.sha256 for f in version.files)


def test_identical_relog_returns_the_version_and_uploads_nothing(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    first = logged(api, tmp_path / "src")
    requests = record(app_client)
    again = api.log_artifact(sample_artifact(tmp_path / "src"), "nlp-team/sentiment", ["rerun"])
    assert again.ref == first.ref
    assert again.digest == first.digest
    assert uploads(requests) == []
    assert set(again.aliases) == {"candidate", "rerun", "latest"}
    assert (first.new, again.new) == (True, False), "log_artifact tells which it did"
    found = api.artifact(first.ref)
    assert isinstance(found, cairn.Version)
    assert found.new is None, "only log_artifact knows"


def test_another_uploader_must_send_the_bytes_again(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, make_user: MakeUser
) -> None:
    first = logged(api, tmp_path / "src")
    mia_key = make_user("mia")
    api.team("nlp-team").add_member("mia")
    acknowledged = stored(app_client)
    with cairn.Api(client=app_client, api_key=mia_key) as mia:
        again = mia.log_artifact(sample_artifact(tmp_path / "src"), "nlp-team/sentiment")
    assert again.ref == first.ref
    assert len(acknowledged) == 3  # whether a blob exists is never revealed to others


def test_changed_content_is_a_new_version_uploading_only_what_changed(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    logged(api, tmp_path / "src")
    write(tmp_path / "src" / "tokenizer" / "vocab.txt", "hello\nthere\n")
    acknowledged = stored(app_client)
    second = api.log_artifact(sample_artifact(tmp_path / "src"), "nlp-team/sentiment")
    assert second.ref == "nlp-team/sentiment/sentiment-bert:v1"
    assert acknowledged == [sha256(b"hello\nthere\n")]
    assert [v.version for v in api.artifact_versions("nlp-team/sentiment/sentiment-bert")] == [
        "v1", "v0",
    ]  # fmt: skip


def test_same_content_under_two_names_is_uploaded_once(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    api.create_team("dups")
    art = cairn.Artifact("twins", type="dataset")
    art.add_file(write(tmp_path / "a.txt", "same"))
    art.add_file(write(tmp_path / "b.txt", "same"), name="copy/b.txt")
    art.add_file(write(tmp_path / "empty", b""))
    acknowledged = stored(app_client)
    version = api.log_artifact(art, "dups/data")
    assert len(acknowledged) == 2
    assert sorted(f.path for f in version.files) == ["a.txt", "copy/b.txt", "empty"]


@pytest.mark.parametrize(
    "name", ["../evil", "/etc/x", "a/../../x", "C:\\x", "..\\x", "a//b", "e\u0301"]
)
def test_bad_names_fail_before_anything_is_sent(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client, name: str
) -> None:
    requests = record(app_client)
    art = cairn.Artifact("bad", type="model")
    with pytest.raises(cairn.ValidationError):
        art.add_file(write(tmp_path / "f", "x"), name=name)
    assert art.files == {}
    assert requests == []


def test_manifest_rules_are_checked_before_upload(
    api: cairn.Api, tmp_path: Path, app_client: httpx.Client
) -> None:
    requests = record(app_client)
    art = cairn.Artifact("bad", type="model")
    art.add_file(write(tmp_path / "f", "x"), name="Model.bin")
    with pytest.raises(cairn.ValidationError, match="already in artifact"):
        art.add_file(tmp_path / "f", name="model.BIN")
    art.add_file(tmp_path / "f", name="Model.bin/inner")  # a file is also a folder
    with pytest.raises(cairn.ValidationError, match="also used as a folder"):
        api.log_artifact(art, "team/proj")
    good = cairn.Artifact("good", type="model")
    good.add_file(tmp_path / "f")
    for aliases in (["latest"], ["v3"], ["a/b"]):
        with pytest.raises(cairn.ValidationError):
            api.log_artifact(good, "team/proj", aliases=aliases)
    with pytest.raises(cairn.ValidationError, match="entity"):
        api.log_artifact(good, "no-project")
    with pytest.raises(cairn.ValidationError, match="JSON"):
        api.log_artifact(cairn.Artifact("m", "model", metadata={"x": object()}), "team/proj")
    with pytest.raises(cairn.ValidationError):
        cairn.Artifact("bad/name", type="model")
    with pytest.raises(cairn.ValidationError, match="not a file"):
        good.add_file(tmp_path / "missing")
    with pytest.raises(cairn.ValidationError, match="not a folder"):
        good.add_dir(tmp_path / "f")
    assert requests == []


def test_add_dir_at_the_root_and_nfc_names(tmp_path: Path) -> None:
    write(tmp_path / "d" / "e\u0301.txt", "accent")
    write(tmp_path / "d" / "z" / "a.bin", "a")
    art = cairn.Artifact("dir", type="dataset")
    assert art.add_dir(tmp_path / "d") == ["\u00e9.txt", "z/a.bin"]
    assert art.add_dir(tmp_path / "d", name="copy/") == ["copy/\u00e9.txt", "copy/z/a.bin"]
    with pytest.raises(cairn.ValidationError, match="already in artifact"):
        art.add_dir(tmp_path / "d")
    assert len(art.files) == 4


def test_add_dir_reads_links_to_files_and_skips_links_to_folders(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "weights.bin", "w")
    write(tmp_path / "elsewhere" / "sub" / "deep.bin", "d")
    write(tmp_path / "d" / "own.txt", "o")
    (tmp_path / "d" / "linked.bin").symlink_to(tmp_path / "elsewhere" / "weights.bin")
    (tmp_path / "d" / "folder").symlink_to(tmp_path / "elsewhere" / "sub", target_is_directory=True)
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d", target_is_directory=True)
    (tmp_path / "d" / "dangling").symlink_to(tmp_path / "missing")
    art = cairn.Artifact("dir", type="dataset")
    assert art.add_dir(tmp_path / "d") == ["linked.bin", "own.txt"]
    assert art.files["linked.bin"] == tmp_path / "d" / "linked.bin"


def test_link_with_aliases_and_relink(api: cairn.Api, tmp_path: Path) -> None:
    version = logged(api, tmp_path / "src")
    linked = version.link("Models/sentiment-classifier", aliases=["staging"])
    assert linked.ref == "default/Models/sentiment-classifier:v0"
    assert (linked.organization, linked.registry, linked.collection) == (
        "default", "Models", "sentiment-classifier",
    )  # fmt: skip
    assert set(linked.aliases) == {"staging", "latest"}
    assert linked.source.ref == version.ref
    assert linked.metadata == {"f1": 0.91}
    assert linked.role == "admin"
    assert sorted(f.path for f in linked.files) == sorted(f.path for f in version.files)
    again = version.link("default/wandb-registry-Models/sentiment-classifier", aliases=["qa"])
    assert again.ref == linked.ref
    assert set(again.aliases) == {"staging", "qa", "latest"}
    with pytest.raises(cairn.ValidationError, match="names a version"):
        version.link("Models/sentiment-classifier:v0")
    with pytest.raises(cairn.ConflictError, match="model"):
        version.link("Datasets/wrong-type")


def test_resolve_every_reference_form(api: cairn.Api, tmp_path: Path) -> None:
    version = logged(api, tmp_path / "src")
    version.link("Models/sentiment-classifier", aliases=["production"])
    linked_ref = "default/Models/sentiment-classifier:v0"
    for ref in (
        "Models/sentiment-classifier",
        "Models/sentiment-classifier:production",
        "Models/sentiment-classifier:v0",
        "Models/sentiment-classifier:latest",
        "wandb-registry-Models/sentiment-classifier:production",
        "default/Models/sentiment-classifier:production",
        "default/wandb-registry-Models/sentiment-classifier",
    ):
        found = api.artifact(ref)
        assert isinstance(found, cairn.LinkedVersion), ref
        assert found.ref == linked_ref
        assert len(found.files) == 3
    for ref in (
        "nlp-team/sentiment/sentiment-bert",
        "nlp-team/sentiment/sentiment-bert:v0",
        "nlp-team/sentiment/sentiment-bert:candidate",
    ):
        found = api.artifact(ref, type="model")
        assert isinstance(found, cairn.Version), ref
        assert found.ref == version.ref
    with pytest.raises(cairn.ValidationError, match="not a 'dataset'"):
        api.artifact("Models/sentiment-classifier", type="dataset")
    with pytest.raises(cairn.NotFoundError):
        api.artifact("Models/sentiment-classifier:v9")
    with pytest.raises(cairn.ValidationError):
        api.artifact("just-one-part")


def test_aliases_move_and_unlink(api: cairn.Api, tmp_path: Path) -> None:
    first = logged(api, tmp_path / "src")
    write(tmp_path / "src" / "model.safetensors", b"better weights")
    second = api.log_artifact(sample_artifact(tmp_path / "src"), "nlp-team/sentiment")
    v0 = first.link("Models/clf", aliases=["production"])
    v1 = second.link("Models/clf")
    assert v1.ref == "default/Models/clf:v1"
    v1.set_alias("production")
    assert "production" in v1.aliases
    v0.load()
    assert "production" not in v0.aliases
    with pytest.raises(cairn.NotFoundError, match="no alias"):
        v0.remove_alias("production")
    v1.remove_alias("production")
    assert "production" not in v1.aliases
    with pytest.raises(cairn.ValidationError):
        v1.set_alias("v7")
    v0.unlink()
    assert [v.version for v in api.collection("Models/clf").versions()] == ["v1"]
    with pytest.raises(cairn.NotFoundError):
        api.artifact("Models/clf:v0")


def test_collections_on_a_registry(api: cairn.Api, tmp_path: Path) -> None:
    registry = api.create_registry(name="Tuned", visibility="restricted", artifact_types=["model"])
    created = registry.create_collection("clf", type="model", description="First", tags=["nlp"])
    assert (created.ref, created.type, created.tags, created.version_count) == (
        "default/Tuned/clf", "model", ["nlp"], 0,
    )  # fmt: skip
    for index in range(3):
        registry.create_collection(f"extra-{index}", type="model")
    assert [c.name for c in registry.collections(per_page=2)] == [
        "clf", "extra-0", "extra-1", "extra-2",
    ]  # fmt: skip
    assert [c.name for c in registry.collections(filter={"tag": "nlp"})] == ["clf"]
    with pytest.raises(cairn.ConflictError):
        registry.create_collection("datasets", type="dataset")

    clf = api.collection("Tuned/clf")
    clf.name, clf.description, clf.tags = "classifier", "Renamed", ["nlp", "prod"]
    clf.save()
    assert api.collection("default/Tuned/classifier").tags == ["nlp", "prod"]
    with pytest.raises(cairn.NotFoundError):
        api.collection("Tuned/clf")

    version = logged(api, tmp_path / "src")
    linked = clf.link(version.ref, aliases=["staging"])
    clf.load()
    assert (clf.version_count, clf.aliases) == (1, {"staging": "v0"})
    assert clf.version("staging").ref == linked.ref
    assert clf.set_alias("production", "v0").ref == linked.ref
    assert clf.aliases == {"production": "v0", "staging": "v0"}
    clf.remove_alias("staging")
    assert clf.aliases == {"production": "v0"}
    actions = [event.action for event in clf.history(per_page=2)]
    assert actions[:4] == ["alias.remove", "alias.add", "alias.add", "version.link"]
    assert "collection.create" in actions
    clf.delete()
    with pytest.raises(cairn.NotFoundError):
        api.collection("Tuned/classifier")


def test_versions_across_registries(api: cairn.Api, tmp_path: Path) -> None:
    version = logged(api, tmp_path / "src")
    version.link("Models/a", aliases=["production"])
    version.link("Models/b")
    api.create_registry(name="Other", visibility="organization")
    version.link("Other/c", aliases=["production"])
    everywhere = api.registries().versions(filter={"alias": "production"}, per_page=1)
    assert sorted(v.ref for v in everywhere) == ["default/Models/a:v0", "default/Other/c:v0"]
    models = api.registry("Models").versions()
    assert sorted(v.ref for v in models) == ["default/Models/a:v0", "default/Models/b:v0"]
    only_other = api.registries(filter={"name": "Other"}).versions()
    assert [v.ref for v in only_other] == ["default/Other/c:v0"]
    collections = api.registries(filter={"name": {"$in": ["Models", "Other"]}}).collections()
    assert sorted(c.ref for c in collections) == [
        "default/Models/a", "default/Models/b", "default/Other/c",
    ]  # fmt: skip
    found = api.registry("Models").versions(filter={"metadata.f1": {"$gt": 0.9}})
    assert len(list(found)) == 2
