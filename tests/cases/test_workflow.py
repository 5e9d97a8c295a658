"""The case workflow table, exhaustively and without a database."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengzhi.cases import workflow
from chengzhi.cases.workflow import (
    CLOCK_RUNNING,
    CLOCK_STOPPED,
    FINAL,
    GROUPS,
    OPEN,
    TRANSITIONS,
    Action,
    Status,
    allowed_actions,
    transition,
)
from chengzhi.errors import Conflict, Forbidden, InvalidTransition
from chengzhi.models import Role

DOCS = Path(__file__).resolve().parents[2] / "docs"
BEFORE_REGISTRATION = None
ALL_STATUSES = [BEFORE_REGISTRATION, *Status]
UNITS = {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF}
REASONED = {
    Action.CANCEL,
    Action.REQUEST_RETURN,
    Action.REJECT_RETURN,
    Action.REQUEST_EXTENSION,
    Action.REJECT_EXTENSION,
    Action.SUSPEND,
    Action.VERIFY_FAIL,
    Action.REOPEN,
    Action.ESCALATE,
    Action.SUPERVISE,
    Action.WHISTLE,
}


def walk(*steps: tuple[Action, Role]) -> list[Status]:
    """Apply (action, role) steps to a new case; the statuses it passes through."""
    status, seen = BEFORE_REGISTRATION, []
    for action, role in steps:
        status = transition(status, action, role).to
        seen.append(status)
    return seen


def moves(status: Status | None) -> dict[Action, Status]:
    """Status-changing actions out of `status` and where they lead."""
    return {a: row.to for (s, a), row in TRANSITIONS.items() if s == status and row.to != s}


def reachable(start: Status | None) -> set[Status]:
    seen: set[Status] = set()
    todo = list(moves(start).values())
    while todo:
        status = todo.pop()
        if status not in seen:
            seen.add(status)
            todo += moves(status).values()
    return seen


def who_may(action: Action) -> set[Role]:
    return {r for (_, a), row in TRANSITIONS.items() if a == action for r in row.roles}


TO_DISPATCHED = [
    (Action.REGISTER, Role.OPERATOR),
    (Action.FILE, Role.DISPATCHER),
    (Action.DISPATCH, Role.DISPATCHER),
]
TO_IN_PROGRESS = [*TO_DISPATCHED, (Action.SIGN, Role.STREET_STAFF)]
TO_CLOSED = [
    *TO_IN_PROGRESS,
    (Action.HANDLE, Role.STREET_STAFF),
    (Action.VERIFY_PASS, Role.GRID_WORKER),
]


# The table, cell by cell


def test_every_status_action_and_role_is_allowed_exactly_as_the_table_says():
    checked = 0
    for status in ALL_STATUSES:
        for action in Action:
            row = TRANSITIONS.get((status, action))
            for role in Role:
                checked += 1
                if row is None:
                    with pytest.raises(InvalidTransition) as refused:
                        transition(status, action, role)
                    assert refused.value.status == 409
                elif role not in row.roles:
                    with pytest.raises(Forbidden) as refused:
                        transition(status, action, role)
                    assert refused.value.status == 403
                    assert role.zh in refused.value.message
                else:
                    assert transition(status, action, role) is row
                    continue
                assert action.zh in refused.value.message and action.en in refused.value.message
                if status is not None:
                    assert status.zh in refused.value.message and status.en in refused.value.message
    assert checked == len(ALL_STATUSES) * len(Action) * len(Role)


def test_allowed_actions_are_exactly_those_transition_accepts():
    for status in ALL_STATUSES:
        for role in Role:
            accepted = []
            for action in Action:
                try:
                    transition(status, action, role)
                except (InvalidTransition, Forbidden):
                    continue
                accepted.append(action)
            assert allowed_actions(status, role) == accepted


def test_an_invalid_transition_is_a_conflict_and_a_forbidden_one_is_a_403():
    assert issubclass(InvalidTransition, Conflict) and InvalidTransition.status == 409
    assert Forbidden.status == 403
    with pytest.raises(InvalidTransition, match="已结案.*派遣"):
        transition(Status.CLOSED, Action.DISPATCH, Role.DISPATCHER)
    with pytest.raises(Forbidden, match="受理员.*待派遣.*派遣"):
        transition(Status.FILED, Action.DISPATCH, Role.OPERATOR)


def test_every_status_and_action_has_chinese_and_english_labels():
    for member in [*Status, *Action]:
        assert member.zh and member.en and member.zh != member.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in member.zh)
        assert member.value.isidentifier() and member.value.islower()


def test_every_action_is_in_the_table_and_every_row_names_its_roles():
    assert {a for (_, a) in TRANSITIONS} == set(Action)
    system_only = {a for (_, a), row in TRANSITIONS.items() if not row.roles}
    assert system_only == {Action.FLAG_OVERDUE}  # the sweep's; nobody else may take it
    for role in Role:
        assert Action.FLAG_OVERDUE not in allowed_actions(Status.IN_PROGRESS, role)


def test_a_case_is_only_registered_once():
    assert [a for (s, a) in TRANSITIONS if a is Action.REGISTER] == [Action.REGISTER]
    assert TRANSITIONS[(BEFORE_REGISTRATION, Action.REGISTER)].to is Status.REGISTERED
    assert {a for (s, a) in TRANSITIONS if s is BEFORE_REGISTRATION} == {Action.REGISTER}


def test_every_reason_requiring_action_is_flagged_on_every_row():
    for (_, action), row in TRANSITIONS.items():
        assert row.needs_reason == (action in REASONED), action


# Roles


def test_administrators_and_social_organisations_take_no_part_in_the_loop():
    for role in (Role.ADMIN, Role.SOCIAL_ORG, Role.VOLUNTEER):
        assert all(allowed_actions(s, role) == [] for s in ALL_STATUSES)


def test_residents_only_report_rate_and_comment():
    assert {a for s in ALL_STATUSES for a in allowed_actions(s, Role.RESIDENT)} == {
        Action.REGISTER,
        Action.REVISIT,
        Action.COMMENT,
    }


def test_only_dispatchers_file_cancel_dispatch_arbitrate_merge_split_and_reopen():
    for action in (
        Action.FILE,
        Action.CANCEL,
        Action.DISPATCH,
        Action.APPROVE_RETURN,
        Action.REJECT_RETURN,
        Action.APPROVE_EXTENSION,
        Action.REJECT_EXTENSION,
        Action.MERGE,
        Action.SPLIT,
        Action.REOPEN,
    ):
        assert who_may(action) == {Role.DISPATCHER}, action


def test_only_handling_units_sign_ask_for_return_or_extension_and_feed_back():
    for action in (
        Action.SIGN,
        Action.REQUEST_RETURN,
        Action.REQUEST_EXTENSION,
        Action.HANDLE,
        Action.REPLY_SUPERVISION,
    ):
        assert who_may(action) == UNITS, action


def test_streets_and_communities_blow_the_whistle_and_departments_report_in():
    assert who_may(Action.WHISTLE) == {Role.STREET_STAFF, Role.COMMUNITY_STAFF}
    assert who_may(Action.REPORT_IN) == {Role.DEPARTMENT_STAFF}
    assert who_may(Action.SUPERVISE) == {Role.SUPERVISOR}
    assert Role.SUPERVISOR in who_may(Action.ESCALATE)


def test_suspensions_are_approved_by_the_dispatcher_or_a_leader():
    assert who_may(Action.SUSPEND) == who_may(Action.RESUME) == {Role.DISPATCHER, Role.SUPERVISOR}


def test_inquiries_are_closed_at_once_by_operators_or_dispatchers_and_visited_by_the_hotline():
    assert who_may(Action.CLOSE) == {Role.OPERATOR, Role.DISPATCHER}
    assert who_may(Action.REVISIT) == {Role.OPERATOR, Role.RESIDENT}


def test_no_unit_role_may_verify_except_the_grid_and_the_desk():
    assert who_may(Action.VERIFY_PASS) == who_may(Action.VERIFY_FAIL)
    assert who_may(Action.VERIFY_PASS) == {Role.GRID_WORKER, Role.DISPATCHER}


# The graph


def test_every_status_is_reachable_from_registration():
    assert reachable(BEFORE_REGISTRATION) == set(Status)
    assert reachable(Status.REGISTERED) | {Status.REGISTERED} == set(Status)


def test_every_open_status_can_reach_a_final_one():
    for status in OPEN:
        assert reachable(status) & FINAL, status


def test_final_statuses_only_leave_by_reopening_an_archived_case():
    assert moves(Status.CANCELLED) == {} and moves(Status.MERGED) == {}
    assert moves(Status.ARCHIVED) == {Action.REOPEN: Status.FILED}


def test_status_keeping_actions_keep_the_status():
    keeping = {Action.SPLIT, Action.REMIND, Action.ESCALATE, Action.SUPERVISE, Action.WHISTLE}
    keeping |= {Action.REQUEST_EXTENSION, Action.APPROVE_EXTENSION, Action.REJECT_EXTENSION}
    keeping |= {Action.REPLY_SUPERVISION, Action.REPORT_IN, Action.COMMENT, Action.REPEAT}
    keeping |= {Action.RATE_REPORT_IN, Action.ASSIST_REPLY, Action.FLAG_OVERDUE}
    for (status, action), row in TRANSITIONS.items():
        assert (row.to == status) == (
            action in keeping or (status, action) == (Status.DISPATCHED, Action.DISPATCH)
        )


def test_comments_are_possible_in_every_status():
    assert {s for (s, a) in TRANSITIONS if a is Action.COMMENT} == set(Status)


# Groups


def test_groups_partition_open_and_final_and_clocks_only_concern_open_cases():
    assert set(Status) == OPEN | FINAL and not OPEN & FINAL
    assert CLOCK_RUNNING <= OPEN and CLOCK_STOPPED <= OPEN
    assert not CLOCK_RUNNING & CLOCK_STOPPED


def test_every_group_is_documented_in_both_languages():
    names = {n for n in dir(workflow) if isinstance(getattr(workflow, n), frozenset)}
    groups = {
        n for n in names if (g := getattr(workflow, n)) and all(isinstance(x, Status) for x in g)
    }
    assert groups == set(GROUPS)
    for name, (members, meaning) in GROUPS.items():
        assert members is getattr(workflow, name)
        assert " · " in meaning


def test_the_handling_clock_starts_at_dispatch_or_rework_and_only_suspension_pauses_it():
    ticking = CLOCK_RUNNING | CLOCK_STOPPED
    starts = {a for (s, a), row in TRANSITIONS.items() if s not in ticking and row.to in ticking}
    assert starts == {Action.DISPATCH, Action.VERIFY_FAIL}
    pauses = {a for (s, a), row in TRANSITIONS.items() if row.to in CLOCK_STOPPED and s != row.to}
    assert pauses == {Action.SUSPEND}
    unpauses = {a for (s, a), row in TRANSITIONS.items() if s in CLOCK_STOPPED and row.to != s}
    assert unpauses == {Action.RESUME}


def test_reminders_go_to_cases_a_unit_holds():
    reminded = {s for (s, a) in TRANSITIONS if a is Action.REMIND}
    assert reminded == workflow.AWAITING_UNIT <= CLOCK_RUNNING


# Paths through the loop


def test_a_12345_case_goes_round_the_whole_loop():
    assert walk(*TO_CLOSED, (Action.REVISIT, Role.OPERATOR)) == [
        Status.REGISTERED,
        Status.FILED,
        Status.DISPATCHED,
        Status.IN_PROGRESS,
        Status.HANDLED,
        Status.CLOSED,
        Status.ARCHIVED,
    ]


def test_an_inquiry_answered_on_the_phone_is_closed_at_once_and_visited():
    steps = [(Action.REGISTER, Role.OPERATOR), (Action.CLOSE, Role.OPERATOR)]
    assert walk(*steps, (Action.REVISIT, Role.RESIDENT)) == [
        Status.REGISTERED,
        Status.CLOSED,
        Status.ARCHIVED,
    ]


def test_a_failed_verification_sends_the_case_back_for_rework():
    steps = [*TO_IN_PROGRESS, (Action.HANDLE, Role.STREET_STAFF)]
    steps += [(Action.VERIFY_FAIL, Role.GRID_WORKER), (Action.HANDLE, Role.STREET_STAFF)]
    assert walk(*steps, (Action.VERIFY_PASS, Role.DISPATCHER))[-4:] == [
        Status.HANDLED,
        Status.IN_PROGRESS,
        Status.HANDLED,
        Status.CLOSED,
    ]


def test_an_approved_return_goes_back_to_the_dispatcher_for_another_unit():
    steps = [*TO_DISPATCHED, (Action.REQUEST_RETURN, Role.DEPARTMENT_STAFF)]
    steps += [(Action.APPROVE_RETURN, Role.DISPATCHER), (Action.DISPATCH, Role.DISPATCHER)]
    assert walk(*steps)[-3:] == [Status.RETURN_REQUESTED, Status.FILED, Status.DISPATCHED]


def test_a_rejected_return_stays_with_the_unit():
    steps = [*TO_IN_PROGRESS, (Action.REQUEST_RETURN, Role.STREET_STAFF)]
    assert walk(*steps, (Action.REJECT_RETURN, Role.DISPATCHER))[-2:] == [
        Status.RETURN_REQUESTED,
        Status.IN_PROGRESS,
    ]


def test_a_return_cannot_be_arbitrated_by_the_unit_that_asked():
    with pytest.raises(Forbidden):
        transition(Status.RETURN_REQUESTED, Action.APPROVE_RETURN, Role.STREET_STAFF)


def test_a_suspended_case_stops_the_clock_and_resumes_in_progress():
    steps = [*TO_IN_PROGRESS, (Action.SUSPEND, Role.SUPERVISOR)]
    suspended, resumed = walk(*steps, (Action.RESUME, Role.DISPATCHER))[-2:]
    assert suspended is Status.SUSPENDED and suspended in CLOCK_STOPPED
    assert resumed is Status.IN_PROGRESS and resumed in CLOCK_RUNNING
    with pytest.raises(InvalidTransition):
        transition(Status.SUSPENDED, Action.HANDLE, Role.STREET_STAFF)


def test_extensions_are_asked_and_decided_without_changing_the_status():
    for action, role in (
        (Action.REQUEST_EXTENSION, Role.DEPARTMENT_STAFF),
        (Action.APPROVE_EXTENSION, Role.DISPATCHER),
        (Action.REJECT_EXTENSION, Role.DISPATCHER),
    ):
        assert transition(Status.IN_PROGRESS, action, role).to is Status.IN_PROGRESS


def test_a_dissatisfied_resident_gets_the_case_reopened_before_or_after_the_visit():
    assert walk(*TO_CLOSED, (Action.REOPEN, Role.DISPATCHER))[-1] is Status.FILED
    steps = [*TO_CLOSED, (Action.REVISIT, Role.RESIDENT), (Action.REOPEN, Role.DISPATCHER)]
    assert walk(*steps)[-2:] == [Status.ARCHIVED, Status.FILED]


def test_duplicates_are_merged_before_dispatch_and_stay_merged():
    assert walk((Action.REGISTER, Role.RESIDENT), (Action.MERGE, Role.DISPATCHER))[-1] is (
        Status.MERGED
    )
    assert allowed_actions(Status.MERGED, Role.DISPATCHER) == [Action.COMMENT]
    with pytest.raises(InvalidTransition):
        transition(Status.DISPATCHED, Action.MERGE, Role.DISPATCHER)


def test_a_street_blows_the_whistle_and_departments_report_in_while_it_handles():
    for action, role in (
        (Action.WHISTLE, Role.STREET_STAFF),
        (Action.REPORT_IN, Role.DEPARTMENT_STAFF),
    ):
        assert transition(Status.IN_PROGRESS, action, role).to is Status.IN_PROGRESS
    with pytest.raises(Forbidden):
        transition(Status.IN_PROGRESS, Action.WHISTLE, Role.DEPARTMENT_STAFF)


def test_a_cancelled_case_needs_a_reason_and_is_final():
    row = transition(Status.REGISTERED, Action.CANCEL, Role.DISPATCHER)
    assert row.to is Status.CANCELLED and row.needs_reason and row.to in FINAL


# Random legal journeys


@given(st.data())
def test_random_legal_journeys_never_leave_the_table_and_final_stays_final(data):
    status: Status | None = BEFORE_REGISTRATION
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        options = [(a, r) for r in Role for a in allowed_actions(status, r)]
        assert options, f"no one can act on a {status} case"
        action, role = data.draw(st.sampled_from(options))
        row = transition(status, action, role)
        assert row is TRANSITIONS[(status, action)] and row.to in Status
        if status in (Status.CANCELLED, Status.MERGED):
            assert row.to is status
        if status is Status.ARCHIVED and row.to is not status:
            assert (action, row.to) == (Action.REOPEN, Status.FILED)
        if row.to is Status.SUSPENDED and status is not Status.SUSPENDED:
            assert status is Status.IN_PROGRESS
        status = row.to


# Docs


def test_the_diagram_draws_every_status_and_every_status_change_and_no_self_loop():
    diagram = workflow.mermaid()
    assert diagram.startswith("stateDiagram-v2\n")
    for status in Status:
        assert f'state "{status.zh}" as {status.value}' in diagram
    for (src, action), row in TRANSITIONS.items():
        edge = f"{src.value if src else '[*]'} --> {row.to.value} : "
        assert (edge in diagram) == (src != row.to)
        if src != row.to:
            line = next(x for x in diagram.splitlines() if edge in x)
            assert action.zh in line


def test_the_docs_page_lists_every_row_and_is_up_to_date():
    page = workflow.markdown()
    for src, action in TRANSITIONS:
        origin = f"{src.zh} `{src.value}`" if src else "未登记 (new)"
        assert f"| {origin} | {action.zh} `{action.value}` |" in page
    assert (DOCS / "workflow.md").read_text("utf-8") == page, (
        "docs/workflow.md is stale: run `python -m chengzhi.cases.workflow > docs/workflow.md`"
    )


def test_running_the_module_prints_the_docs_page():
    command = [sys.executable, "-m", "chengzhi.cases.workflow"]
    printed = subprocess.run(command, capture_output=True, check=True, encoding="utf-8")
    assert printed.stdout == workflow.markdown()
