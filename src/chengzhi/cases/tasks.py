"""Work a case hands to units beside its handling unit, each with a deadline the sweep watches:

- 吹哨报到 whistle and report-in: a street or community summons departments to a case; each must
  report in within minutes (default 30), then act; the whistling unit rates each one afterwards.
- 主办/协办 split: assisting units each reply their part to the lead unit by the handling deadline.
- 督办 supervision: a higher centre orders the handling unit to reply by a deadline.

Every verb goes through the case's one write path (`service.record_action`), so each step is
one event on the hash-chained timeline; `CaseTask` rows are the working projection the inboxes
read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.cases import clocks
from chengzhi.cases.service import SATISFACTION, checked_text, load_case, record_action
from chengzhi.cases.workflow import Action
from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import Case, CaseTask, OrgUnit, TaskKind, TaskState, UnitKind
from chengzhi.orgs.queries import Actor
from chengzhi.worktime import Limit, deadline

MAX_UNITS = 20
# Units whose staff may reply to an assist task (协办): the handling kinds, not the centres.
ASSISTANTS = {UnitKind.DEPARTMENT, UnitKind.STREET_OFFICE, UnitKind.COMMUNITY_COMMITTEE}


def whistle(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    departments: Iterable[str],
    reason: str,
    minutes: int | None = None,
) -> Case:
    """吹哨: the street or community holding the place summons departments to report in."""
    case = load_case(session, number)
    _check_territory(actor, case)
    if case.category is not None and not case.category.whistle:
        raise InvalidInput(
            f"事项 {case.category.code} {case.category.name} 不适用吹哨报到 "
            "(the catalogue does not make this matter whistle-eligible)"
        )
    minutes = minutes or get_settings().whistle_report_in_minutes
    if not 5 <= minutes <= 1440:
        raise InvalidInput("报到时限应在 5–1440 分钟之间 (report-in deadline: 5–1440 minutes)")
    units = _units(session, departments, kinds={UnitKind.DEPARTMENT})
    _check_not_open(session, case, TaskKind.REPORT_IN, units)
    now = clock.now()
    due = now + timedelta(minutes=minutes)
    data = {"departments": [u.code for u in units], "due_at": due.isoformat()}
    record_action(session, clock, actor, case, Action.WHISTLE, reason=reason, data=data)
    _issue(session, case, actor, TaskKind.REPORT_IN, units, now, due)
    return case


def report_in(
    session: Session, clock: Clock, actor: Actor, number: str, note: str | None = None
) -> Case:
    """报到: a summoned department reports in (then acts on the case)."""
    return _finish(session, clock, actor, number, TaskKind.REPORT_IN, Action.REPORT_IN, note)


def rate_report_in(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    department: str,
    rating: str,
    note: str | None = None,
) -> Case:
    """评价: the whistling unit rates how a department answered (missing ones included)."""
    if rating not in SATISFACTION:
        raise InvalidInput(f"评价应为 {', '.join(SATISFACTION)} (rating)")
    case = load_case(session, number)
    task = session.scalar(
        select(CaseTask)
        .join(OrgUnit, OrgUnit.id == CaseTask.unit_id)
        .where(
            CaseTask.case_id == case.id,
            CaseTask.kind == TaskKind.REPORT_IN.value,
            CaseTask.issuer_unit_id == actor.unit_id,
            OrgUnit.code == department,
            CaseTask.rating.is_(None),
        )
        .order_by(CaseTask.id)
        .limit(1)
    )
    if task is None:
        raise NotFound(f"本单位没有待评价的 {department} 报到 (no report-in of yours to rate)")
    data = {"task": task.id, "unit": task.unit_id, "rating": rating, "late": task.late}
    record_action(session, clock, actor, case, Action.RATE_REPORT_IN, reason=note, data=data)
    task.rating = rating
    return case


def split(
    session: Session, clock: Clock, actor: Actor, number: str, assisting: Iterable[str]
) -> Case:
    """拆分: the unit already holding the case leads (主办); each assisting unit (协办) replies its
    part by the handling deadline."""
    case = load_case(session, number)
    if case.unit_id is None:
        raise Conflict("请先派遣主办单位 (dispatch to a lead unit first)")
    units = _units(session, assisting, kinds=ASSISTANTS)
    if any(u.id == case.unit_id for u in units):
        raise InvalidInput("主办单位不能同时协办 (the lead unit cannot also assist)")
    _check_not_open(session, case, TaskKind.ASSIST, units)
    now = clock.now()
    # The handling deadline: the case's own once the lead handles it, else one from now.
    handling = case.stage == "handle" and case.due_at is not None and case.due_at > now
    due = case.due_at if handling else _handling_due(case, now)
    data = {"lead": case.unit_id, "assisting": [u.code for u in units], "due_at": due.isoformat()}
    record_action(session, clock, actor, case, Action.SPLIT, data=data)
    _issue(session, case, actor, TaskKind.ASSIST, units, now, due)
    return case


def assist_reply(session: Session, clock: Clock, actor: Actor, number: str, reply: str) -> Case:
    """协办反馈: an assisting unit reports its part to the lead unit."""
    return _finish(session, clock, actor, number, TaskKind.ASSIST, Action.ASSIST_REPLY, reply)


def supervise(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    reason: str,
    within: Limit | None = None,
) -> Case:
    """督办: a centre orders the handling unit to reply by a deadline (working time)."""
    case = load_case(session, number)
    if case.unit_id is None:
        raise Conflict("案件尚无承办单位 (no handling unit to supervise)")
    within = within or Limit(get_settings().supervision_reply_days, "working_days")
    now = clock.now()
    hours = clocks.hours_for(case)
    due = deadline(now, within, hours, clocks.calendar(session)).at
    unit = session.get_one(OrgUnit, case.unit_id)
    data = {"unit": unit.code, "due_at": due.isoformat()}
    record_action(session, clock, actor, case, Action.SUPERVISE, reason=reason, data=data)
    _issue(session, case, actor, TaskKind.SUPERVISION, [unit], now, due)
    return case


def reply_supervision(
    session: Session, clock: Clock, actor: Actor, number: str, reply: str
) -> Case:
    """督办回复: the handling unit answers the oldest open order."""
    return _finish(
        session, clock, actor, number, TaskKind.SUPERVISION, Action.REPLY_SUPERVISION, reply
    )


def flag_overdue(session: Session, clock: Clock, actor: Actor, task: CaseTask) -> None:
    """The sweep marks an open task whose deadline passed (逾期未报到 / 督办逾期未回复)."""
    case = session.get_one(Case, task.case_id)
    task.late, task.next_check_at = True, None
    data = {"task": task.id, "kind": task.kind, "unit": task.unit_id}
    record_action(session, clock, actor, case, Action.FLAG_OVERDUE, data=data)


def open_tasks(session: Session, case: Case) -> list[CaseTask]:
    return list(
        session.scalars(
            select(CaseTask)
            .where(CaseTask.case_id == case.id, CaseTask.state == TaskState.OPEN.value)
            .order_by(CaseTask.id)
        )
    )


# --- helpers ------------------------------------------------------------------------------


def _finish(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    kind: TaskKind,
    action: Action,
    text: str | None,
) -> Case:
    """The actor's unit does its oldest open task of this kind on the case."""
    case = load_case(session, number)
    with session.no_autoflush:  # tasks are stored when issued; their state is read in memory
        rows = session.scalars(
            select(CaseTask)
            .where(
                CaseTask.case_id == case.id,
                CaseTask.kind == kind.value,
                CaseTask.state == TaskState.OPEN.value,
                CaseTask.unit_id == (actor.unit_id or -1),
            )
            .order_by(CaseTask.id)
        ).all()
    task = next((t for t in rows if t.state == TaskState.OPEN.value), None)
    if task is None:
        raise NotFound(f"本单位在该案件上没有待办的{kind.zh}任务 (no open {kind.en} task for you)")
    if action is not Action.REPORT_IN:
        text = checked_text(text or "", "回复 reply", 10_000)
    now = clock.now()
    late = task.late or now > task.due_at
    record_action(
        session, clock, actor, case, action, data={"task": task.id, "late": late, "reply": text}
    )
    task.state, task.done_at, task.done_by_id = TaskState.DONE.value, now, actor.person_id
    task.reply, task.late, task.next_check_at = text, late, None
    return case


