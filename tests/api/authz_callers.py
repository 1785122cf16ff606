"""Who calls in the authorization matrix (DESIGN §2's sources of a role), and the names it uses."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.server.domain.roles import OrgRole, RegistryRole, TeamRole, Visibility

ORG = "default"
OWNERS = "owners"
BYSTANDER = "bystander"  # a restricted_viewer member whose role the member routes change
NEWCOMER = "newcomer"  # an org member the POST adds
WEAKEST_FIRST = list(RegistryRole)  # DESIGN §2: "effective role = the highest of all"
# Logged artifact versions every case's registry links (a team project all org members read).
ENTITY, PROJECT, ARTIFACT = "ml", "models", "clf"
PAYLOADS = (b"weights of v0", b"weights of v1", b"weights of v2")
PROTECTED = "production"
ORDINARY = "staging"


@dataclass(frozen=True)
class CallerKind:
    """Who calls, described by the sources of a role DESIGN §2 lists."""

    name: str
    credential: str = "key"  # "key", "none" (anonymous) or "bad" (a key never issued)
    org_role: OrgRole | None = OrgRole.MEMBER  # role in the registry's organization
    direct: RegistryRole | None = None  # explicit user membership of the registry
    via_team: RegistryRole | None = None  # role of a team (the caller is a plain member of it)
    owning_team: TeamRole | None = None  # role in the team that owns the registry
    other_org: bool = False  # a member of another organization


CALLERS: tuple[CallerKind, ...] = (
    CallerKind("anonymous", credential="none", org_role=None),
    CallerKind("bad_key", credential="bad", org_role=None),
    CallerKind("org_viewer", org_role=OrgRole.VIEWER),
    CallerKind("org_member"),
    *(CallerKind(f"direct_{r.value}", direct=r) for r in RegistryRole),
    *(CallerKind(f"team_{r.value}", via_team=r) for r in RegistryRole),
    CallerKind("owning_team_admin", owning_team=TeamRole.ADMIN),
    CallerKind("owning_team_member", owning_team=TeamRole.MEMBER),
    CallerKind("org_admin", org_role=OrgRole.ADMIN),
    CallerKind("other_org", org_role=None, other_org=True),
)


def effective_role(caller: CallerKind, visibility: Visibility) -> RegistryRole | None:
    """The highest role of every source that applies (DESIGN §2), None when there is none."""
    if caller.credential != "key" or caller.org_role is None:
        return None
    sources: list[RegistryRole] = [r for r in (caller.direct, caller.via_team) if r is not None]
    if caller.org_role == OrgRole.ADMIN or caller.owning_team == TeamRole.ADMIN:
        sources.append(RegistryRole.ADMIN)
    if visibility == Visibility.ORGANIZATION:
        sources.append(RegistryRole.VIEWER)
    return max(sources, key=WEAKEST_FIRST.index) if sources else None
