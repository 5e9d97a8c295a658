"""Working time (工作时间): stage deadlines, elapsed working time and lights (绿灯/黄灯/红灯).

All deadline maths lives here, with no database. A limit is counted in working hours or working
days over office hours on the working days of a `WorkCalendar` (official holidays and make-up
working days 调休, plus the admin's own entries), or in wall-clock hours/minutes around the clock.

Instants are handled as integer microseconds since the epoch, so a deadline and the working time
up to it agree exactly: `used()` at the deadline is exactly 1.0, never 1.0000001 (red too early).
Dates the official calendar does not cover fall back to weekends plus the admin's holidays, and
every result that relied on such a date carries a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from chengzhi.labels import LabelledEnum

__all__ = [
    "Due",
    "Light",
    "Limit",
    "OfficeHours",
    "Pause",
    "WorkCalendar",
    "WorkSpan",
    "deadline",
    "light",
    "threshold_times",
    "used",
    "working_time",
]

Unit = Literal["working_hours", "working_days", "hours", "minutes"]
Pause = tuple[datetime, datetime | None]  # (suspended at, resumed at or None while still paused)
Span = tuple[int, int]  # [from, to) in epoch microseconds

_US = 1_000_000
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
# A limit still running after ~10 years is a configuration error (or a calendar with no working
# days), not a deadline: refuse it rather than loop.
_HORIZON_DAYS = 3660
_UNIT_US = {"working_hours": 3600 * _US, "hours": 3600 * _US, "minutes": 60 * _US}
_OFFICIAL_FIRST_YEAR = min(chinese_calendar.holidays).year


# ---------------------------------------------------------------------------------------------
# Configuration: office hours, calendar, limits


@dataclass(frozen=True)
class OfficeHours:
    """Daily working periods in local time (default 08:30–12:00 and 13:30–17:30, 7.5 h).
    `OfficeHours.always()` is 24×7 for emergency categories: every minute counts, holidays too."""

    periods: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    around_the_clock: bool = False

    def __post_init__(self) -> None:
        # Accept lists from configuration files; keep a hashable tuple (it keys the day cache).
        object.__setattr__(self, "periods", tuple((s, e) for s, e in self.periods))
        if self.around_the_clock:
            if self.periods:
                raise ValueError("24×7 office hours take no periods")
            return
        _check_periods(self.periods)

    @classmethod
    def always(cls) -> OfficeHours:
        return cls(periods=(), around_the_clock=True)

    @property
    def day_seconds(self) -> float:
        """Length of one working day: what `Limit(1, "working_days")` means under these hours."""
        return self._day_us / _US

    @cached_property
    def _day_us(self) -> int:
        if self.around_the_clock:
            return 86_400 * _US
        return sum(_time_us(end) - _time_us(start) for start, end in self.periods)


_ALWAYS = OfficeHours.always()


def _check_periods(periods: tuple[tuple[time, time], ...]) -> None:
    if not periods:
        raise ValueError("office hours need at least one working period")
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("office periods are local wall times: give them without tzinfo")
        if not start < end:
            raise ValueError(f"office period {start}–{end}: the start must be before the end")
    for (_, end), (start, _) in zip(periods, periods[1:], strict=False):
        if start < end:
            raise ValueError(f"office periods must be sorted and must not overlap ({start})")


@dataclass(frozen=True, slots=True)
class _Day:
    """One local date under one set of office hours: its working spans, cached per calendar."""

    day: date
    spans: tuple[Span, ...]
    total: int
    uncovered_year: int | None


class WorkCalendar:
    """Which local dates are working days.

    The official calendar (`chinese_calendar`: public holidays and make-up working days 调休)
    decides, overridden by admin-entered `holidays` and `workdays`. For years it does not cover
    (not yet announced, or before 2004) weekends plus the admin's entries decide, and results
    that used such a date carry a warning. Answers are cached (the sweep asks many times), so a
    calendar is immutable: build a new one when the admin edits holidays.
    """

    def __init__(
        self,
        tz: str | ZoneInfo = "Asia/Shanghai",
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
    ) -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.holidays = frozenset(_plain_date(d) for d in holidays)
        self.workdays = frozenset(_plain_date(d) for d in workdays)
        if both := self.holidays & self.workdays:
            raise ValueError(f"dates entered both as holiday and as working day: {sorted(both)}")
        self._answers: dict[date, tuple[bool, bool]] = {}
        self._days: dict[OfficeHours, dict[date, _Day]] = {}

    def is_working_day(self, day: date) -> bool:
        return self._answer(day)[0]

    def covers(self, day: date) -> bool:
        """Whether the official holiday calendar has data for this date's year."""
        return self._answer(day)[1]

    def _answer(self, day: date) -> tuple[bool, bool]:
        answer = self._answers.get(day)
        if answer is None:
            answer = self._answers[day] = self._decide(day)
        return answer

    def _decide(self, day: date) -> tuple[bool, bool]:
        try:
            official, covered = chinese_calendar.is_workday(day), True
        except NotImplementedError:  # the library refuses years it has no data for
            official, covered = day.weekday() < 5, False
        if day in self.holidays:
            return False, covered
        if day in self.workdays:
            return True, covered
        return official, covered


