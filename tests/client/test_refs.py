"""The reference grammar on the client: refs, collection paths, linked refs, manifest names."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import cairn
from cairn.client._manifest import check_alias, check_file_name, check_manifest
from cairn.client._refs import (
    CollectionPath,
    Ref,
    collection_path,
    is_version,
    linked_ref,
    logged_parts,
    parse_ref,
)
from cairn.server.domain.errors import ValidationError as ServerValidationError
from cairn.server.domain.manifest import file_path as server_file_path
from cairn.server.domain.names import alias as server_alias
from cairn.server.domain.refs import parse_ref as server_parse_ref


def default_org() -> str:
    return "default"


@pytest.mark.parametrize(
    ("raw", "parts", "selector"),
    [
        ("Models/sentiment", ("Models", "sentiment"), None),
        ("Models/sentiment:production", ("Models", "sentiment"), "production"),
        ("wandb-registry-Models/sentiment:v3", ("Models", "sentiment"), "v3"),
        ("default/Models/sentiment:latest", ("default", "Models", "sentiment"), "latest"),
        ("default/wandb-registry-Models/sentiment", ("default", "Models", "sentiment"), None),
        ("nlp-team/sentiment/bert:v0", ("nlp-team", "sentiment", "bert"), "v0"),
        ("Fine Tuned/sentiment", ("Fine Tuned", "sentiment"), None),
    ],
)
def test_parse_ref(raw: str, parts: tuple[str, ...], selector: str | None) -> None:
    ref = parse_ref(raw)
    assert ref == Ref(parts, selector)
    assert ref.version == (selector or "latest")
    assert ref.is_short is (len(parts) == 2)


@pytest.mark.parametrize(
    "raw",
    ["", "one", "a/b/c/d", "a//b", "/a/b", "a/b:", "a/b/", "a\0/b", "x" * 1025, "Models/a:b:c"],
)
def test_unreadable_refs(raw: str) -> None:
    with pytest.raises(cairn.ValidationError):
        parse_ref(raw)


def test_ref_str_round_trips() -> None:
    assert str(parse_ref("a/b/c:v1")) == "a/b/c:v1"
    assert str(parse_ref("Models/x")) == "Models/x"
    assert is_version("v12")
    assert not is_version("production")


def test_collection_paths() -> None:
    assert collection_path("Models/x", default_org) == CollectionPath("default", "Models", "x")
    assert collection_path("acme/wandb-registry-Models/x", default_org) == CollectionPath(
        "acme", "Models", "x"
    )
    place = CollectionPath("default", "Fine Tuned", "a/b")
    assert place.api("versions", "v1") == (
        "/api/v1/orgs/default/registries/Fine%20Tuned/collections/a%2Fb/versions/v1"
    )
    with pytest.raises(cairn.ValidationError, match="names a version"):
        collection_path("Models/x:v1", default_org)


def test_short_forms_ask_for_the_default_org_only_when_needed() -> None:
    def no_server() -> str:
        raise AssertionError("default organization looked up for a full path")

    assert collection_path("acme/Models/x", no_server).organization == "acme"
    assert linked_ref("acme/Models/x:v2", no_server) == (
        CollectionPath("acme", "Models", "x"),
        "v2",
    )
    assert linked_ref("Models/x", default_org)[1] == "latest"


def test_logged_parts() -> None:
    assert logged_parts("team/proj/art:v1") == ("team", "proj", "art")
    with pytest.raises(cairn.ValidationError, match="not a logged artifact"):
        logged_parts("Models/x")


@pytest.mark.parametrize(
    "name",
    ["../evil", "/etc/x", "a/../../x", "C:\\x", "..\\x", "C:x", "a//b", "./a", "a/", "a\0b",
     "a\nb", "e\u0301", "x" * 1025, ""],
)  # fmt: skip
def test_bad_file_names(name: str) -> None:
    with pytest.raises(cairn.ValidationError):
        check_file_name(name)


def test_good_file_names_and_manifests() -> None:
    for name in ("model.safetensors", "tokenizer/vocab.txt", "é/ü space.bin", "..a", "a..b"):
        assert check_file_name(name) == name
    check_manifest(["a/b", "a/c", "b"])
    with pytest.raises(cairn.ValidationError, match="appears twice"):
        check_manifest(["Model.bin", "model.BIN"])
    with pytest.raises(cairn.ValidationError, match="also used as a folder"):
        check_manifest(["a/b", "a"])


@pytest.mark.parametrize("alias", ["latest", "v3", "v01", "a/b", "a:b", "", "x" * 129])
def test_bad_aliases(alias: str) -> None:
    with pytest.raises(cairn.ValidationError):
        check_alias(alias)


# The SDK cannot import the server, so it carries its own copy of these rules; these tests
# keep the two copies in agreement on a corpus of good and bad input.

NAMES = [
    "model.bin", "a/b/c.txt", "é.txt", "e\u0301.txt", "../x", "a/../b", "/abs", "C:x", "c:\\x",
    "a\\b", "a//b", "./a", "a/.", "..a", "a..", ".hidden", "a b", "a\tb", "a\u200bb", "a\u2028b",
    "", "x" * 1024, "x" * 1025, "a:b", "😀/x", "a/", " ", ".cairn-partial/x", ".CAIRN-partial/x",
    "a/.cairn-partial/x",
]  # fmt: skip
REFS = [
    "a/b", "a/b/c", "a/b/c:v1", "a/b:alias", "wandb-registry-M/c", "o/wandb-registry-M/c:v0",
    "a", "a/b/c/d", "a//c", "a/b:", "a:b/c", "a/b:c:d", "a/b/c:v01", "a/b\0", "o/r/a:b:c", "a/b:c:",
]  # fmt: skip
ALIASES = ["prod", "latest", "v1", "v01", "vv1", "a.b-c_d", "a b", "x" * 128, "x" * 129, ""]


def _outcome(check: Callable[[], object]) -> object:
    try:
        return check()
    except (cairn.ValidationError, ServerValidationError):
        return "refused"


@pytest.mark.parametrize("name", NAMES)
def test_file_names_follow_the_server_rules(name: str) -> None:
    assert _outcome(lambda: check_file_name(name)) == _outcome(lambda: server_file_path(name))


@pytest.mark.parametrize("raw", REFS)
def test_refs_parse_like_the_server(raw: str) -> None:
    def client() -> object:
        ref = parse_ref(raw)
        version = f"v{int(ref.version[1:])}" if is_version(ref.version) else ref.version
        return ref.parts, version  # the server reads v01 as v1

    def server() -> object:
        ref = server_parse_ref(raw)
        return ref.parts, str(ref.selector)

    assert _outcome(client) == _outcome(server)


@pytest.mark.parametrize("alias", ALIASES)
def test_aliases_follow_the_server_rules(alias: str) -> None:
    assert _outcome(lambda: check_alias(alias)) == _outcome(lambda: server_alias(alias))
