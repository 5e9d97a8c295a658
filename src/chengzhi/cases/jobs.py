"""The clock sweep (时限监控): every minute, each case whose next instant has passed gets a
reminder (催办) at yellow and an escalation (逐级上报) at due, then one more hop up per further
limit overdue; each report-in, assist or supervision task past its deadline is flagged once. It
reads only the rows whose `next_check_at` has passed, so its cost grows with the cases crossing
a threshold, not with all open cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from chengzhi.cases import clocks, routing, service, tasks
from chengzhi.clock import Clock
from chengzhi.jobs.service import registry
from chengzhi.models import Case, CaseTask
from chengzhi.orgs.queries import Actor
from chengzhi.worktime import deadline

BATCH = 500
SYSTEM = Actor.system()


@registry.periodic("cases.sweep_clocks", every=timedelta(minutes=1))
def sweep_clocks(session: Session, payload: dict[str, Any], clock: Clock) -> None:
    sweep(session, clock)


def sweep(session: Session, clock: Clock) -> int:
    """Act on every case and task whose next instant has passed; returns how many."""
    now, done = clock.now(), 0
    while True:
        batch = session.scalars(
            select(Case)
            .where(Case.next_check_at <= now)
            .order_by(Case.next_check_at, Case.id)
            .limit(BATCH)
            .options(selectinload(Case.unit), selectinload(Case.category))
        ).all()
        for case in batch:
            check(session, clock, case, now)
        done += len(batch)
        if len(batch) < BATCH:
            break
    while True:  # 报到, 协办 and 督办 deadlines
        overdue = session.scalars(
            select(CaseTask)
            .where(CaseTask.next_check_at <= now)
            .order_by(CaseTask.next_check_at, CaseTask.id)
            .limit(BATCH)
        ).all()
        for task in overdue:
            tasks.flag_overdue(session, clock, SYSTEM, task)
        done += len(overdue)
        if len(overdue) < BATCH:
            return done


def check(session: Session, clock: Clock, case: Case, now: datetime) -> None:
    if case.due_at is not None and now > case.due_at:
        _escalate(session, clock, case, now)
    else:
        service.remind_case(
            session, clock, SYSTEM, case.number, "即将超期 (the limit is 80 % used)"
        )
        case.next_check_at = case.due_at


def _escalate(session: Session, clock: Clock, case: Case, now: datetime) -> None:
    hop = case.escalations + 1
    target = routing.escalation_target(session, case.unit, case.region_code, hop)
    if target is None:  # already at the top: nothing further to climb
        case.next_check_at = None
        return
    limit = clocks.limit_for(case, case.stage or "handle")
    case.next_check_at = deadline(now, limit, clocks.hours_for(case), clocks.calendar(session)).at
    reason = f"超期未办结，第 {hop} 次逐级上报 (overdue: escalation {hop})"
    service.escalate_case(session, clock, SYSTEM, case.number, reason, target)
