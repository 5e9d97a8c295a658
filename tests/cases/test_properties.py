"""Random legal walks through the loop keep the invariants: one event per step, an intact hash
chain, no running clock on a concluded or suspended case, no open task on an ended one."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from chengzhi.cases import clocks, service, tasks, timeline
from chengzhi.cases.workflow import ENDED, FINAL, Status
from chengzhi.errors import DomainError
from chengzhi.models import CaseEvent, CaseTask, OrgUnit, Person
from chengzhi.worktime import Limit
from tests.cases.conftest import appeal


def dept(session) -> list[str]:
    """The demo department persona's unit, summoned or asked to assist."""
    unit = select(OrgUnit.code).join(Person, Person.org_unit_id == OrgUnit.id)
    return [session.scalar(unit.where(Person.username == "department_staff"))]


# action → (persona, call(session, clock, actor, number))
STEPS = {
    "file": ("dispatcher", lambda s, c, a, n: service.file_case(s, c, a, n)),
    "cancel": ("dispatcher", lambda s, c, a, n: service.cancel_case(s, c, a, n, "重复来电")),
    "dispatch": ("dispatcher", lambda s, c, a, n: service.dispatch_case(s, c, a, n)),
    "sign": ("street_staff", lambda s, c, a, n: service.sign_case(s, c, a, n)),
    "return": ("street_staff", lambda s, c, a, n: service.request_return(s, c, a, n, "非本单位")),
    "approve_return": ("dispatcher", lambda s, c, a, n: service.arbitrate_return(s, c, a, n, True)),
    "reject_return": (
        "dispatcher",
        lambda s, c, a, n: service.arbitrate_return(s, c, a, n, False, "属地"),
    ),
    "extension": (
        "street_staff",
        lambda s, c, a, n: service.request_extension(s, c, a, n, "协调", Limit(1, "working_days")),
    ),
    "approve_extension": (
        "dispatcher",
        lambda s, c, a, n: service.decide_extension(s, c, a, n, True),
    ),
    "suspend": ("dispatcher", lambda s, c, a, n: service.suspend_case(s, c, a, n, "等待")),
    "resume": ("dispatcher", lambda s, c, a, n: service.resume_case(s, c, a, n)),
    "handle": ("street_staff", lambda s, c, a, n: service.handle_case(s, c, a, n, "已处理")),
    "pass": ("dispatcher", lambda s, c, a, n: service.verify_case(s, c, a, n, True)),
    "fail": ("dispatcher", lambda s, c, a, n: service.verify_case(s, c, a, n, False, "未整改")),
    "close": ("operator", lambda s, c, a, n: service.close_case(s, c, a, n, "已答复")),
    "revisit": (
        "operator",
        lambda s, c, a, n: service.revisit_case(s, c, a, n, True, False, "dissatisfied"),
    ),
    "reopen": ("dispatcher", lambda s, c, a, n: service.reopen_case(s, c, a, n, "不满意")),
    "remind": ("supervisor", lambda s, c, a, n: service.remind_case(s, c, a, n, "请加快")),
    "whistle": ("street_staff", lambda s, c, a, n: tasks.whistle(s, c, a, n, dept(s), "需执法")),
    "report_in": ("department_staff", lambda s, c, a, n: tasks.report_in(s, c, a, n)),
    "split": ("dispatcher", lambda s, c, a, n: tasks.split(s, c, a, n, dept(s))),
    "assist": ("department_staff", lambda s, c, a, n: tasks.assist_reply(s, c, a, n, "已配合")),
    "supervise": ("supervisor", lambda s, c, a, n: tasks.supervise(s, c, a, n, "加快办理")),
    "reply": ("street_staff", lambda s, c, a, n: tasks.reply_supervision(s, c, a, n, "已加快")),
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    walk=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=18),
    gaps=st.lists(st.integers(0, 600), min_size=18, max_size=18),
)
def test_random_walks_keep_the_invariants(session, clock, city, walk, gaps):
    new = appeal(city, ("matter", "06001"))  # 私搭乱建: street-handled, whistle-eligible
    case = service.register_case(session, clock, city.actors["operator"], new)
    steps = 1
    for name, gap in zip(walk, gaps, strict=False):
        persona, call = STEPS[name]
        clock.advance(minutes=gap)
        nested = session.begin_nested()
        try:
            call(session, clock, city.actors[persona], case.number)
        except DomainError:
            nested.rollback()  # refused: nothing may have changed
            session.refresh(case)
        else:
            nested.commit()
            steps += 1
        assert session.query(CaseEvent).filter_by(case_id=case.id).count() == steps
        assert timeline.verify(session, [case.id]) == (steps, [])
        status = Status(case.status)
        if status in FINAL or status in (Status.CLOSED, Status.HANDLED):
            assert case.stage in (None, "verify") and (
                status is Status.HANDLED or case.due_at is None
            )
        if status is Status.SUSPENDED:
            assert clocks.light(case, clock.now()) is None
        if status in ENDED:
            open_tasks = select(CaseTask).where(
                CaseTask.case_id == case.id, CaseTask.state == "open"
            )
            assert session.scalars(open_tasks).all() == []
