"""The city's working calendar (工作日历) and each unit's office hours (办公时间): the data the
stage clocks count working time over. The maths stays in `worktime`; this module stores the
admin's entries, merges them with the official holiday calendar for display, and hands the
clocks a `WorkCalendar` and `OfficeHours`.

The `WorkCalendar` is built once per process and reused (it caches its per-day answers), and
rebuilt when the entries in the database change: web processes and workers share the database,
so each transaction reads the entries once and compares them with those the cached calendar was
built from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.db import forget, memo
from chengzhi.errors import Conflict, InvalidInput, NotFound
from chengzhi.models import CalendarDay, OrgUnit
from chengzhi.orgs.service import find_unit
from chengzhi.worktime import OfficeHours, WorkCalendar

DEFAULT_HOURS = OfficeHours()
ALWAYS = OfficeHours.always()
FIRST_YEAR, LAST_YEAR = 1990, 2200
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_OFFICIAL_YEARS = (min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year)


# ---------------------------------------------------------------------------------------------
# Calendar entries


@dataclass(frozen=True, slots=True)
class DayEntry:
    """One special day of a year: an official holiday or make-up working day (调休), or an
    admin entry (which wins over the official one for the same date, named in `official`)."""

    day: date
    working: bool
    name: str
    source: Literal["official", "admin"]
    official: str | None = None


@dataclass(frozen=True, slots=True)
class YearCalendar:
    year: int
    covered: bool  # whether the official calendar has data for this year
    warning: str | None
    days: list[DayEntry]


def set_day(
    session: Session, clock: Clock, day: date, working: bool, name: str, actor_id: int | None
) -> CalendarDay:
    """Declare a date a holiday (`working=False`) or a working day, replacing any entry for it."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("名称不能为空 (a name is required)")
    if len(name) > 64:
        raise InvalidInput("名称不能超过 64 个字 (the name is longer than 64 characters)")
    _check_year(day.year)
    entry = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if entry is None:
        entry = CalendarDay(day=day)
        session.add(entry)
    entry.working, entry.name = working, name
    entry.created_by_id, entry.created_at = actor_id, clock.now()
    forget(session, ENTRIES)
    try:
        session.flush()
    except IntegrityError as e:  # another request entered the same date meanwhile
        raise Conflict(f"{day} 已被他人录入，请刷新后重试 (entered meanwhile)") from e
    return entry


def entry_for(session: Session, day: date) -> DayEntry | None:
    """What the calendar says of one date (None: an ordinary weekday or weekend)."""
    return next((d for d in list_days(session, day.year).days if d.day == day), None)


def remove_day(session: Session, day: date) -> None:
    entry = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if entry is None:
        raise NotFound(f"工作日历中没有 {day} 的条目 (no calendar entry for {day})")
    session.delete(entry)
    forget(session, ENTRIES)
    session.flush()


