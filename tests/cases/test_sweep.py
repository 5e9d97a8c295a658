"""The clock sweep: remind at yellow, escalate at due and one level further per further limit,
never twice for the same crossing, never while suspended."""

from datetime import timedelta

from sqlalchemy import select

from chengzhi.cases import jobs, service
from chengzhi.jobs.service import registry
from chengzhi.models import CaseEvent, OrgUnit
from tests.cases.conftest import appeal


def actions(session, case) -> list[str]:
    rows = session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    )
    return list(rows)


def signed(session, clock, city):
    case = service.register_case(session, clock, city.actors["operator"], appeal(city))
    d, street = city.actors["dispatcher"], city.actors["street_staff"]
    service.file_case(session, clock, d, case.number)
    service.dispatch_case(session, clock, d, case.number)
    service.sign_case(session, clock, street, case.number)
    return case


def test_yellow_reminds_once_then_due_escalates_up_the_chain(session, clock, city):
    case = signed(session, clock, city)  # 暴露垃圾: a 4-working-hour handling limit from 09:00
    assert jobs.sweep(session, clock) == 0
    clock.at = case.yellow_at + timedelta(seconds=1)
    assert jobs.sweep(session, clock) == 1
    assert actions(session, case)[-1] == "remind" and case.next_check_at == case.due_at
    assert jobs.sweep(session, clock) == 0  # the same crossing is not reminded twice
    clock.at = case.due_at + timedelta(seconds=1)
    jobs.sweep(session, clock)
    escalation = session.scalar(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    assert escalation.action == "escalate" and escalation.role == "system"
    district_centre = session.get(OrgUnit, escalation.data["to_unit"])
    assert (
        district_centre.kind == "operations_centre"
        and district_centre.code == f"OC{case.region_code[:6]}"
    )
    clock.at = case.next_check_at + timedelta(seconds=1)  # a further limit overdue
    jobs.sweep(session, clock)
    second = session.scalar(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    )
    assert second.data["hop"] == 2 and session.get(OrgUnit, second.data["to_unit"]).code == "OC50"
    clock.at = case.next_check_at + timedelta(seconds=1)
    jobs.sweep(session, clock)
    assert case.next_check_at is None  # the city centre is the top
    assert case.status == "in_progress"


def test_a_suspended_case_is_not_swept(session, clock, city):
    case = signed(session, clock, city)
    service.suspend_case(session, clock, city.actors["dispatcher"], case.number, "等待鉴定")
    clock.advance(days=30)
    assert jobs.sweep(session, clock) == 0
    service.resume_case(session, clock, city.actors["dispatcher"], case.number)
    assert case.next_check_at is not None and case.next_check_at > clock.now() - timedelta(
        seconds=1
    )


def test_a_concluded_case_leaves_the_sweep(session, clock, city):
    case = signed(session, clock, city)
    street = city.actors["street_staff"]
    service.handle_case(session, clock, street, case.number, "已清运")
    service.verify_case(session, clock, city.actors["dispatcher"], case.number, True)
    assert case.next_check_at is None
    clock.advance(days=30)
    assert jobs.sweep(session, clock) == 0


def test_the_worker_knows_the_sweep():
    assert registry.schedule["cases.sweep_clocks"] == timedelta(minutes=1)
