"""The closed loop through the service verbs, on a real database."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from chengzhi.cases import clocks, service, timeline
from chengzhi.errors import Conflict, Forbidden, InvalidInput, InvalidTransition
from chengzhi.models import CaseEvent, OrgUnit
from chengzhi.worktime import Limit
from tests.cases.conftest import appeal, district_matter


def registered(session, clock, city, **extra):
    return service.register_case(session, clock, city.actors["operator"], appeal(city, **extra))


def dispatched(session, clock, city, **extra):
    case = registered(session, clock, city, **extra)
    dispatcher = city.actors["dispatcher"]
    service.file_case(session, clock, dispatcher, case.number)
    return service.dispatch_case(session, clock, dispatcher, case.number)


def test_a_street_matter_goes_round_the_whole_loop(session, clock, city):
    case = registered(session, clock, city)
    assert case.status == "registered" and case.number.startswith("20261102")
    assert case.region_code == city.grid.code
    d, street = city.actors["dispatcher"], city.actors["street_staff"]
    service.file_case(session, clock, d, case.number)
    assert case.stage == "dispatch" and case.due_at > clock.now()
    service.dispatch_case(session, clock, d, case.number)
    assert case.unit_id == street.unit_id  # 暴露垃圾: the street (属地) handles it
    service.sign_case(session, clock, street, case.number)
    assert case.status == "in_progress" and case.stage == "handle"
    service.handle_case(session, clock, street, case.number, "已清运并消杀")
    service.verify_case(session, clock, d, case.number, passed=True)
    assert case.status == "closed" and case.stage is None and case.closed_at == clock.now()
    service.revisit_case(
        session, clock, city.actors["operator"], case.number, True, True, "satisfied"
    )
    assert case.status == "archived"
    actions = session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    assert actions == ["register", "file", "dispatch", "sign", "handle", "verify_pass", "revisit"]
    assert timeline.verify(session, [case.id]) == (7, [])


def test_the_wrong_role_or_status_is_refused_and_nothing_changes(session, clock, city):
    case = registered(session, clock, city)
    with pytest.raises(Forbidden):
        service.file_case(session, clock, city.actors["resident"], case.number)
    with pytest.raises(InvalidTransition):
        service.sign_case(session, clock, city.actors["street_staff"], case.number)
    assert case.status == "registered"
    assert session.query(CaseEvent).filter_by(case_id=case.id).count() == 1


def test_only_the_assigned_unit_signs_and_handles(session, clock, city):
    case = dispatched(session, clock, city)
    with pytest.raises(Forbidden, match="not assigned"):
        service.sign_case(session, clock, city.actors["department_staff"], case.number)


def test_a_district_matter_routes_to_the_districts_department(session, clock, city):
    case = dispatched(session, clock, city, category=district_matter(session))
    assert case.unit_id == city.actors["department_staff"].unit_id


def test_a_grid_worker_verifies_in_their_grid_but_not_their_own_units_work(session, clock, city):
    case = dispatched(session, clock, city, category=district_matter(session))
    dept, grid_worker = city.actors["department_staff"], city.actors["grid_worker"]
    service.sign_case(session, clock, dept, case.number)
    service.handle_case(session, clock, dept, case.number, "已修复")
    service.verify_case(session, clock, grid_worker, case.number, passed=False, reason="仍有破损")
    assert case.status == "in_progress" and case.stage == "handle"  # 返工
    service.handle_case(session, clock, dept, case.number, "已重新修复")
    service.verify_case(session, clock, grid_worker, case.number, passed=True)
    assert case.status == "closed"
    grid_case = dispatched(session, clock, city, category=("matter", "06010"))
    grid_case.unit_id = grid_worker.unit_id  # handled by the grid worker's own community
    service.sign_case(session, clock, city.actors["community_staff"], grid_case.number)
    service.handle_case(session, clock, city.actors["community_staff"], grid_case.number, "已处理")
    with pytest.raises(Forbidden, match="own unit"):
        service.verify_case(session, clock, grid_worker, grid_case.number, passed=True)


def test_a_return_is_arbitrated_by_the_dispatcher(session, clock, city):
    case = dispatched(session, clock, city)
    street, d = city.actors["street_staff"], city.actors["dispatcher"]
    service.sign_case(session, clock, street, case.number)
    with pytest.raises(InvalidInput, match="reason"):
        service.request_return(session, clock, street, case.number, " ")
    service.request_return(session, clock, street, case.number, "属于交通部门职责")
    service.arbitrate_return(session, clock, d, case.number, approve=False, reason="属地管理")
    assert case.status == "in_progress" and case.unit_id == street.unit_id
    service.request_return(session, clock, street, case.number, "确属交通部门")
    service.arbitrate_return(session, clock, d, case.number, approve=True)
    assert case.status == "filed" and case.unit_id is None and case.stage == "dispatch"


def test_suspension_stops_the_clock(session, clock, city):
    case = dispatched(session, clock, city)
    street, d = city.actors["street_staff"], city.actors["dispatcher"]
    service.sign_case(session, clock, street, case.number)  # Monday 09:00
    due = case.due_at
    service.suspend_case(session, clock, d, case.number, "等待产权单位确认")
    assert clocks.light(case, clock.now()) is None
    clock.advance(hours=2)  # 09:00 → 11:00, inside office hours
    service.resume_case(session, clock, d, case.number)
    assert case.due_at - due >= timedelta(hours=2)  # two working hours later (maybe across a night)
    assert case.status == "in_progress"


def test_an_approved_extension_moves_the_deadline(session, clock, city):
    case = dispatched(session, clock, city)
    street, d = city.actors["street_staff"], city.actors["dispatcher"]
    service.sign_case(session, clock, street, case.number)
    due = case.due_at
    with pytest.raises(Conflict, match="no extension"):
        service.decide_extension(session, clock, d, case.number, approve=True)
    service.request_extension(
        session, clock, street, case.number, "需协调物业", Limit(2, "working_days")
    )
    service.decide_extension(session, clock, d, case.number, approve=True)
    assert case.due_at > due + timedelta(days=1)
    assert case.stage_started_at < case.yellow_at < case.due_at


def test_a_dissatisfied_resident_gets_the_case_reopened(session, clock, city):
    case = registered(session, clock, city, category=None, request_type=service.RequestType.INQUIRY)
    service.close_case(session, clock, city.actors["operator"], case.number, "已电话答复")
    service.revisit_case(
        session, clock, city.actors["operator"], case.number, True, False, "dissatisfied"
    )
    service.reopen_case(
        session, clock, city.actors["dispatcher"], case.number, "群众不满意，重新办理"
    )
    assert case.status == "filed" and case.closed_at is None


def test_duplicates_merge_into_the_open_case(session, clock, city):
    first, second = registered(session, clock, city), registered(session, clock, city)
    service.merge_case(
        session, clock, city.actors["dispatcher"], second.number, first.number, "同一问题"
    )
    assert second.status == "merged" and second.merged_into_id == first.id
    with pytest.raises(Conflict):
        service.merge_case(
            session, clock, city.actors["dispatcher"], first.number, second.number, "x"
        )


def test_a_case_without_category_cannot_be_auto_dispatched(session, clock, city):
    case = registered(session, clock, city, category=None)
    d = city.actors["dispatcher"]
    service.file_case(session, clock, d, case.number)
    with pytest.raises(Conflict, match="no category"):
        service.dispatch_case(session, clock, d, case.number)
    unit = session.get(OrgUnit, city.actors["street_staff"].unit_id)
    service.dispatch_case(session, clock, d, case.number, unit_code=unit.code)
    assert case.unit_id == unit.id


def test_an_edited_or_deleted_event_breaks_the_chain(session, clock, city):
    case = dispatched(session, clock, city)
    session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.seq == 2)
        .values(reason="篡改")
    )
    checked, breaks = timeline.verify(session, [case.id])
    assert checked == 3 and [b.seq for b in breaks] == [2]
    last = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 3))
    session.delete(last)
    session.flush()
    _, breaks = timeline.verify(session, [case.id])
    assert any(b.seq is None for b in breaks)