def _issue(
    session: Session,
    case: Case,
    actor: Actor,
    kind: TaskKind,
    units: list[OrgUnit],
    now: datetime,
    due: datetime,
) -> None:
    session.add_all(
        CaseTask(
            case_id=case.id,
            kind=kind.value,
            state=TaskState.OPEN.value,
            unit_id=unit.id,
            issuer_unit_id=actor.unit_id,
            issued_by_id=actor.person_id,
            issued_seq=case.event_count,
            issued_at=now,
            due_at=due,
            late=False,
            next_check_at=due,
        )
        for unit in units
    )
    session.flush()


def _units(
    session: Session, codes: Iterable[str], kinds: set[UnitKind] | None = None
) -> list[OrgUnit]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c and c.strip()))
    if not codes:
        raise InvalidInput("请至少指定一个单位 (name at least one unit)")
    if len(codes) > MAX_UNITS:
        raise InvalidInput(f"一次最多 {MAX_UNITS} 个单位 (at most {MAX_UNITS} units)")
    with session.no_autoflush:  # units are stored when made; pending case changes can wait
        rows = session.scalars(
            select(OrgUnit).where(OrgUnit.code.in_(codes), OrgUnit.active.is_(True))
        ).all()
    found = {u.code: u for u in rows}
    if missing := [c for c in codes if c not in found]:
        raise NotFound(f"单位不存在：{'、'.join(missing)} (no such unit)")
    if kinds and (wrong := [c for c in codes if UnitKind(found[c].kind) not in kinds]):
        allowed = sorted(kinds, key=list(UnitKind).index)
        raise InvalidInput(
            f"只能指定{'、'.join(k.zh for k in allowed)}：{'、'.join(wrong)} "
            f"(only {', '.join(k.en for k in allowed)}s)"
        )
    return [found[c] for c in codes]


def _check_not_open(session: Session, case: Case, kind: TaskKind, units: list[OrgUnit]) -> None:
    with session.no_autoflush:  # tasks are stored when issued; their state is read in memory
        tasks = session.scalars(
            select(CaseTask).where(
                CaseTask.case_id == case.id,
                CaseTask.kind == kind.value,
                CaseTask.unit_id.in_([u.id for u in units]),
            )
        ).all()
    codes = {u.id: u.code for u in units}
    if busy := [codes[t.unit_id] for t in tasks if t.state == TaskState.OPEN.value]:
        raise Conflict(f"已有未完成的{kind.zh}任务：{'、'.join(busy)} ({kind.en} already open)")


def _check_territory(actor: Actor, case: Case) -> None:
    """Streets and communities whistle on cases in their own area (街乡吹哨), or on their own."""
    if actor.unit_id is not None and case.unit_id == actor.unit_id:
        return
    area, place = actor.jurisdiction, case.region_code
    if area is None or place is None or not place.startswith(area):
        raise Forbidden("只能对本辖区的案件吹哨 (only cases in your area)")


def _handling_due(case: Case, now: datetime) -> datetime:
    session = Session.object_session(case)
    limit = clocks.limit_for(case, "handle")
    return deadline(now, limit, clocks.hours_for(case), clocks.calendar(session)).at
