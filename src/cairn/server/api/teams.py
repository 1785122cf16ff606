"""Teams of an organization and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cairn.server.api import convert, schemas
from cairn.server.http.deps import Db
from cairn.server.http.identity import Caller
from cairn.server.services import orgs, teams

router = APIRouter()


@router.get("/orgs/{org}/teams", response_model=list[schemas.TeamOut])
def list_teams(org: str, caller: Caller, db: Db) -> list[schemas.TeamOut]:
    """Every team of the organization."""
    found = orgs.access(db, caller, org)
    return [convert.team(t, found.org.name, n) for t, n in teams.list_for(db, found)]


@router.post("/orgs/{org}/teams", status_code=201, response_model=schemas.TeamOut)
def create_team(org: str, body: schemas.TeamIn, caller: Caller, db: Db) -> schemas.TeamOut:
    """Create a team; the creator becomes its admin."""
    found = orgs.access(db, caller, org)
    team = teams.create(db, caller, found, body.name, body.description)
    return convert.team(team, found.org.name, 1)


@router.get("/orgs/{org}/teams/{team}", response_model=schemas.TeamOut)
def get_team(org: str, team: str, caller: Caller, db: Db) -> schemas.TeamOut:
    """One team with its members."""
    found = orgs.access(db, caller, org)
    row = teams.get(db, found, team)
    members = teams.members(db, row)
    out = convert.team(row, found.org.name, len(members))
    out.members = [schemas.TeamMemberOut(username=u.username, role=r.value) for u, r in members]
    return out


@router.delete("/orgs/{org}/teams/{team}", status_code=204)
def delete_team(org: str, team: str, caller: Caller, db: Db) -> Response:
    """Delete a team (team admins, org admins)."""
    found = orgs.access(db, caller, org)
    teams.delete(db, caller, found, teams.get(db, found, team))
    return Response(status_code=204)


@router.post(
    "/orgs/{org}/teams/{team}/members", status_code=201, response_model=schemas.TeamMemberOut
)
def add_team_member(
    org: str, team: str, body: schemas.TeamMemberIn, caller: Caller, db: Db
) -> schemas.TeamMemberOut:
    """Add an organization member to the team."""
    found = orgs.access(db, caller, org)
    role = teams.parse_role(body.role)
    user = teams.add_member(db, caller, found, teams.get(db, found, team), body.user, role)
    return schemas.TeamMemberOut(username=user.username, role=role.value)


@router.patch("/orgs/{org}/teams/{team}/members/{username}", response_model=schemas.TeamMemberOut)
def set_team_role(
    org: str, team: str, username: str, body: schemas.RoleIn, caller: Caller, db: Db
) -> schemas.TeamMemberOut:
    """Change a team member's role."""
    found = orgs.access(db, caller, org)
    role = teams.parse_role(body.role)
    user = teams.set_role(db, caller, found, teams.get(db, found, team), username, role)
    return schemas.TeamMemberOut(username=user.username, role=role.value)


@router.delete("/orgs/{org}/teams/{team}/members/{username}", status_code=204)
def remove_team_member(org: str, team: str, username: str, caller: Caller, db: Db) -> Response:
    """Remove a member from the team."""
    found = orgs.access(db, caller, org)
    teams.remove_member(db, caller, found, teams.get(db, found, team), username)
    return Response(status_code=204)
