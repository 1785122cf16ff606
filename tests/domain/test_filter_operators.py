"""`$exists` in filter documents, and error messages that name every accepted operator."""

from __future__ import annotations

from typing import Any

import pytest

from cairn.server.domain.errors import ValidationError
from cairn.server.domain.filters import AllOf, Compare, Negation, parse_filter

FIELDS: dict[str, type] = {"name": str, "tag": str, "metadata": object}
EVERY_OPERATOR = "$and $eq $exists $gt $gte $in $lt $lte $ne $nin $not $or $regex"


def refused(doc: Any) -> str:
    """The message of the ValidationError that parsing `doc` raises."""
    with pytest.raises(ValidationError) as caught:
        parse_filter(doc, FIELDS)
    return caught.value.message


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize("field", ["name", "tag", "metadata.f1"])
def test_exists_takes_a_boolean(field: str, value: bool) -> None:
    assert parse_filter({field: {"$exists": value}}, FIELDS) == Compare(field, "$exists", value)


def test_exists_combines_with_not_and_other_operators() -> None:
    doc = {"metadata.f1": {"$exists": True, "$not": {"$exists": False}}}
    assert parse_filter(doc, FIELDS) == AllOf(
        (
            Compare("metadata.f1", "$exists", True),
            Negation(Compare("metadata.f1", "$exists", False)),
        )
    )


@pytest.mark.parametrize("operand", ["true", 1, 0, 1.0, None, [], [True], {"$eq": True}])
def test_exists_refuses_anything_but_a_boolean(operand: Any) -> None:
    message = refused({"tag": {"$exists": operand}})
    assert message == "$exists on 'tag' takes true or false"


@pytest.mark.parametrize("op", ["$foo", "$where", "$size", "$elemMatch"])
def test_unknown_operators_list_every_accepted_one(op: str) -> None:
    assert refused({"name": {op: "x"}}) == (
        f"unknown filter operator {op!r}; valid operators: {EVERY_OPERATOR}"
    )


def test_unknown_top_level_operators_list_operators_and_fields() -> None:
    assert refused({"$nor": [{"name": "x"}]}) == (
        f"unknown filter operator '$nor'; valid operators: {EVERY_OPERATOR}; "
        "filterable fields: metadata, name, tag"
    )


@pytest.mark.parametrize("op", ["$and", "$or"])
def test_and_or_inside_a_field_condition_say_where_they_belong(op: str) -> None:
    message = refused({"name": {op: [{"$eq": "x"}]}})
    assert message == f"{op} combines whole filters, not conditions on 'name'"