@dataclass(frozen=True)
class Limit:
    """A stage time limit. A working day is one day of the office hours' working time (24 h under
    24×7 hours); calendar `hours`/`minutes` run around the clock whatever the office hours and
    holidays (e.g. whistle report-in)."""

    amount: float
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in ("working_hours", "working_days", "hours", "minutes"):
            raise ValueError(f"unknown limit unit {self.unit!r}")
        if not (math.isfinite(self.amount) and self.amount > 0):
            raise ValueError(f"a limit must be a positive number, not {self.amount!r}")

    @property
    def wall_clock(self) -> bool:
        return self.unit in ("hours", "minutes")


# ---------------------------------------------------------------------------------------------
# Results and lights


@dataclass(frozen=True, slots=True)
class Due:
    at: datetime  # UTC
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkSpan:
    seconds: float
    warnings: tuple[str, ...] = ()


class Light(LabelledEnum):
    """Traffic light of a stage."""

    GREEN = ("green", "绿灯", "green")
    YELLOW = ("yellow", "黄灯", "yellow")
    RED = ("red", "红灯", "red")


def light(fraction: float, yellow_at: float = 0.8) -> Light:
    """Green below `yellow_at` of the limit used, yellow up to and including 100 %, red past it."""
    _check_yellow(yellow_at)
    if fraction > 1:
        return Light.RED
    return Light.YELLOW if fraction >= yellow_at else Light.GREEN


# ---------------------------------------------------------------------------------------------
# The maths


