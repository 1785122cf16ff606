"""THE role table: which registry role may perform which action. Code, tests and docs read it."""

from __future__ import annotations

from enum import StrEnum


class RegistryRole(StrEnum):
    """A role on a registry, weakest first."""

    RESTRICTED_VIEWER = "restricted_viewer"
    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {role: i for i, role in enumerate(RegistryRole)}


class Action(StrEnum):
    """Everything a caller can try to do to a registry or its contents."""

    VIEW = "view"
    DOWNLOAD = "download"
    WRITE = "write"
    MANAGE_PROTECTED_ALIASES = "manage_protected_aliases"
    ADMINISTER = "administer"


ACTION_DESCRIPTIONS: dict[Action, str] = {
    Action.VIEW: "See registry, its settings, members, collections, versions, metadata; search",
    Action.DOWNLOAD: "Download files, resolve for use",
    Action.WRITE: (
        "Create/rename/delete collections, edit descriptions and tags, link/unlink, "
        "add/move ordinary aliases"
    ),
    Action.MANAGE_PROTECTED_ALIASES: (
        "Add/move/remove protected aliases; unlink a version holding one; define protected aliases"
    ),
    Action.ADMINISTER: (
        "Change visibility, accepted types, members and roles; rename; delete the registry"
    ),
}

R = RegistryRole
ROLE_TABLE: dict[Action, frozenset[RegistryRole]] = {
    Action.VIEW: frozenset({R.RESTRICTED_VIEWER, R.VIEWER, R.MEMBER, R.ADMIN}),
    Action.DOWNLOAD: frozenset({R.VIEWER, R.MEMBER, R.ADMIN}),
    Action.WRITE: frozenset({R.MEMBER, R.ADMIN}),
    Action.MANAGE_PROTECTED_ALIASES: frozenset({R.ADMIN}),
    Action.ADMINISTER: frozenset({R.ADMIN}),
}


def allows(role: RegistryRole | None, action: Action) -> bool:
    """Whether `role` (None: no role at all) may perform `action`."""
    return role is not None and role in ROLE_TABLE[action]


def highest(roles: list[RegistryRole]) -> RegistryRole | None:
    """The effective role: the highest of all that apply, or None."""
    return max(roles, key=lambda r: r.rank) if roles else None


class OrgRole(StrEnum):
    """A role in an organization."""

    VIEWER = "viewer"
    MEMBER = "member"
    ADMIN = "admin"


ORG_ROLES_THAT_CREATE_REGISTRIES = frozenset({OrgRole.MEMBER, OrgRole.ADMIN})


class TeamRole(StrEnum):
    """A role in a team."""

    MEMBER = "member"
    ADMIN = "admin"


class Visibility(StrEnum):
    """Who can see a registry."""

    RESTRICTED = "restricted"
    ORGANIZATION = "organization"


def default_member_role(is_service: bool) -> RegistryRole:
    """The role a new registry member gets when none is given."""
    return RegistryRole.MEMBER if is_service else RegistryRole.RESTRICTED_VIEWER


def role_table_markdown() -> str:
    """The role table as a Markdown table (docs are generated from it)."""
    roles = list(RegistryRole)
    lines = [
        "| Action | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "|".join(":-:" for _ in roles) + "|",
    ]
    for action in Action:
        marks = " | ".join("✓" if r in ROLE_TABLE[action] else "" for r in roles)
        lines.append(f"| {ACTION_DESCRIPTIONS[action]} | {marks} |")
    return "\n".join(lines)
