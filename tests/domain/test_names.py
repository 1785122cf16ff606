"""Registry naming rules of DESIGN §2: length, forbidden characters, NFC, case-insensitive keys."""

from __future__ import annotations

import unicodedata

import pytest

from cairn.server.domain import names
from cairn.server.domain.errors import ValidationError

FORBIDDEN = ["/", "\\", "#", "?", "%", ":"]
LINE_BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\t", "\x1b", "\x7f", "\x80", "\x9f"]


def refused(raw: str) -> str:
    """The message of the ValidationError that registry_name(raw) raises."""
    with pytest.raises(ValidationError) as caught:
        names.registry_name(raw)
    assert caught.value.code == "validation_error"
    return caught.value.message


@pytest.mark.parametrize("length", [1, 2, 64, 127, 128])
def test_lengths_from_1_to_128_are_accepted(length: int) -> None:
    raw = ("ab" * 128)[:length]
    assert names.registry_name(raw) == raw


@pytest.mark.parametrize("raw", ["", " ", "   ", "\u3000"])
def test_empty_or_blank_name_is_refused(raw: str) -> None:
    assert "empty" in refused(raw)


@pytest.mark.parametrize("length", [129, 130, 1000])
def test_names_over_128_characters_are_refused(length: int) -> None:
    assert "128" in refused("x" * length)


def test_length_counts_characters_not_bytes() -> None:
    raw = "é" * 128  # 256 bytes in UTF-8
    assert names.registry_name(raw) == raw
    assert "128" in refused("é" * 129)


def test_length_is_measured_after_nfc_normalisation() -> None:
    decomposed = "e\u0301" * 128  # 256 code points, 128 once composed
    assert names.registry_name(decomposed) == "é" * 128


@pytest.mark.parametrize("char", FORBIDDEN)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_each_forbidden_character_is_refused(char: str, where: str) -> None:
    raw = {"start": f"{char}name", "middle": f"na{char}me", "end": f"name{char}"}[where]
    message = refused(raw)
    assert "must not contain" in message
    assert char in message.split("found", 1)[1]


def test_message_lists_every_forbidden_character_found() -> None:
    message = refused("a/b:c#d")
    found = message.split("found", 1)[1]
    assert all(c in found for c in "/:#")


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=[f"U+{ord(c[0]):04X}" for c in LINE_BREAKS])
def test_line_breaks_are_refused(brk: str) -> None:
    message = refused(f"first{brk}second")
    assert "line break" in message or "control" in message


@pytest.mark.parametrize("ctl", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_characters_are_refused(ctl: str) -> None:
    assert "control" in refused(f"a{ctl}b")


@pytest.mark.parametrize(
    "raw", ["My Models", "a b c", "two  spaces", "Café Noir", "模型 库", "🚀 rockets"]
)
def test_inner_spaces_and_unicode_are_allowed(raw: str) -> None:
    assert names.registry_name(raw) == raw


@pytest.mark.parametrize("raw", [" leading", "trailing ", "\u00a0nbsp"])
def test_surrounding_white_space_is_refused(raw: str) -> None:
    assert "white space" in refused(raw)


@pytest.mark.parametrize("raw", ["a-b", "a_b", "a.b", "a+b", "a(b)", "a@b", "a!b", "a'b", 'a"b'])
def test_other_punctuation_is_allowed(raw: str) -> None:
    assert names.registry_name(raw) == raw


def test_names_are_nfc_normalised() -> None:
    decomposed = "Cafe\u0301"
    result = names.registry_name(decomposed)
    assert result == "Café"
    assert result == unicodedata.normalize("NFC", decomposed)
    assert len(result) == 4


def test_already_composed_names_are_unchanged() -> None:
    assert names.registry_name("Café") == "Café"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Models", "MODELS"),
        ("Models", "models"),
        ("Café", "Cafe\u0301"),
        ("CAFÉ", "cafe\u0301"),
        ("Straße", "STRASSE"),
        ("Σίσυφος", "ΣΊΣΥΦΟΣ"),
    ],
)
def test_name_key_ignores_case_and_normalisation(a: str, b: str) -> None:
    assert names.name_key(a) == names.name_key(b)


@pytest.mark.parametrize(("a", "b"), [("Café", "Cafe"), ("Models", "Model"), ("a b", "ab")])
def test_name_key_keeps_different_names_apart(a: str, b: str) -> None:
    assert names.name_key(a) != names.name_key(b)


def test_wandb_registry_prefix_is_stripped() -> None:
    assert names.strip_registry_prefix("wandb-registry-Models") == "Models"
    assert names.registry_name("wandb-registry-Models") == "Models"
    assert names.registry_name("wandb-registry-My Models") == "My Models"


def test_only_one_prefix_is_stripped_and_only_at_the_start() -> None:
    assert names.strip_registry_prefix("wandb-registry-wandb-registry-x") == "wandb-registry-x"
    assert names.strip_registry_prefix("my-wandb-registry-x") == "my-wandb-registry-x"
    assert names.strip_registry_prefix("Models") == "Models"


def test_prefix_alone_is_an_empty_name() -> None:
    assert names.strip_registry_prefix("wandb-registry-") == ""
    assert "empty" in refused("wandb-registry-")


def test_prefixed_name_is_validated_after_stripping() -> None:
    assert names.registry_name("wandb-registry-" + "x" * 128) == "x" * 128
    assert "128" in refused("wandb-registry-" + "x" * 129)
    assert "must not contain" in refused("wandb-registry-a/b")


@pytest.mark.parametrize("raw", ["model", "dataset", "my-type", "type_2", "a.b", "x" * 128])
def test_artifact_types_follow_wandb_rules(raw: str) -> None:
    assert names.artifact_type(raw) == raw


@pytest.mark.parametrize("raw", ["", "a/b", "a:b", "x" * 129, "a b", "a\nb"])
def test_bad_artifact_types_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="artifact type"):
        names.artifact_type(raw)


@pytest.mark.parametrize("raw", ["production", "staging", "v1-candidate", "x" * 128])
def test_aliases_are_accepted(raw: str) -> None:
    assert names.alias(raw) == raw


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("a/b", "letters"),
        ("a:b", "letters"),
        ("x" * 129, "letters"),
        ("v3", "version"),
        ("latest", "reserved"),
    ],
)
def test_bad_aliases_are_refused_with_a_reason(raw: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        names.alias(raw)


@pytest.mark.parametrize("raw", ["alice", "Bob.Smith", "svc-bot_1", "a" * 64])
def test_entity_names_are_accepted(raw: str) -> None:
    assert names.entity_name(raw) == raw


@pytest.mark.parametrize("raw", ["", "-alice", "a b", "a/b", "a" * 65, "ålice", "a@b"])
def test_bad_entity_names_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="1-64 characters"):
        names.entity_name(raw, "username")


def test_emails_are_lower_cased_and_checked() -> None:
    assert names.email("Bob@Example.COM") == "bob@example.com"
    for bad in ["bob", "bob@", "@x.org", "bob@x", "a b@x.org", "x" * 250 + "@x.org"]:
        with pytest.raises(ValidationError, match="email"):
            names.email(bad)


def test_passwords_have_a_minimum_length_and_a_byte_cap() -> None:
    assert names.password("x" * names.MIN_PASSWORD) == "x" * names.MIN_PASSWORD
    with pytest.raises(ValidationError, match="at least"):
        names.password("x" * (names.MIN_PASSWORD - 1))
    with pytest.raises(ValidationError, match="at most"):
        names.password("é" * names.MAX_PASSWORD)
