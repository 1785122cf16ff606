"""Registry members: users and teams holding a role on a registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cairn.server.db.models import Entity, OrgMember, Registry, RegistryMember, Team, User
from cairn.server.domain.errors import ConflictError, NotFoundError, ValidationError
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import Action, RegistryRole, default_member_role
from cairn.server.services import accounts, audit, orgs, registries, teams

MAX_MEMBERS_PER_REQUEST = 100
KINDS = ("user", "team")


@dataclass(frozen=True)
class MemberView:
    """One member row as responses show it."""

    kind: str
    name: str
    email: str | None
    role: RegistryRole


@dataclass(frozen=True)
class MemberSpec:
    """A member to add: a username, an email or a team name, optionally typed, with a role."""

    member: str
    kind: str | None = None
    role: str | None = None


def parse_role(raw: str) -> RegistryRole:
    """A registry role from its name, or a 422 listing the valid ones."""
    try:
        return RegistryRole(raw)
    except ValueError:
        valid = ", ".join(r.value for r in RegistryRole)
        raise ValidationError(f"unknown registry role {raw!r}; valid roles: {valid}") from None


def _kind(raw: str | None) -> str | None:
    if raw is not None and raw not in KINDS:
        raise ValidationError(f"unknown member kind {raw!r}; valid kinds: user, team")
    return raw


def list_members(
    s: Session, actor: Principal, org_name: str, registry_name: str
) -> list[MemberView]:
    """Every member of a registry the actor can see: users first, then teams, by name."""
    _, found = registries.lookup(s, actor, org_name, registry_name, Action.VIEW)
    rid = found.registry.id
    users = s.execute(
        select(User.username, User.email, RegistryMember.role)
        .join(RegistryMember, RegistryMember.user_id == User.id)
        .where(RegistryMember.registry_id == rid)
        .order_by(User.username)
    ).all()
    team_rows = s.execute(
        select(Team.name, RegistryMember.role)
        .join(RegistryMember, RegistryMember.team_id == Team.id)
        .where(RegistryMember.registry_id == rid)
        .order_by(Team.name)
    ).all()
    return [MemberView("user", n, e, RegistryRole(r)) for n, e, r in users] + [
        MemberView("team", n, None, RegistryRole(r)) for n, r in team_rows
    ]


def _resolve(s: Session, org: orgs.OrgAccess, ref: str, kind: str | None) -> User | Team:
    """A user of the org (by username or email) or a team of the org, by the shared namespace."""
    missing = NotFoundError(f"no user or team {ref!r} in organization {org.org.name!r}")
    if kind is None and "@" not in ref:
        entity_kind = s.scalar(select(Entity.kind).where(Entity.name_key == ref.lower()))
        kind = "team" if entity_kind == "team" else "user"
    if kind == "team":
        team = teams.find(s, org.org.id, ref)
        if team is None:
            raise missing
        return team
    user = accounts.find_user(s, ref)
    if user is None or not teams.is_org_member(s, org.org.id, user.id):
        raise missing
    return user


def _row(s: Session, registry: Registry, subject: User | Team) -> RegistryMember | None:
    column = RegistryMember.user_id if isinstance(subject, User) else RegistryMember.team_id
    return s.scalar(
        select(RegistryMember).where(
            RegistryMember.registry_id == registry.id, column == subject.id
        )
    )


def _view(subject: User | Team, role: RegistryRole) -> MemberView:
    if isinstance(subject, User):
        return MemberView("user", subject.username, subject.email, role)
    return MemberView("team", subject.name, None, role)


def add(
    s: Session, actor: Principal, org_name: str, registry_name: str, specs: list[MemberSpec]
) -> list[MemberView]:
    """Add members (registry admins); the default role is restricted_viewer, member for services."""
    if not specs or len(specs) > MAX_MEMBERS_PER_REQUEST:
        raise ValidationError(f"give 1 to {MAX_MEMBERS_PER_REQUEST} members")
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.ADMINISTER)
    added: list[MemberView] = []
    for spec in specs:
        subject = _resolve(s, org, spec.member, _kind(spec.kind))
        if spec.role is not None:
            role = parse_role(spec.role)
        else:
            role = default_member_role(isinstance(subject, User) and subject.is_service)
        if _row(s, found.registry, subject) is not None:
            raise ConflictError(
                f"{spec.member!r} is already a member of registry {found.registry.name!r}; "
                "change their role instead"
            )
        is_user = isinstance(subject, User)
        s.add(
            RegistryMember(
                registry_id=found.registry.id,
                user_id=subject.id if is_user else None,
                team_id=None if is_user else subject.id,
                role=role.value,
            )
        )
        s.flush()
        view = _view(subject, role)
        audit.record(
            s,
            actor,
            "registry.member.add",
            target_type="registry",
            target_id=found.registry.id,
            registry_id=found.registry.id,
            target_name=f"{found.registry.name}/{view.name}",
            org_id=org.org.id,
            after={"kind": view.kind, "member": view.name, "role": role.value},
        )
        added.append(view)
    return added


def _existing(
    s: Session, actor: Principal, org_name: str, registry_name: str, kind: str, ref: str
) -> tuple[orgs.OrgAccess, Registry, User | Team, RegistryMember]:
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.ADMINISTER)
    if _kind(kind) is None:
        raise ValidationError("member kind is required")
    try:
        subject = _resolve(s, org, ref, kind)
    except NotFoundError:
        subject = None
    row = _row(s, found.registry, subject) if subject is not None else None
    if subject is None or row is None:
        raise NotFoundError(f"{kind} {ref!r} is not a member of registry {found.registry.name!r}")
    return org, found.registry, subject, row


def _keep_an_admin(s: Session, registry: Registry, row: RegistryMember) -> None:
    if row.role != RegistryRole.ADMIN.value:
        return
    admins = s.scalar(
        select(func.count())
        .select_from(RegistryMember)
        .where(
            RegistryMember.registry_id == registry.id,
            RegistryMember.role == RegistryRole.ADMIN.value,
        )
    )
    if (admins or 0) <= 1:
        raise ConflictError(
            f"registry {registry.name!r} must keep at least one admin; "
            "make another member admin first"
        )


def set_role(
    s: Session, actor: Principal, org_name: str, registry_name: str, kind: str, ref: str, role: str
) -> MemberView:
    """Change a member's role; the last explicit admin cannot be demoted."""
    new_role = parse_role(role)
    org, registry, subject, row = _existing(s, actor, org_name, registry_name, kind, ref)
    before = row.role
    if new_role != RegistryRole.ADMIN:
        _keep_an_admin(s, registry, row)
    row.role = new_role.value
    view = _view(subject, new_role)
    audit.record(
        s,
        actor,
        "registry.member.role",
        target_type="registry",
        target_id=registry.id,
        registry_id=registry.id,
        target_name=f"{registry.name}/{view.name}",
        org_id=org.org.id,
        before={"role": before},
        after={"role": new_role.value},
    )
    return view


