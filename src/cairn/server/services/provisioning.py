"""First start and new organizations: the default org, core registries and the first admin."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cairn.server.db.models import Organization, User
from cairn.server.domain.principal import Principal
from cairn.server.domain.roles import OrgRole
from cairn.server.services import accounts, credentials, orgs, registries

CORE_REGISTRIES = (("Models", "model"), ("Datasets", "dataset"))
ADMIN_USERNAME = "admin"


def new_organization(
    s: Session, actor: Principal | None, name: str, admin: User | None
) -> Organization:
    """An organization with its core registries `Models` and `Datasets`."""
    org = orgs.create(s, actor, name, admin)
    owner = orgs.OrgAccess(org, OrgRole.ADMIN)
    for registry_name, artifact_type in CORE_REGISTRIES:
        registries.create(
            s,
            None,
            owner,
            name=registry_name,
            visibility="organization",
            description=f"Core registry for {artifact_type}s",
            artifact_types=[artifact_type],
            is_core=True,
        )
    return org


def first_start(s: Session, org_name: str, admin_password: str | None) -> str | None:
    """Create the default organization and `admin` once; return a generated password, if any."""
    if s.scalar(select(User.id).limit(1)) is not None:
        return None
    generated = None if admin_password else credentials.random_password()
    admin = accounts.create_user(
        s, None, ADMIN_USERNAME, password=admin_password or generated, is_superuser=True
    )
    if orgs.find_org(s, org_name) is None:
        new_organization(s, None, org_name, admin)
    return generated
