"""Routes for roles and the segregation-of-duties matrix: what each role may do, which duties one
person may not combine, and which users' roles combine them anyway."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from o2c.core import sod, users
from o2c.core.auth import PERMISSIONS, ROLES, require
from o2c.core.db import read_session
from o2c.web.deps import CtxDep, ReaderDep
from o2c.web.responses import change

router = APIRouter(prefix="/roles", tags=["roles"])


class RoleOut(BaseModel):
    role: str
    permissions: list[str]


class RolesOut(BaseModel):
    roles: list[RoleOut]
    permissions: dict[str, str]
    duties: dict[str, str] = Field(description="duty -> the permission that lets a user perform it")


class RuleIn(BaseModel):
    code: str = Field(max_length=60)
    duty_a: str = Field(max_length=60)
    duty_b: str = Field(max_length=60)
    description: str | None = None
    active: bool = True


class RuleOut(BaseModel):
    code: str
    duty_a: str
    duty_b: str
    description: str
    active: bool


class MatrixIn(BaseModel):
    rules: list[RuleIn]


class MatrixOut(BaseModel):
    rules: list[RuleOut]


class ConflictOut(BaseModel):
    rule: str
    duty_a: str
    duty_b: str
    description: str


class UserConflictsOut(BaseModel):
    user_id: int
    username: str
    roles: list[str]
    admin: bool
    conflicts: list[ConflictOut]


class UserRolesIn(BaseModel):
    roles: list[str] = Field(min_length=1, max_length=20)


class UserRolesOut(BaseModel):
    username: str
    roles: list[str]
    warnings: list[str] = Field(description="segregation-of-duties rules these roles together conflict with")


def _matrix(rules: list[sod.Rule]) -> MatrixOut:
    return MatrixOut(rules=[RuleOut(code=r.code, duty_a=r.duty_a, duty_b=r.duty_b, description=r.description,
                                    active=r.active) for r in rules])


@router.get("", response_model=RolesOut)
def list_roles(ctx: ReaderDep):
    """Every role with its permissions, what each permission allows, and the duties the matrix speaks of."""
    return RolesOut(roles=[RoleOut(role=r, permissions=sorted(p)) for r, p in sorted(ROLES.items())],
                    permissions=PERMISSIONS, duties=sod.DUTIES)


@router.get("/conflicts", response_model=MatrixOut)
def get_matrix(ctx: ReaderDep):
    """The conflict matrix: pairs of duties one person may not both perform on the same record."""
    with read_session() as s:
        return _matrix(sod.rules(s))


@router.put("/conflicts", response_model=MatrixOut)
def put_matrix(data: MatrixIn, ctx: CtxDep):
    """Replace the conflict matrix (sod.configure). Rules left out are deactivated, not deleted; 422 names
    an unknown duty or a repeated code, and then nothing changes."""
    return change(MatrixOut, lambda s: _matrix(sod.configure(s, ctx.actor, [r.model_dump() for r in data.rules])))


@router.get("/conflict-report", response_model=list[UserConflictsOut])
def conflict_report(ctx: CtxDep):
    """Users of the company whose roles hold both duties of an active rule (audit.read); administrators
    are listed and flagged."""
    require(ctx.actor, "audit.read")
    with read_session() as s:
        return [UserConflictsOut.model_validate(u) for u in sod.conflicts(s, ctx.actor, ctx.company_id)]


@router.put("/users/{username}", response_model=UserRolesOut)
def set_user_roles(username: str, data: UserRolesIn, ctx: CtxDep):
    """Give a user exactly these roles (users.write). Roles that conflict under the matrix are allowed and
    come back as `warnings` (the record-level checks still apply); 422 names an unknown role."""
    return change(UserRolesOut, lambda s: UserRolesOut(
        username=username, roles=sorted(set(data.roles)),
        warnings=users.assign_roles(s, ctx.actor, username, data.roles)))