def remove(
    s: Session, actor: Principal, org_name: str, registry_name: str, kind: str, ref: str
) -> None:
    """Remove a member; the last explicit admin cannot be removed."""
    org, registry, subject, row = _existing(s, actor, org_name, registry_name, kind, ref)
    _keep_an_admin(s, registry, row)
    view = _view(subject, RegistryRole(row.role))
    s.delete(row)
    audit.record(
        s,
        actor,
        "registry.member.remove",
        target_type="registry",
        target_id=registry.id,
        registry_id=registry.id,
        target_name=f"{registry.name}/{view.name}",
        org_id=org.org.id,
        before={"kind": view.kind, "member": view.name, "role": row.role},
    )


@dataclass(frozen=True)
class Suggestion:
    """A possible new member: what to type in the Member field, and how to show it."""

    value: str
    label: str


def suggest(
    s: Session, actor: Principal, org_name: str, registry_name: str, prefix: str, limit: int = 10
) -> list[Suggestion]:
    """Users (by username or email) and teams of the organization whose names start with
    `prefix`, not yet members. Only for registry admins, who alone may add members: anyone
    else gets the same 404/403 as for adding one."""
    org, found = registries.lookup(s, actor, org_name, registry_name, Action.ADMINISTER)
    prefix = prefix.strip().lower()
    if not prefix or not 1 <= limit <= 50:
        return []
    rid = found.registry.id
    user_members = select(RegistryMember.user_id).where(
        RegistryMember.registry_id == rid, RegistryMember.user_id.is_not(None)
    )
    team_members = select(RegistryMember.team_id).where(
        RegistryMember.registry_id == rid, RegistryMember.team_id.is_not(None)
    )
    users = s.execute(
        select(User.username, User.email)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(
            OrgMember.org_id == org.org.id,
            User.active.is_(True),
            User.id.not_in(user_members),
            func.lower(User.username).startswith(prefix, autoescape=True)
            | func.lower(func.coalesce(User.email, "")).startswith(prefix, autoescape=True),
        )
        .order_by(func.lower(User.username))
        .limit(limit)
    ).all()
    found_teams = s.scalars(
        select(Team.name)
        .where(
            Team.org_id == org.org.id,
            Team.id.not_in(team_members),
            func.lower(Team.name).startswith(prefix, autoescape=True),
        )
        .order_by(func.lower(Team.name))
        .limit(limit)
    ).all()
    out: list[Suggestion] = []
    for username, email in users:
        by_email = email is not None and email.lower().startswith(prefix)
        by_name = username.lower().startswith(prefix)
        if by_name:
            out.append(Suggestion(username, f"{username} (user{', ' + email if email else ''})"))
        if by_email and email is not None:
            out.append(Suggestion(email, f"{email} (user {username})"))
    out += [Suggestion(name, f"{name} (team)") for name in found_teams]
    return out[:limit]
