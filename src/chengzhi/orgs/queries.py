"""Read side of organisations and people, and the structure check (定格、定人、定责)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, selectinload

from chengzhi.db import page
from chengzhi.errors import NotFound
from chengzhi.models import GridAssignment, GridDuty, Level, OrgUnit, Person, Region, Role

SAMPLE = 20
# Memo of unit lookups by place and line (routing, escalation): forgotten on every unit write.
UNIT_LOOKUPS = "orgs.unit_lookups"


def unit_query(
    kind: str | None = None, sector: str | None = None, under: str | None = None
) -> Select[tuple[OrgUnit]]:
    query = select(OrgUnit).join(OrgUnit.jurisdiction).options(selectinload(OrgUnit.jurisdiction))
    if kind:
        query = query.where(OrgUnit.kind == kind)
    if sector:
        query = query.where(OrgUnit.sector == sector)
    if under:
        query = query.where(Region.under(under))
    return query


def list_units(
    session: Session, limit: int, offset: int, **filters: str | None
) -> tuple[int, list[OrgUnit]]:
    query = unit_query(**filters)
    return page(session, query.order_by(OrgUnit.code), limit, offset)


def get_unit(session: Session, unit_id: int) -> OrgUnit:
    unit = session.scalar(unit_query().where(OrgUnit.id == unit_id))
    if unit is None:
        raise NotFound(f"单位 {unit_id} 不存在 (no such org unit)")
    return unit


def person_query(
    role: str | None = None, unit: int | None = None, grid: str | None = None
) -> Select[tuple[Person]]:
    query = select(Person).options(selectinload(Person.org_unit))
    if role:
        query = query.where(Person.role == role)
    if unit:
        query = query.where(Person.org_unit_id == unit)
    if grid:
        on_grid = (
            select(GridAssignment.person_id).join(GridAssignment.grid).where(Region.code == grid)
        )
        query = query.where(Person.id.in_(on_grid))
    return query


def list_people(
    session: Session, limit: int, offset: int, **filters: Any
) -> tuple[int, list[Person]]:
    query = person_query(**filters)
    return page(session, query.order_by(Person.id), limit, offset)


def get_person(session: Session, person_id: int) -> Person:
    person = session.scalar(person_query().where(Person.id == person_id))
    if person is None:
        raise NotFound(f"人员 {person_id} 不存在 (no such person)")
    return person


def structure_check(session: Session, under: str | None = None) -> dict[str, Any]:
    """What breaks 定格、定人、定责: grids without people or without a head, grid workers without
    a grid, regions without a boundary. Counts plus a sample of codes for each."""
    scope = [Region.under(under)] if under else []
    grids = select(Region.code).where(Region.level == Level.GRID.value, *scope)
    staffed = exists().where(GridAssignment.grid_id == Region.id)
    headed = exists().where(
        GridAssignment.grid_id == Region.id, GridAssignment.duty == GridDuty.HEAD.value
    )
    idle = select(Person.id).where(
        Person.role == Role.GRID_WORKER.value,
        Person.active.is_(True),
        ~exists().where(GridAssignment.person_id == Person.id),
    )
    unbounded = select(Region.code).where(Region.geometry.is_(None), *scope)
    return {
        "grids_without_people": _sample(session, grids.where(~staffed)),
        "grids_without_head": _sample(session, grids.where(~headed)),
        "grid_workers_without_grid": _sample(session, idle),
        "regions_without_boundary": _sample(session, unbounded),
    }


def _sample(session: Session, query: Select) -> dict[str, Any]:  # type: ignore[type-arg]
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    sample = list(session.scalars(query.order_by(query.selected_columns[0]).limit(SAMPLE)))
    return {"count": total, "sample": sample}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, with what reach: the person, their role and unit, the region subtree the
    unit answers for, and (grid workers) the grids they serve. `Actor.system()` is the worker."""

    person_id: int | None
    role: Role | None
    unit_id: int | None = None
    unit_kind: str | None = None
    jurisdiction: str | None = None
    grids: tuple[str, ...] = ()

    @classmethod
    def system(cls) -> Actor:
        return cls(None, None)


def actor_for(session: Session, person_id: int) -> Actor:
    with session.no_autoflush:  # people and units are stored when made; cases need not flush
        return _actor_for(session, person_id)


def _actor_for(session: Session, person_id: int) -> Actor:
    found = session.execute(
        select(Person.role, Person.active, OrgUnit.id, OrgUnit.kind, Region.code)
        .outerjoin(OrgUnit, OrgUnit.id == Person.org_unit_id)
        .outerjoin(Region, Region.id == OrgUnit.jurisdiction_id)
        .where(Person.id == person_id)
    ).first()
    if found is None or not found.active:
        raise NotFound(f"人员 {person_id} 不存在 (no such person)")
    role, _, unit_id, unit_kind, jurisdiction = found
    grids = session.scalars(
        select(Region.code)
        .join(GridAssignment, GridAssignment.grid_id == Region.id)
        .where(GridAssignment.person_id == person_id)
        .order_by(Region.code)
    )
    return Actor(person_id, Role(role), unit_id, unit_kind, jurisdiction, tuple(grids))
