"""Teams of an organization: list and create; a team's members and their team roles."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cairn.server.db.models import Team
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import TeamRole
from cairn.server.http.deps import Db
from cairn.server.http.identity import SessionCaller
from cairn.server.services import orgs, teams
from cairn.server.web.forms import After, Problem, Short, Text, attempt, see_other
from cairn.server.web.org_admin import ORG, PER_PAGE, org_page, org_url

router = APIRouter(include_in_schema=False)
TEAMS = ORG + "/teams"
TEAM = TEAMS + "/{team}"
TEAM_ROLES = [r.value for r in TeamRole]


def teams_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    *,
    after: str | None = None,
    problem: Problem | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """One page of teams; the create form for those whose organization role allows it."""
    rows, next_after = teams.page_for(db, member, after=after, per_page=PER_PAGE)
    return org_page(
        request,
        db,
        caller,
        member,
        "org_teams.html",
        tab="teams",
        problem=problem,
        rows=rows,
        can_create=teams.may_create(member),
        after=after,
        next_after=next_after,
        typed=typed or {"name": "", "description": ""},
    )


def team_page(
    request: Request,
    db: Session,
    caller: Principal,
    member: orgs.OrgAccess,
    team: Team,
    *,
    after: str | None = None,
    problem: Problem | None = None,
) -> HTMLResponse:
    """A team and one page of its members; controls for team admins and organization admins."""
    rows, next_after = teams.member_page(db, team, after=after, per_page=PER_PAGE)
    return org_page(
        request,
        db,
        caller,
        member,
        "org_team.html",
        tab="teams",
        problem=problem,
        team=team,
        rows=rows,
        can_manage=teams.may_manage(db, caller, member, team),
        roles=TEAM_ROLES,
        after=after,
        next_after=next_after,
        team_base=org_url(member.org.name, "teams", team.name),
    )


@router.get(TEAMS, response_class=HTMLResponse)
def show_all(
    request: Request, org: str, caller: SessionCaller, db: Db, after: After = None
) -> HTMLResponse:
    """Every team of the organization, readable by every member."""
    member = orgs.access(db, caller, org)
    return teams_page(request, db, caller, member, after=after)


@router.post(TEAMS, response_class=HTMLResponse)
def create(
    request: Request,
    org: str,
    caller: SessionCaller,
    db: Db,
    name: Short = "",
    description: Text = "",
) -> Response:
    """Create a team; its creator becomes its admin."""
    member = orgs.access(db, caller, org)
    made: list[Team] = []
    problem = attempt(
        db,
        "create",
        lambda: made.append(
            teams.create(db, caller, member, name.strip(), description.strip() or None)
        ),
    )
    if problem is not None:
        typed = {"name": name, "description": description}
        return teams_page(request, db, caller, member, problem=problem, typed=typed)
    return see_other(org_url(member.org.name, "teams", made[0].name))


@router.get(TEAM, response_class=HTMLResponse)
def show(
    request: Request, org: str, team: str, caller: SessionCaller, db: Db, after: After = None
) -> HTMLResponse:
    """One team with its members."""
    member = orgs.access(db, caller, org)
    return team_page(request, db, caller, member, teams.get(db, member, team), after=after)


def _change(
    request: Request,
    db: Session,
    caller: Principal,
    org: str,
    team_name: str,
    section: str,
    run: Callable[[orgs.OrgAccess, Team], object],
) -> Response:
    member = orgs.access(db, caller, org)
    team = teams.get(db, member, team_name)
    problem = attempt(db, section, lambda: run(member, team))
    if problem is not None:
        return team_page(request, db, caller, member, team, problem=problem)
    return see_other(org_url(member.org.name, "teams", team.name))


@router.post(TEAM + "/members")
def add_member(
    request: Request,
    org: str,
    team: str,
    caller: SessionCaller,
    db: Db,
    user: Short = "",
    role: Short = TeamRole.MEMBER.value,
) -> Response:
    """Add an organization member (by username or email) to the team."""
    return _change(
        request,
        db,
        caller,
        org,
        team,
        "add",
        lambda m, t: teams.add_member(db, caller, m, t, user.strip(), teams.parse_role(role)),
    )


@router.post(TEAM + "/members/{username}/role")
def change_role(
    request: Request, org: str, team: str, username: str, caller: SessionCaller, db: Db, role: Short
) -> Response:
    """Give a team member another team role."""
    return _change(
        request,
        db,
        caller,
        org,
        team,
        "members",
        lambda m, t: teams.set_role(db, caller, m, t, username, teams.parse_role(role)),
    )


@router.post(TEAM + "/members/{username}/remove")
def remove_member(
    request: Request, org: str, team: str, username: str, caller: SessionCaller, db: Db
) -> Response:
    """Take a member off the team."""
    return _change(
        request,
        db,
        caller,
        org,
        team,
        "members",
        lambda m, t: teams.remove_member(db, caller, m, t, username),
    )


@router.post(TEAM + "/delete")
def delete(
    request: Request, org: str, team: str, caller: SessionCaller, db: Db, confirm: Short = ""
) -> Response:
    """Delete the team once its name has been typed; its registry memberships go with it."""
    member = orgs.access(db, caller, org)
    found = teams.get(db, member, team)
    if confirm != found.name:
        refused = Problem("delete", "type the team's name exactly to delete it", 422)
        return team_page(request, db, caller, member, found, problem=refused)
    problem = attempt(db, "delete", lambda: teams.delete(db, caller, member, found))
    if problem is not None:
        return team_page(request, db, caller, member, found, problem=problem)
    return see_other(org_url(member.org.name, "teams"))
