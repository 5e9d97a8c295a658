"""Stage clocks of a case: which limit applies (category × urgency × stage), when the stage is
yellow and due, and how suspensions and approved extensions move it. Maths in worktime; the
working calendar and the handling unit's office hours come from `orgs.calendar`.

The clocks read the calendar of the database the case lives in (`object_session(case)`), so the
verbs keep their signatures and a case's clock always follows the entries its own transaction
sees."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, object_session

from chengzhi import db
from chengzhi.models import Case, OrgUnit, Urgency
from chengzhi.orgs import calendar as org_calendar
from chengzhi.worktime import (
    Limit,
    OfficeHours,
    WorkCalendar,
    deadline,
    threshold_times,
    working_time,
)

# Used when a case has no category yet (a 12345 order before classification).
FALLBACK = {
    "dispatch": Limit(1, "working_hours"),
    "sign": Limit(1, "working_days"),
    "handle": Limit(7, "working_days"),
    "verify": Limit(2, "working_days"),
}
LIMIT_SET = {
    Urgency.NORMAL: "limits",
    Urgency.URGENT: "urgent_limits",
    Urgency.CRITICAL: "critical_limits",
}


def calendar(session: Session) -> WorkCalendar:
    """The city's working calendar: official holidays and 调休 with the admin's entries."""
    return org_calendar.work_calendar(session)


def hours_for(case: Case) -> OfficeHours:
    """特急 runs around the clock; everything else in the handling unit's office hours (the
    city's default while no unit handles the case)."""
    if case.urgency == Urgency.CRITICAL.value:
        return OfficeHours.always()
    return org_calendar.office_hours(_handling_unit(case))


def _handling_unit(case: Case) -> OrgUnit | None:
    # The verbs assign `unit_id`; `case.unit` may still hold the previous unit until a flush.
    session = object_session(case)
    if session is None:
        return case.unit
    if case.unit_id is None:
        return None
    held: dict[int, OrgUnit | None] = db.memo(session, "clocks.units", dict, lasting=True)
    if case.unit_id not in held:  # held for the transaction: the identity map lets go of it
        with session.no_autoflush:
            held[case.unit_id] = session.get(OrgUnit, case.unit_id)
    return held[case.unit_id]


def _calendar_of(case: Case) -> WorkCalendar:
    session = object_session(case)
    if session is None:
        raise ValueError(f"case {case.number} is in no session: its clock needs the calendar")
    return calendar(session)


def limit_for(case: Case, stage: str) -> Limit:
    if case.category is None:
        return FALLBACK[stage]
    raw = getattr(case.category, LIMIT_SET[Urgency(case.urgency)])[stage]
    return Limit(raw["amount"], raw["unit"])


def start(case: Case, stage: str | None, now: datetime) -> None:
    """Start (or, with None, stop) the stage clock."""
    case.stage, case.pauses, case.escalations = stage, [], 0
    if stage is None:
        case.stage_started_at = case.yellow_at = case.due_at = case.next_check_at = None
        return
    case.stage_started_at = now
    case.yellow_at, case.due_at = threshold_times(
        now, limit_for(case, stage), hours_for(case), _calendar_of(case)
    )
    case.next_check_at = case.yellow_at


def pause(case: Case, now: datetime) -> None:
    case.pauses = [*case.pauses, [now.isoformat(), None]]
    case.next_check_at = None  # a stopped clock crosses nothing


def resume(case: Case, now: datetime) -> None:
    """Close the open pause and move yellow and due by the working time it took."""
    closed = [[s, e or now.isoformat()] for s, e in case.pauses]
    case.pauses = closed
    if case.stage is None or case.stage_started_at is None:
        return
    pauses = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in closed]
    limit = limit_for(case, case.stage)
    case.yellow_at, case.due_at = threshold_times(
        case.stage_started_at, limit, hours_for(case), _calendar_of(case), pauses=pauses
    )
    reschedule(case, now)


def reschedule(case: Case, now: datetime) -> None:
    """The next instant the sweep must look: the yellow threshold if still ahead, else due."""
    ahead = [t for t in (case.yellow_at, case.due_at) if t is not None and t > now]
    case.next_check_at = ahead[0] if ahead else now


def extend(case: Case, extra: Limit, now: datetime) -> None:
    """An approved extension (延期): due moves by `extra`; yellow stays at 80 % of the new span."""
    if case.due_at is None or case.stage_started_at is None:
        return
    hours, cal = hours_for(case), _calendar_of(case)
    case.due_at = deadline(case.due_at, extra, hours, cal).at
    span = working_time(case.stage_started_at, case.due_at, hours, cal).seconds
    # Under 24×7 hours a working hour is an hour, so one unit serves both.
    yellow = Limit(0.8 * span / 3600, "working_hours")
    case.yellow_at = deadline(case.stage_started_at, yellow, hours, cal).at
    case.escalations = 0
    reschedule(case, now)


def light(case: Case, now: datetime) -> str | None:
    """green / yellow / red for a running stage; None when no clock runs (or it is stopped)."""
    if case.due_at is None or case.yellow_at is None or any(e is None for _, e in case.pauses):
        return None
    if now > case.due_at:
        return "red"
    return "yellow" if now >= case.yellow_at else "green"
