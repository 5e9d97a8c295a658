"""/api/v1/org-units, /api/v1/people, /api/v1/structure/check, units' office hours and the
working calendar (read: any logged-in user; write: administrators)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from chengzhi.auth.routes import ActorDep
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.errors import Forbidden
from chengzhi.models import Role, UnitKind
from chengzhi.orgs import calendar, queries
from chengzhi.orgs import service as orgs_service
from chengzhi.orgs.queries import Actor
from chengzhi.orgs.schemas import (
    CalendarDayIn,
    CalendarDayOut,
    CalendarYearOut,
    OfficeHoursIn,
    OfficeHoursOut,
    OrgUnitOut,
    PersonOut,
)
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["organisations 组织与人员"])
Code = Annotated[str | None, Query(pattern=r"^\d{2,15}$")]
UnitCode = Annotated[str, Path(max_length=40)]
CALENDAR = ["calendar 工作日历"]


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


@router.get("/orgs/units/{code}/office-hours", response_model=OfficeHoursOut)
def get_office_hours(session: SessionDep, actor: ActorDep, code: UnitCode) -> OfficeHoursOut:
    return OfficeHoursOut.of(orgs_service.find_unit(session, code))


@router.put("/orgs/units/{code}/office-hours", response_model=OfficeHoursOut)
def put_office_hours(
    session: SessionDep, actor: ActorDep, code: UnitCode, body: OfficeHoursIn
) -> OfficeHoursOut:
    _admin(actor)
    unit = calendar.set_office_hours(session, code, body.periods, always=body.around_the_clock)
    return OfficeHoursOut.of(unit)


@router.get("/calendar", response_model=CalendarYearOut, tags=CALENDAR)
def get_calendar(
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    year: Annotated[int | None, Query(ge=calendar.FIRST_YEAR, le=calendar.LAST_YEAR)] = None,
) -> CalendarYearOut:
    return CalendarYearOut.of(calendar.list_days(session, year or calendar.this_year(clock)))


@router.put("/calendar/days/{day}", response_model=CalendarDayOut, tags=CALENDAR)
def put_calendar_day(
    session: SessionDep, clock: ClockDep, actor: ActorDep, day: date, body: CalendarDayIn
) -> CalendarDayOut:
    _admin(actor)
    calendar.set_day(session, clock, day, body.working, body.name, actor.person_id)
    entry = calendar.entry_for(session, day)
    assert entry is not None  # the admin's entry was just stored
    return CalendarDayOut.of(entry)


@router.delete("/calendar/days/{day}", status_code=204, tags=CALENDAR)
def delete_calendar_day(session: SessionDep, actor: ActorDep, day: date) -> None:
    _admin(actor)
    calendar.remove_day(session, day)


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("仅系统管理员可修改 (administrators only)")
