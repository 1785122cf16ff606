"""THE role table: effective role is the highest, `allows` reads it, the docs render all of it."""

from __future__ import annotations

import itertools

import pytest

from cairn.server.domain import roles
from cairn.server.domain.roles import (
    ACTION_DESCRIPTIONS,
    ROLE_TABLE,
    Action,
    OrgRole,
    RegistryRole,
    allows,
    default_member_role,
    highest,
    role_table_markdown,
)

RV, V, M, A = (
    RegistryRole.RESTRICTED_VIEWER,
    RegistryRole.VIEWER,
    RegistryRole.MEMBER,
    RegistryRole.ADMIN,
)
# DESIGN §2, transcribed: the weakest role allowed to do each action.
WEAKEST_ALLOWED = {
    Action.VIEW: RV,
    Action.DOWNLOAD: V,
    Action.WRITE: M,
    Action.MANAGE_PROTECTED_ALIASES: A,
    Action.ADMINISTER: A,
}
ORDER = [RV, V, M, A]


def test_roles_are_ordered_weakest_first() -> None:
    assert list(RegistryRole) == ORDER
    assert [r.rank for r in ORDER] == sorted({r.rank for r in ORDER})
    assert [r.value for r in ORDER] == ["restricted_viewer", "viewer", "member", "admin"]


def test_highest_of_nothing_is_no_role() -> None:
    assert highest([]) is None


@pytest.mark.parametrize("role", ORDER)
def test_highest_of_one_role_is_that_role(role: RegistryRole) -> None:
    assert highest([role]) is role


@pytest.mark.parametrize("size", [2, 3, 4])
def test_highest_is_the_strongest_of_any_combination(size: int) -> None:
    for combo in itertools.product(ORDER, repeat=size):
        expected = ORDER[max(ORDER.index(r) for r in combo)]
        assert highest(list(combo)) is expected, combo


def test_highest_ignores_order_and_duplicates() -> None:
    for perm in itertools.permutations([RV, A, V, M, V]):
        assert highest(list(perm)) is A
    assert highest([V, V, RV]) is V


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", ORDER)
def test_allows_agrees_with_the_role_table(role: RegistryRole, action: Action) -> None:
    assert allows(role, action) is (role in ROLE_TABLE[action])


@pytest.mark.parametrize("action", list(Action))
def test_no_role_allows_nothing(action: Action) -> None:
    assert allows(None, action) is False


@pytest.mark.parametrize("action", list(Action))
def test_role_table_is_the_one_in_the_design(action: Action) -> None:
    weakest = WEAKEST_ALLOWED[action]
    expected = {r for r in ORDER if r.rank >= weakest.rank}
    assert ROLE_TABLE[action] == expected


@pytest.mark.parametrize("action", list(Action))
def test_a_stronger_role_can_do_whatever_a_weaker_one_can(action: Action) -> None:
    for weak, strong in itertools.combinations(ORDER, 2):
        if allows(weak, action):
            assert allows(strong, action), (weak, strong, action)


def test_every_action_has_a_table_entry_and_a_description() -> None:
    assert set(ROLE_TABLE) == set(Action)
    assert set(ACTION_DESCRIPTIONS) == set(Action)
    assert all(ROLE_TABLE[a] for a in Action), "every action is allowed to someone"
    assert all(ACTION_DESCRIPTIONS[a].strip() for a in Action)


def test_admin_can_do_everything_and_restricted_viewer_only_view() -> None:
    assert all(allows(A, a) for a in Action)
    assert [a for a in Action if allows(RV, a)] == [Action.VIEW]


def _markdown_rows() -> tuple[list[str], dict[str, list[str]]]:
    lines = role_table_markdown().splitlines()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, rule, body = cells[0], cells[1], cells[2:]
    assert len(rule) == len(header)
    return header, {row[0]: row[1:] for row in body}


def test_markdown_has_a_column_per_role_in_order() -> None:
    header, _ = _markdown_rows()
    assert header == ["Action"] + [r.value for r in ORDER]


def test_markdown_renders_every_action_once() -> None:
    _, rows = _markdown_rows()
    assert len(rows) == len(Action)
    assert set(rows) == {ACTION_DESCRIPTIONS[a] for a in Action}


@pytest.mark.parametrize("action", list(Action))
def test_markdown_ticks_match_the_table(action: Action) -> None:
    _, rows = _markdown_rows()
    marks = rows[ACTION_DESCRIPTIONS[action]]
    assert len(marks) == len(ORDER)
    for role, mark in zip(ORDER, marks, strict=True):
        assert mark == ("✓" if role in ROLE_TABLE[action] else ""), (action, role)


def test_markdown_follows_a_changed_table(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = dict(ROLE_TABLE)
    changed[Action.DOWNLOAD] = frozenset({A})
    monkeypatch.setattr(roles, "ROLE_TABLE", changed)
    _, rows = _markdown_rows()
    assert rows[ACTION_DESCRIPTIONS[Action.DOWNLOAD]] == ["", "", "", "✓"]


def test_default_member_roles() -> None:
    assert default_member_role(False) is RV
    assert default_member_role(True) is M


def test_org_viewers_cannot_create_registries() -> None:
    creators = roles.ORG_ROLES_THAT_CREATE_REGISTRIES
    assert creators == {OrgRole.MEMBER, OrgRole.ADMIN}
