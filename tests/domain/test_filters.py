"""W&B-style filter documents: every operator, caps on size and nesting, helpful errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cairn.server.domain import filters
from cairn.server.domain.errors import ValidationError
from cairn.server.domain.filters import AllOf, AnyOf, Compare, Negation, parse_filter

FIELDS: dict[str, type] = {
    "name": str,
    "description": str,
    "created_at": datetime,
    "updated_at": datetime,
}
T0 = "2024-05-06T07:08:09+00:00"
T0_DT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def parse(doc: Any) -> filters.Expr | None:
    return parse_filter(doc, FIELDS)


def refused(doc: Any) -> str:
    """The message of the ValidationError that parsing `doc` raises."""
    with pytest.raises(ValidationError) as caught:
        parse(doc)
    assert caught.value.code == "validation_error"
    assert caught.value.message
    return caught.value.message


def test_no_filter_is_none() -> None:
    assert parse(None) is None
    assert parse({}) is None


def test_a_bare_value_means_eq() -> None:
    assert parse({"name": "Models"}) == Compare("name", "$eq", "Models")


@pytest.mark.parametrize("op", ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
@pytest.mark.parametrize("field", ["name", "description"])
def test_string_comparisons(op: str, field: str) -> None:
    assert parse({field: {op: "abc"}}) == Compare(field, op, "abc")


@pytest.mark.parametrize("op", ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_date_comparisons_parse_iso_8601(op: str, field: str) -> None:
    assert parse({field: {op: T0}}) == Compare(field, op, T0_DT)


@pytest.mark.parametrize(
    "text",
    ["2024-05-06T07:08:09Z", "2024-05-06T07:08:09+00:00", "2024-05-06T09:08:09+02:00"],
)
def test_dates_with_zone_are_the_same_instant(text: str) -> None:
    expr = parse({"created_at": {"$gt": text}})
    assert isinstance(expr, Compare)
    assert isinstance(expr.value, datetime)
    assert expr.value == T0_DT
    assert expr.value.tzinfo is not None


def test_dates_without_zone_are_utc() -> None:
    expr = parse({"updated_at": "2024-05-06T07:08:09"})
    assert expr == Compare("updated_at", "$eq", T0_DT)
    assert isinstance(expr, Compare)
    assert isinstance(expr.value, datetime)
    assert expr.value.utcoffset() == timedelta(0)


def test_offset_is_kept_as_an_aware_datetime() -> None:
    expr = parse({"created_at": {"$lt": "2024-05-06T07:08:09-05:30"}})
    assert isinstance(expr, Compare)
    assert expr.value == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(-timedelta(hours=5.5)))


@pytest.mark.parametrize("op", ["$in", "$nin"])
def test_in_and_nin_take_lists(op: str) -> None:
    assert parse({"name": {op: ["a", "b"]}}) == Compare("name", op, ("a", "b"))
    assert parse({"name": {op: []}}) == Compare("name", op, ())
    assert parse({"created_at": {op: [T0]}}) == Compare("created_at", op, (T0_DT,))


def test_null_is_a_value() -> None:
    assert parse({"description": None}) == Compare("description", "$eq", None)
    assert parse({"description": {"$ne": None}}) == Compare("description", "$ne", None)
    assert parse({"description": {"$in": [None, "x"]}}) == Compare(
        "description", "$in", (None, "x")
    )


def test_regex_takes_a_pattern() -> None:
    assert parse({"name": {"$regex": "^mod.*s$"}}) == Compare("name", "$regex", "^mod.*s$")


def test_and_or() -> None:
    a, b = {"name": "a"}, {"description": "b"}
    assert parse({"$and": [a, b]}) == AllOf(
        (Compare("name", "$eq", "a"), Compare("description", "$eq", "b"))
    )
    assert parse({"$or": [a, b]}) == AnyOf(
        (Compare("name", "$eq", "a"), Compare("description", "$eq", "b"))
    )


def test_not_at_top_level_and_on_a_field() -> None:
    inner = Compare("name", "$eq", "a")
    assert parse({"$not": {"name": "a"}}) == Negation(inner)
    assert parse({"name": {"$not": {"$eq": "a"}}}) == Negation(inner)
    assert parse({"name": {"$not": "a"}}) == Negation(inner)
    assert parse({"name": {"$not": {"$regex": "^a"}}}) == Negation(Compare("name", "$regex", "^a"))


def test_several_keys_mean_all_of_them() -> None:
    expr = parse({"name": "a", "description": "b"})
    assert expr == AllOf((Compare("name", "$eq", "a"), Compare("description", "$eq", "b")))
    ranged = parse({"created_at": {"$gte": T0, "$lt": "2025-01-01T00:00:00Z"}})
    assert ranged == AllOf(
        (
            Compare("created_at", "$gte", T0_DT),
            Compare("created_at", "$lt", datetime(2025, 1, 1, tzinfo=UTC)),
        )
    )


def test_nested_combinations() -> None:
    doc = {
        "$or": [
            {"$and": [{"name": {"$in": ["a"]}}, {"$not": {"description": None}}]},
            {"name": "z"},
        ]
    }
    assert parse(doc) == AnyOf(
        (
            AllOf((Compare("name", "$in", ("a",)), Negation(Compare("description", "$eq", None)))),
            Compare("name", "$eq", "z"),
        )
    )


@pytest.mark.parametrize("op", ["$foo", "$EQ", "eq", "$where", "$elemMatch", "$size"])
def test_unknown_operators_are_refused_with_the_valid_ones(op: str) -> None:
    message = refused({"name": {op: "x"}})
    assert repr(op) in message
    for known in ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$not"]:
        assert known in message


@pytest.mark.parametrize("field", ["size", "id", "visibility", "$nor", "$where", "Name", ""])
def test_unknown_fields_are_refused_with_the_filterable_ones(field: str) -> None:
    message = refused({field: "x"})
    assert repr(field) in message
    for known in FIELDS:
        assert known in message


@pytest.mark.parametrize("doc", [[], [{"name": "a"}], "name", 5, True, 1.5])
def test_a_filter_must_be_an_object(doc: Any) -> None:
    assert "JSON object" in refused(doc)


@pytest.mark.parametrize("op", ["$and", "$or"])
@pytest.mark.parametrize("value", [[], {}, "x", {"name": "a"}, None])
def test_and_or_take_a_non_empty_list(op: str, value: Any) -> None:
    assert op in refused({op: value})


@pytest.mark.parametrize("value", [[], "x", 5, None])
def test_not_takes_an_object(value: Any) -> None:
    refused({"$not": value})


def test_an_empty_condition_is_refused() -> None:
    assert "'name'" in refused({"name": {}})


@pytest.mark.parametrize("field", ["name", "description"])
@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"$eq": 5}])
def test_string_fields_compare_with_strings(field: str, value: Any) -> None:
    assert "string" in refused({field: value})


def test_overlong_strings_are_refused() -> None:
    assert parse({"name": "x" * 4096}) == Compare("name", "$eq", "x" * 4096)
    assert "string" in refused({"name": "x" * 4097})


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize("value", [5, True, ["2024-01-01"]])
def test_date_fields_compare_with_date_strings(field: str, value: Any) -> None:
    assert "ISO 8601" in refused({field: {"$gt": value}})


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-01-01T25:00", "", "x" * 1000])
def test_malformed_dates_are_refused(value: str) -> None:
    message = refused({"created_at": {"$gt": value}})
    assert "ISO 8601" in message
    assert len(message) < 200


@pytest.mark.parametrize("op", ["$in", "$nin"])
@pytest.mark.parametrize("value", ["a", {"a": 1}, 5, None])
def test_in_nin_need_a_list(op: str, value: Any) -> None:
    assert op in refused({"name": {op: value}})


@pytest.mark.parametrize("op", ["$in", "$nin"])
def test_in_nin_lists_are_capped(op: str) -> None:
    assert parse({"name": {op: ["x"] * filters.MAX_LIST}}) is not None
    message = refused({"name": {op: ["x"] * (filters.MAX_LIST + 1)}})
    assert str(filters.MAX_LIST) in message


def test_in_list_items_are_type_checked() -> None:
    assert "string" in refused({"name": {"$in": ["a", 5]}})
    assert "ISO 8601" in refused({"created_at": {"$in": ["nope"]}})


def test_regex_length_is_capped() -> None:
    assert parse({"name": {"$regex": "a" * filters.MAX_PATTERN}}) is not None
    message = refused({"name": {"$regex": "a" * (filters.MAX_PATTERN + 1)}})
    assert str(filters.MAX_PATTERN) in message


@pytest.mark.parametrize("value", [5, None, ["a"], {"a": 1}])
def test_regex_must_be_a_string(value: Any) -> None:
    assert "$regex" in refused({"name": {"$regex": value}})


@pytest.mark.parametrize("pattern", ["(", "[a-", "*a", "a{2,1}", "(?P<x>a)(?P<x>b)"])
def test_invalid_regex_is_refused(pattern: str) -> None:
    assert "regular expression" in refused({"name": {"$regex": pattern}})


def nested_and(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "x"}
    for _ in range(levels):
        doc = {"$and": [doc]}
    return doc


def nested_not(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "x"}
    for _ in range(levels):
        doc = {"$not": doc}
    return doc


@pytest.mark.parametrize("make", [nested_and, nested_not])
def test_nesting_is_capped(make: Any) -> None:
    assert parse(make(filters.MAX_DEPTH - 1)) is not None
    message = refused(make(filters.MAX_DEPTH))
    assert "nested too deeply" in message
    assert str(filters.MAX_DEPTH) in message


@pytest.mark.parametrize("make", [nested_and, nested_not])
def test_very_deep_filters_fail_cleanly(make: Any) -> None:
    assert "nested too deeply" in refused(make(5000))


def test_field_level_not_chains_count_as_nesting() -> None:
    cond: Any = "x"
    for _ in range(50):
        cond = {"$not": cond}
    assert "nested too deeply" in refused({"name": cond})


def test_size_is_capped() -> None:
    # Each {"name": ...} document costs two conditions (the document and its field).
    fits = (filters.MAX_NODES - 1) // 2
    assert parse({"$or": [{"name": str(i)} for i in range(fits)]}) is not None
    message = refused({"$or": [{"name": str(i)} for i in range(fits + 1)]})
    assert "too large" in message
    assert str(filters.MAX_NODES) in message


def test_huge_flat_filters_fail_cleanly() -> None:
    assert "too large" in refused({"$or": [{"name": str(i)} for i in range(100_000)]})
    assert "too large" in refused({"name": {"$not": "x"}, "$and": [{"name": "y"}] * 1000})