def list_days(session: Session, year: int) -> YearCalendar:
    """The year's official holidays and make-up working days, with the admin's entries over
    them, by date. For a year the official calendar does not cover, only the admin's entries
    (and weekends) count, and the result says so."""
    _check_year(year)
    days = {d: DayEntry(d, False, _zh(n), "official") for d, n in _official(year, False)}
    for d, n in _official(year, True):
        days[d] = DayEntry(d, True, f"{_zh(n)}调休上班", "official")
    admin = session.scalars(
        select(CalendarDay).where(CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
    )
    for row in admin:
        official = days.get(row.day)
        days[row.day] = DayEntry(
            row.day, row.working, row.name, "admin", official.name if official else None
        )
    covered = _OFFICIAL_YEARS[0] <= year <= _OFFICIAL_YEARS[1]
    warning = None if covered else _uncovered(year)
    return YearCalendar(year, covered, warning, [days[d] for d in sorted(days)])


def this_year(clock: Clock) -> int:
    return clock.now().astimezone(ZoneInfo(get_settings().timezone)).year


def _official(year: int, working: bool) -> list[tuple[date, str]]:
    table = chinese_calendar.workdays if working else chinese_calendar.holidays
    return [(d, n) for d, n in table.items() if d.year == year]


def _zh(english: str) -> str:
    try:
        return chinese_calendar.Holiday(english).chinese
    except ValueError:
        return english


def _uncovered(year: int) -> str:
    return (
        f"{year} 年无官方节假日数据，仅按周末及管理员录入的日期计算 "
        f"(no official holiday data for {year}: only weekends and admin entries count)"
    )


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(
            f"年份须在 {FIRST_YEAR}–{LAST_YEAR} 之间 (year must be {FIRST_YEAR}–{LAST_YEAR})"
        )


# ---------------------------------------------------------------------------------------------
# The cached WorkCalendar

_cached: tuple[tuple[Any, ...], WorkCalendar] | None = None
ENTRIES = "calendar.entries"  # memo key


def work_calendar(session: Session) -> WorkCalendar:
    """The city's working calendar as this session sees the database: the official calendar
    with the admin's entries over it. The entries (a few dozen a year) are read once per
    transaction and compared with those the cached calendar was built from: equal entries reuse
    it, so its per-day answers stay warm across requests and workers see each other's edits."""
    global _cached
    tz = get_settings().timezone
    key = (tz, *memo(session, ENTRIES, lambda: _entries(session), lasting=True))
    cached = _cached
    if cached is not None and cached[0] == key:
        return cached[1]
    entries = key[1:]
    built = WorkCalendar(
        tz,
        holidays=[d for d, working in entries if not working],
        workdays=[d for d, working in entries if working],
    )
    _cached = (key, built)
    return built


def _entries(session: Session) -> list[tuple[date, bool]]:
    with session.no_autoflush:  # writers flush; a clock lookup must not write the case early
        rows = session.execute(select(CalendarDay.day, CalendarDay.working).order_by("day"))
        return [(d, w) for d, w in rows]


# ---------------------------------------------------------------------------------------------
# Office hours


def office_hours(unit: OrgUnit | None) -> OfficeHours:
    """A unit's own office hours, or the city's default (08:30–12:00, 13:30–17:30)."""
    raw = unit.office_hours if unit is not None else None
    if not raw:
        return DEFAULT_HOURS
    if raw.get("around_the_clock"):
        return ALWAYS
    return _hours(tuple((start, end) for start, end in raw["periods"]))


def set_office_hours(
    session: Session,
    unit_code: str,
    periods: Sequence[Sequence[str]] | None = None,
    *,
    always: bool = False,
) -> OrgUnit:
    """Give a unit its own hours: `periods` as ("HH:MM", "HH:MM") pairs, sorted and not
    overlapping, or `always` (24×7); neither: back to the city's default."""
    unit = find_unit(session, unit_code)
    if always and periods:
        raise InvalidInput("24×7 办公不设时段 (around-the-clock hours take no periods)")
    if always:
        unit.office_hours = {"around_the_clock": True}
    elif periods is not None:
        pairs = tuple(_pair(p) for p in periods)
        _hours(pairs)
        unit.office_hours = {"periods": [list(p) for p in pairs]}
    else:
        unit.office_hours = None
    session.flush()
    return unit


def hhmm(at: time) -> str:
    return f"{at:%H:%M}"


def _pair(period: Sequence[str]) -> tuple[str, str]:
    if len(period) != 2 or not all(isinstance(t, str) and _HHMM.match(t) for t in period):
        raise InvalidInput(
            f"办公时段须为两个 HH:MM 时间：{list(period)} "
            f"(an office period is two HH:MM times: {list(period)})"
        )
    return period[0], period[1]


@lru_cache(maxsize=256)
def _hours(periods: tuple[tuple[str, str], ...]) -> OfficeHours:
    try:
        return OfficeHours(
            periods=tuple((time.fromisoformat(s), time.fromisoformat(e)) for s, e in periods)
        )
    except ValueError as e:
        raise InvalidInput(
            "办公时间无效：至少一个时段，每段开始早于结束，各段按时间排序且互不重叠 "
            f"(invalid office hours: {e})"
        ) from e
