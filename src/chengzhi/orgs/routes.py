"""/api/v1/org-units, /api/v1/people, /api/v1/structure/check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from chengzhi.deps import Limit, Offset, SessionDep
from chengzhi.models import Role, UnitKind
from chengzhi.orgs import queries
from chengzhi.orgs.schemas import OrgUnitOut, PersonOut
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["organisations 组织与人员"])
Code = Annotated[str | None, Query(pattern=r"^\d{2,15}$")]


@router.get("/org-units", response_model=Page[OrgUnitOut])
def list_units(
    session: SessionDep,
    kind: UnitKind | None = None,
    sector: Annotated[str | None, Query(max_length=24)] = None,
    under: Code = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[OrgUnitOut]:
    total, rows = queries.list_units(session, limit, offset, kind=kind, sector=sector, under=under)
    return Page(total=total, limit=limit, offset=offset, items=[OrgUnitOut.of(u) for u in rows])


@router.get("/org-units/{unit_id}", response_model=OrgUnitOut)
def get_unit(session: SessionDep, unit_id: int) -> OrgUnitOut:
    return OrgUnitOut.of(queries.get_unit(session, unit_id))


@router.get("/people", response_model=Page[PersonOut])
def list_people(
    session: SessionDep,
    role: Role | None = None,
    unit: int | None = None,
    grid: Annotated[str | None, Query(pattern=r"^\d{15}$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[PersonOut]:
    total, rows = queries.list_people(session, limit, offset, role=role, unit=unit, grid=grid)
    return Page(total=total, limit=limit, offset=offset, items=[PersonOut.of(p) for p in rows])


@router.get("/people/{person_id}", response_model=PersonOut)
def get_person(session: SessionDep, person_id: int) -> PersonOut:
    return PersonOut.of(queries.get_person(session, person_id))


@router.get("/structure/check")
def structure_check(session: SessionDep, under: Code = None) -> dict[str, Any]:
    return queries.structure_check(session, under)