def deadline(
    start: datetime,
    limit: Limit,
    hours: OfficeHours,
    calendar: WorkCalendar,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> Due:
    """When `limit` runs out for a stage started at `start`. A start outside office hours counts
    from the next office period. Closed `pauses` (suspensions 挂起) push the deadline out; while
    a pause is open the clock is stopped and there is no deadline, so that is refused."""
    hours = _ALWAYS if limit.wall_clock else hours
    start_us = _us(start, "start")
    due_us, years = _advance(
        start_us, _limit_us(limit, hours), hours, calendar, _pause_spans(pauses, None)
    )
    return Due(_at(due_us), _warnings(years))


def working_time(
    start: datetime,
    end: datetime,
    hours: OfficeHours,
    calendar: WorkCalendar,
    pauses: Sequence[Pause] = (),
) -> WorkSpan:
    """Working seconds between two instants, less paused time (an open pause runs to `end`;
    overlapping pauses count once)."""
    start_us, end_us = _us(start, "start"), _us(end, "end")
    worked, years = _worked(start_us, end_us, hours, calendar, _pause_spans(pauses, end_us))
    return WorkSpan(worked / _US, _warnings(years))


def used(
    start: datetime,
    now: datetime,
    limit: Limit,
    hours: OfficeHours,
    calendar: WorkCalendar,
    pauses: Sequence[Pause] = (),
) -> float:
    """Fraction of `limit` used by `now` (working time, or wall time for hours/minutes limits).
    Calendar warnings are those of `working_time()` over the same span."""
    hours = _ALWAYS if limit.wall_clock else hours
    start_us, now_us = _us(start, "start"), _us(now, "now")
    worked, _ = _worked(start_us, now_us, hours, calendar, _pause_spans(pauses, now_us))
    return worked / _limit_us(limit, hours)


def threshold_times(
    start: datetime,
    limit: Limit,
    hours: OfficeHours,
    calendar: WorkCalendar,
    yellow_at: float = 0.8,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> tuple[datetime, datetime]:
    """(yellow_at, due_at): the first instant `light(used(...))` is yellow, and the deadline.

    For a sweep to store and select on: a light can only be yellow once `now >= yellow_at` and
    red once `now > due_at`. The light itself is `light(used(...))`: after a deadline that falls
    at a closing time, used() stays exactly 1.0 (yellow) until working time resumes, so
    `now > due_at` selects candidates and used() decides. Calendar warnings are those of
    `deadline()`, which reads every date this does."""
    _check_yellow(yellow_at)
    hours = _ALWAYS if limit.wall_clock else hours
    start_us, need = _us(start, "start"), _limit_us(limit, hours)
    spans = _pause_spans(pauses, None)
    yellow_need = _yellow_need(need, yellow_at)
    yellow_us, _ = _advance(start_us, yellow_need, hours, calendar, spans)
    # Working time is additive, so the rest of the limit can run on from the yellow instant.
    due_us, _ = _advance(yellow_us, need - yellow_need, hours, calendar, spans)
    return _at(yellow_us), _at(due_us)


def _advance(
    start_us: int, need: int, hours: OfficeHours, calendar: WorkCalendar, pauses: list[Span]
) -> tuple[int, set[int]]:
    """The instant at which `need` µs of unpaused working time have passed since `start_us`."""
    years: set[int] = set()
    if need == 0:  # only the rest after a yellow threshold at 100 %: due at that very instant
        return start_us, years
    for count, day in enumerate(_days_from(start_us, hours, calendar)):
        if count > _HORIZON_DAYS:
            raise ValueError("the limit does not run out within 10 years: check limit and calendar")
        if day.uncovered_year is not None:
            years.add(day.uncovered_year)
        if not day.spans:
            continue
        if not pauses and start_us <= day.spans[0][0] and need > day.total:
            need -= day.total  # the whole day passes: one step, not one per period
            continue
        for a, b in _active(day.spans, start_us, pauses):
            if need <= b - a:
                return a + need, years
            need -= b - a
    raise AssertionError("unreachable: _days_from never ends")


def _worked(
    start_us: int, end_us: int, hours: OfficeHours, calendar: WorkCalendar, pauses: list[Span]
) -> tuple[int, set[int]]:
    """Unpaused working µs in [start_us, end_us), and the uncovered years it relied on."""
    if end_us < start_us:
        raise ValueError("the end of a span cannot be before its start")
    total, years = 0, set[int]()
    if end_us == start_us:
        return total, years
    # `end_us - 1`: a span ending at local midnight reads nothing of the next date.
    last = _local_date(end_us - 1, calendar.tz)
    for day in _days_from(start_us, hours, calendar):
        if day.day > last:
            break
        if day.uncovered_year is not None:
            years.add(day.uncovered_year)
        if not day.spans:
            continue
        if not pauses and start_us <= day.spans[0][0] and day.spans[-1][1] <= end_us:
            total += day.total  # the whole day counts: one step, not one per period
            continue
        for a, b in _active(day.spans, start_us, pauses):
            if a >= end_us:
                break
            total += min(b, end_us) - a
    return total, years


def _active(spans: tuple[Span, ...], after: int, pauses: list[Span]) -> Iterator[Span]:
    """The parts of `spans` after `after` that no pause covers (pauses sorted and merged)."""
    for a, b in spans:
        a = max(a, after)
        for p, q in pauses:
            if a >= b or p >= b:
                break
            if q <= a:
                continue
            if p > a:
                yield a, p
            a = q
        if a < b:
            yield a, b


def _days_from(start_us: int, hours: OfficeHours, calendar: WorkCalendar) -> Iterator[_Day]:
    table = calendar._days.setdefault(hours, {})
    day = _local_date(start_us, calendar.tz)
    while True:
        entry = table.get(day)
        if entry is None:
            entry = table[day] = _build_day(day, hours, calendar)
        yield entry
        day += _DAY


def _build_day(day: date, hours: OfficeHours, calendar: WorkCalendar) -> _Day:
    tz = calendar.tz
    if hours.around_the_clock:  # the real length of the local day (23 or 25 h across DST)
        span = (_local_us(day, time(0), tz), _local_us(day + _DAY, time(0), tz))
        return _Day(day, (span,), span[1] - span[0], None)
    working, covered = calendar._answer(day)
    periods = hours.periods if working else ()
    spans = tuple((_local_us(day, s, tz), _local_us(day, e, tz)) for s, e in periods)
    spans = tuple((a, b) for a, b in spans if a < b)
    return _Day(day, spans, sum(b - a for a, b in spans), None if covered else day.year)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _us(moment: datetime, what: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive {what} datetime {moment.isoformat()}: pass timezone-aware UTC")
    return (moment - _EPOCH) // _ONE_US


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _local_date(us: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(us // _US, tz).date()  # whole seconds keep the date exact


def _local_us(day: date, at: time, tz: ZoneInfo) -> int:
    return (datetime.combine(day, at, tzinfo=tz) - _EPOCH) // _ONE_US


def _time_us(at: time) -> int:
    return ((at.hour * 60 + at.minute) * 60 + at.second) * _US + at.microsecond


def _plain_date(day: date) -> date:
    # A datetime would never equal the dates it is compared with; refuse rather than ignore it.
    if isinstance(day, datetime):
        raise TypeError(f"calendar entries are dates, not datetimes: {day!r}")
    return day


def _limit_us(limit: Limit, hours: OfficeHours) -> int:
    per_unit = _UNIT_US.get(limit.unit) or hours._day_us
    return max(1, round(limit.amount * per_unit))


def _yellow_need(need: int, yellow_at: float) -> int:
    """The fewest µs whose share of `need` `light()` calls yellow: exact, not off by rounding."""
    n = math.ceil(yellow_at * need)
    while n > 1 and (n - 1) / need >= yellow_at:
        n -= 1
    while n / need < yellow_at:
        n += 1
    return n


def _check_yellow(yellow_at: float) -> None:
    if not 0 < yellow_at <= 1:
        raise ValueError(f"yellow_at is a fraction in (0, 1], not {yellow_at!r}")


def _pause_spans(pauses: Sequence[Pause], open_until: int | None) -> list[Span]:
    """Pauses as sorted, merged µs spans; an open pause runs to `open_until`."""
    merged: list[Span] = []
    for p, q in sorted(_pause_span(begin, end, open_until) for begin, end in pauses):
        if merged and p <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], q))
        else:
            merged.append((p, q))
    return merged


def _pause_span(begin: datetime, end: datetime | None, open_until: int | None) -> Span:
    p = _us(begin, "pause start")
    if end is None:
        if open_until is None:
            raise ValueError("the clock is stopped by an open pause: no deadline until it resumes")
        return p, max(p, open_until)
    q = _us(end, "pause end")
    if q < p:
        raise ValueError("a pause cannot end before it starts")
    return p, q


def _warnings(years: set[int]) -> tuple[str, ...]:
    return tuple(_uncovered_warning(year) for year in sorted(years))


def _uncovered_warning(year: int) -> str:
    if year < _OFFICIAL_FIRST_YEAR:
        return (
            f"{year} 年无官方节假日数据，按周末及管理员录入的节假日计算 "
            f"(no official holiday data for {year}; counted weekends and admin-entered "
            "holidays only)"
        )
    return (
        f"{year} 年节假日安排未公布，按周末及管理员录入的节假日计算 "
        f"(holidays for {year} not yet published; counted weekends and admin-entered "
        "holidays only)"
    )
