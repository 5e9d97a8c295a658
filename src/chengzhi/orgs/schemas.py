"""API shapes for org units, people, office hours and the working calendar. Personal data
leaves masked."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from chengzhi.models import OrgUnit, Person, Role, UnitKind
from chengzhi.orgs import calendar
from chengzhi.privacy import mask_name, mask_phone


class OrgUnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    kind_label: str
    sector: str | None
    jurisdiction_code: str
    jurisdiction_name: str
    active: bool

    @classmethod
    def of(cls, u: OrgUnit) -> OrgUnitOut:
        return cls(
            id=u.id,
            code=u.code,
            name=u.name,
            kind=u.kind,
            kind_label=UnitKind(u.kind).zh,
            sector=u.sector,
            jurisdiction_code=u.jurisdiction.code,
            jurisdiction_name=u.jurisdiction.name,
            active=u.active,
        )


class PersonOut(BaseModel):
    id: int
    name: str | None = Field(description="Masked: 张*")
    phone: str | None = Field(description="Masked: 138****1234")
    role: str
    role_label: str
    org_unit_code: str | None
    org_unit_name: str | None
    active: bool

    @classmethod
    def of(cls, p: Person) -> PersonOut:
        return cls(
            id=p.id,
            name=mask_name(p.name),
            phone=mask_phone(p.phone),
            role=p.role,
            role_label=Role(p.role).zh,
            org_unit_code=p.org_unit.code if p.org_unit else None,
            org_unit_name=p.org_unit.name if p.org_unit else None,
            active=p.active,
        )


class OfficeHoursIn(BaseModel):
    """`{"periods": [["08:30", "12:00"], ["13:30", "17:30"]]}`, `{"around_the_clock": true}`,
    or neither: back to the city's default hours."""

    periods: list[list[str]] | None = Field(None, max_length=12)
    around_the_clock: bool = False


class OfficeHoursOut(BaseModel):
    unit_code: str
    unit_name: str
    default: bool = Field(description="The unit has no hours of its own: the city's default")
    around_the_clock: bool
    periods: list[list[str]]
    working_day_hours: float = Field(description="Length of one working day under these hours")

    @classmethod
    def of(cls, u: OrgUnit) -> OfficeHoursOut:
        hours = calendar.office_hours(u)
        return cls(
            unit_code=u.code,
            unit_name=u.name,
            default=u.office_hours is None,
            around_the_clock=hours.around_the_clock,
            periods=[[calendar.hhmm(s), calendar.hhmm(e)] for s, e in hours.periods],
            working_day_hours=hours.day_seconds / 3600,
        )


class CalendarDayIn(BaseModel):
    working: bool = Field(description="false: a holiday (休息日); true: a working day (工作日)")
    name: str = Field(min_length=1, max_length=64)


class CalendarDayOut(BaseModel):
    day: date
    working: bool
    name: str
    source: Literal["official", "admin"]
    official: str | None = Field(None, description="The official entry an admin entry replaces")

    @classmethod
    def of(cls, d: calendar.DayEntry) -> CalendarDayOut:
        return cls(day=d.day, working=d.working, name=d.name, source=d.source, official=d.official)


class CalendarYearOut(BaseModel):
    year: int
    covered: bool = Field(description="Whether the official holiday calendar covers the year")
    warning: str | None
    days: list[CalendarDayOut]

    @classmethod
    def of(cls, y: calendar.YearCalendar) -> CalendarYearOut:
        days = [CalendarDayOut.of(d) for d in y.days]
        return cls(year=y.year, covered=y.covered, warning=y.warning, days=days)
