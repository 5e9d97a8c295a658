"""吹哨报到, 主办/协办 and 督办 on a real database: tasks, deadlines, flags, scope, the timeline."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from chengzhi.cases import service, tasks, timeline
from chengzhi.cases.jobs import sweep
from chengzhi.cases.queries import get_case
from chengzhi.clock import FrozenClock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import CaseEvent, CaseTask, OrgUnit, Person, Role
from chengzhi.orgs import service as orgs
from chengzhi.orgs.queries import actor_for
from chengzhi.worktime import Limit
from tests.cases.conftest import appeal


def departments(session, city, n=2):
    """Departments of the district the demo grid lies in."""
    district = city.grid.code[:6]
    return list(
        session.scalars(
            select(OrgUnit.code)
            .where(OrgUnit.kind == "department", OrgUnit.code.like(f"D{district}-%"))
            .order_by(OrgUnit.code)
            .limit(n)
        )
    )


WHISTLE_MATTER = ("matter", "06001")  # 私搭乱建: street-handled, whistle-eligible


def in_progress(session, clock, city, category=WHISTLE_MATTER):
    """A street matter the demo street office has signed for."""
    new = appeal(city, category)
    case = service.register_case(session, clock, city.actors["operator"], new)
    d, street = city.actors["dispatcher"], city.actors["street_staff"]
    service.file_case(session, clock, d, case.number)
    service.dispatch_case(session, clock, d, case.number)
    service.sign_case(session, clock, street, case.number)
    return case


def staff_of(session, unit_code):
    """A member of staff of the department (one is added when the demo has none)."""
    person = session.scalar(
        select(Person)
        .join(OrgUnit, OrgUnit.id == Person.org_unit_id)
        .where(OrgUnit.code == unit_code, Person.role == "department_staff")
        .limit(1)
    )
    if person is None:
        clock = FrozenClock(datetime(2026, 11, 1, tzinfo=UTC))
        person = orgs.create_person(session, clock, "李四", Role.DEPARTMENT_STAFF, unit_code)
        session.flush()
    return actor_for(session, person.id)


def case_tasks(session, case):
    return session.scalars(
        select(CaseTask).where(CaseTask.case_id == case.id).order_by(CaseTask.id)
    ).all()


def test_a_street_whistles_and_departments_report_in_late_or_not_at_all(session, clock, city):
    case = in_progress(session, clock, city)
    street = city.actors["street_staff"]
    first, second = departments(session, city)
    tasks.whistle(session, clock, street, case.number, [first, second], "占道经营屡禁不止")
    report_ins = case_tasks(session, case)
    assert [t.state for t in report_ins] == ["open", "open"]
    assert report_ins[0].due_at == clock.now() + timedelta(minutes=30)

    # The department now sees the case (it has a task on it), reports in within time.
    dept = staff_of(session, first)
    assert get_case(session, dept, case.number).id == case.id
    clock.advance(minutes=10)
    tasks.report_in(session, clock, dept, case.number, "已到场")
    assert report_ins[0].state == "done" and not report_ins[0].late

    # The second misses the deadline: the sweep flags it once, on the timeline.
    clock.advance(minutes=25)
    assert sweep(session, clock) >= 1
    assert report_ins[1].late and report_ins[1].state == "open"
    assert sweep(session, clock) == 0 or not any(t.next_check_at for t in case_tasks(session, case))
    flags = session.scalars(
        select(CaseEvent.data).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "flag_overdue"
        )
    ).all()
    assert [f["task"] for f in flags] == [report_ins[1].id]
    late = staff_of(session, second)
    tasks.report_in(session, clock, late, case.number)
    assert report_ins[1].state == "done" and report_ins[1].late

    # The street rates each department afterwards, once.
    tasks.rate_report_in(session, clock, street, case.number, first, "satisfied")
    tasks.rate_report_in(session, clock, street, case.number, second, "dissatisfied")
    assert [t.rating for t in report_ins] == ["satisfied", "dissatisfied"]
    with pytest.raises(NotFound):
        tasks.rate_report_in(session, clock, street, case.number, first, "satisfied")
    assert timeline.verify(session, [case.id])[1] == []


def test_whistle_rules(session, clock, city):
    case = in_progress(session, clock, city)
    street, [dept] = city.actors["street_staff"], departments(session, city, 1)
    with pytest.raises(Forbidden):  # departments do not whistle
        tasks.whistle(session, clock, staff_of(session, dept), case.number, [dept], "x")
    with pytest.raises(InvalidInput, match="only departments"):
        tasks.whistle(session, clock, street, case.number, [street_unit(session, street)], "x")
    with pytest.raises(NotFound):
        tasks.whistle(session, clock, street, case.number, ["NO-SUCH"], "x")
    with pytest.raises(InvalidInput, match="reason"):
        tasks.whistle(session, clock, street, case.number, [dept], " ")
    tasks.whistle(session, clock, street, case.number, [dept], "需要执法", minutes=60)
    with pytest.raises(Conflict):  # already summoned and not yet reported in
        tasks.whistle(session, clock, street, case.number, [dept], "再次吹哨")
    with pytest.raises(NotFound):  # a department that was not summoned has nothing to report
        other = departments(session, city, 3)[-1]
        tasks.report_in(session, clock, staff_of(session, other), case.number)
    assert len(case_tasks(session, case)) == 1


def test_only_whistle_eligible_matters_take_a_whistle(session, clock, city):
    case = in_progress(session, clock, city, ("matter", "06010"))  # 垃圾: no whistle in the list
    street, [dept] = city.actors["street_staff"], departments(session, city, 1)
    with pytest.raises(InvalidInput, match="whistle-eligible"):
        tasks.whistle(session, clock, street, case.number, [dept], "需要执法")
    assert case_tasks(session, case) == []


def street_unit(session, actor):
    return session.get(OrgUnit, actor.unit_id).code


def test_a_split_case_has_a_lead_and_assisting_units(session, clock, city):
    case = in_progress(session, clock, city)
    d, street = city.actors["dispatcher"], city.actors["street_staff"]
    first, second = departments(session, city)
    with pytest.raises(InvalidInput, match="lead"):
        tasks.split(session, clock, d, case.number, [street_unit(session, street)])
    tasks.split(session, clock, d, case.number, [first, second])
    assists = case_tasks(session, case)
    assert {t.kind for t in assists} == {"assist"} and all(t.due_at == case.due_at for t in assists)
    tasks.assist_reply(session, clock, staff_of(session, first), case.number, "已配合清理")
    with pytest.raises(InvalidInput):  # a reply needs text
        tasks.assist_reply(session, clock, staff_of(session, second), case.number, "")
    # The lead handles and the case closes: the assist never answered lapses, on the record.
    service.handle_case(session, clock, street, case.number, "已清理完毕")
    service.verify_case(session, clock, d, case.number, passed=True)
    assert [t.state for t in assists] == ["done", "lapsed"]
    closing = session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())
    )
    assert closing.data["lapsed_tasks"] == [assists[1].id]
    with pytest.raises(Conflict):  # a case without a lead cannot be split
        fresh = service.register_case(session, clock, city.actors["operator"], appeal(city))
        service.file_case(session, clock, d, fresh.number)
        tasks.split(session, clock, d, fresh.number, [first])


def test_a_split_before_signing_gives_assistants_the_handling_deadline(session, clock, city):
    d = city.actors["dispatcher"]
    case = service.register_case(session, clock, city.actors["operator"], appeal(city))
    service.file_case(session, clock, d, case.number)
    service.dispatch_case(session, clock, d, case.number)  # the clock is the sign stage's
    [dept] = departments(session, city, 1)
    centre = session.scalar(select(OrgUnit.code).where(OrgUnit.kind == "operations_centre"))
    with pytest.raises(InvalidInput, match="only department"):  # a centre cannot reply
        tasks.split(session, clock, d, case.number, [centre])
    tasks.split(session, clock, d, case.number, [dept])
    [assist] = case_tasks(session, case)
    handling = tasks._handling_due(case, clock.now())
    assert assist.due_at == handling and handling > case.due_at


def test_supervision_needs_a_reply_by_its_deadline(session, clock, city):
    case = in_progress(session, clock, city)
    supervisor, street = city.actors["supervisor"], city.actors["street_staff"]
    with pytest.raises(Forbidden):
        tasks.supervise(session, clock, street, case.number, "督办")
    tasks.supervise(session, clock, supervisor, case.number, "群众反映强烈", Limit(2, "hours"))
    [order] = case_tasks(session, case)
    assert order.kind == "supervision" and order.unit_id == street.unit_id
    clock.advance(hours=3)
    sweep(session, clock)
    assert order.late
    tasks.reply_supervision(session, clock, street, case.number, "已加派人手，明日办结")
    assert order.state == "done" and order.late and order.reply.startswith("已加派")
    with pytest.raises(NotFound):  # nothing left to reply to
        tasks.reply_supervision(session, clock, street, case.number, "再次回复")
    assert timeline.verify(session, [case.id])[1] == []


def test_only_the_system_flags_overdue_tasks(session, clock, city):
    case = in_progress(session, clock, city)
    [dept] = departments(session, city, 1)
    tasks.whistle(session, clock, city.actors["street_staff"], case.number, [dept], "需要执法")
    [task] = case_tasks(session, case)
    with pytest.raises(Forbidden):
        tasks.flag_overdue(session, clock, city.actors["supervisor"], task)
