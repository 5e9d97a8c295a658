"""The closed loop (闭环) of a case as data: (status, action) -> new status plus the roles allowed.

登记 → 立案 → 派遣 → 签收 → 办理 → 反馈 → 核查 → 结案 → 回访 → 归档, with returns, extensions,
suspensions, rework, reopening, merging and splitting around the main line (DOMAIN.md §5).

The table says which roles may *ever* take an action. Whether this actor is the case's assigned
unit, the resident who reported it, or inside the data scope, and whether the case's category
allows it (重办, on-site 核查), is decided by the case service, which calls `transition` first.
Pure: no database. `python -m chengzhi.cases.workflow` prints the docs page (docs/workflow.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from chengzhi.errors import Forbidden, InvalidTransition
from chengzhi.models import LabelledEnum, Role


class Status(LabelledEnum):
    REGISTERED = ("registered", "已登记", "registered")
    CANCELLED = ("cancelled", "已作废", "cancelled")
    FILED = ("filed", "待派遣", "filed, awaiting dispatch")
    DISPATCHED = ("dispatched", "已派遣", "dispatched, awaiting sign-for")
    IN_PROGRESS = ("in_progress", "办理中", "in progress")
    RETURN_REQUESTED = ("return_requested", "退单待审", "return requested")
    SUSPENDED = ("suspended", "已挂起", "suspended")
    HANDLED = ("handled", "待核查", "handled, awaiting verification")
    CLOSED = ("closed", "已结案", "closed, awaiting return visit")
    ARCHIVED = ("archived", "已归档", "archived")
    MERGED = ("merged", "已合并", "merged into another case")


class Action(LabelledEnum):
    REGISTER = ("register", "登记", "register")
    FILE = ("file", "立案", "file")
    CANCEL = ("cancel", "作废", "cancel")
    DISPATCH = ("dispatch", "派遣", "dispatch")
    SIGN = ("sign", "签收", "sign for")
    REQUEST_RETURN = ("request_return", "申请退单", "request return")
    APPROVE_RETURN = ("approve_return", "同意退单", "approve return")
    REJECT_RETURN = ("reject_return", "驳回退单", "reject return")
    REQUEST_EXTENSION = ("request_extension", "申请延期", "request extension")
    APPROVE_EXTENSION = ("approve_extension", "同意延期", "approve extension")
    REJECT_EXTENSION = ("reject_extension", "驳回延期", "reject extension")
    SUSPEND = ("suspend", "挂起", "suspend")
    RESUME = ("resume", "恢复办理", "resume")
    HANDLE = ("handle", "办结反馈", "report handled")
    VERIFY_PASS = ("verify_pass", "核查通过", "pass verification")
    VERIFY_FAIL = ("verify_fail", "核查不通过（返工）", "fail verification (rework)")
    CLOSE = ("close", "直接办结", "close directly")
    REVISIT = ("revisit", "回访", "return visit")
    REOPEN = ("reopen", "重办", "reopen")
    MERGE = ("merge", "合并", "merge")
    SPLIT = ("split", "拆分（主办+协办）", "split (lead + assisting units)")
    REMIND = ("remind", "催办", "remind")
    ESCALATE = ("escalate", "逐级上报", "escalate")
    SUPERVISE = ("supervise", "督办", "supervise")
    REPLY_SUPERVISION = ("reply_supervision", "督办回复", "reply to supervision")
    WHISTLE = ("whistle", "吹哨", "blow the whistle")
    REPORT_IN = ("report_in", "报到", "report in")
    RATE_REPORT_IN = ("rate_report_in", "报到评价", "rate a department's report-in")
    ASSIST_REPLY = ("assist_reply", "协办反馈", "assisting unit's reply")
    FLAG_OVERDUE = ("flag_overdue", "逾期标记", "flag an overdue task")
    COMMENT = ("comment", "备注", "comment")
    REPEAT = ("repeat", "重复报送", "the same source reported again (folded in)")


@dataclass(frozen=True, slots=True)
class Transition:
    """One row's outcome: the new status (equal to the old one for status-keeping actions), who may
    take the action, and whether the actor must write a reason (the service refuses a blank one)."""

    to: Status
    roles: frozenset[Role]
    needs_reason: bool = False


# Who takes part, by what they do in the loop.
INTAKE = frozenset(  # 登记: the hotline, residents online, the grid's patrols, 上级交办
    {
        Role.RESIDENT,
        Role.OPERATOR,
        Role.GRID_WORKER,
        Role.COMMUNITY_STAFF,
        Role.STREET_STAFF,
        Role.SUPERVISOR,
    }
)
DISPATCHERS = frozenset({Role.DISPATCHER})
HANDLERS = frozenset(  # the units a case is dispatched to
    {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF}
)
# 核查 on site by the grid (数字城管), or of the written feedback by the dispatcher (12345).
# Never by the unit that handled the case: the service checks that (监督与管理分离).
VERIFIERS = frozenset({Role.GRID_WORKER, Role.DISPATCHER})
APPROVERS = frozenset({Role.DISPATCHER, Role.SUPERVISOR})  # 挂起 stops the clock: a leader may too
ANSWERERS = frozenset({Role.OPERATOR, Role.DISPATCHER})  # 咨询 answered at once
VISITORS = frozenset({Role.OPERATOR, Role.RESIDENT})  # 回访 by the hotline, or the resident rates
CHASERS = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR})  # operators log 催单 calls
ESCALATORS = HANDLERS | {Role.SUPERVISOR}  # a unit reports up; a centre lifts an overdue case
SUPERVISORS = frozenset({Role.SUPERVISOR})
WHISTLERS = frozenset({Role.STREET_STAFF, Role.COMMUNITY_STAFF})  # 街乡吹哨
DEPARTMENTS = frozenset({Role.DEPARTMENT_STAFF})  # 部门报到
SYSTEM: frozenset[Role] = frozenset()  # the clock sweep only
COMMENTERS = HANDLERS | {Role.RESIDENT, Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR}


Key = tuple[Status | None, Action]
# While a unit holds the case: tasks beside the handling (报到, 协办, 督办回复) can be done.
UNIT_WORKING = (
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.RETURN_REQUESTED,
    Status.SUSPENDED,
    Status.HANDLED,
)


def _keeps(
    action: Action, roles: frozenset[Role], *statuses: Status, reason: bool = False
) -> dict[Key, Transition]:
    """Rows for an action that leaves the status as it is (recorded on the timeline only)."""
    return {(s, action): Transition(s, roles, reason) for s in statuses}


# The case does not exist before REGISTER: its row's status is None (Mermaid's [*]).
TRANSITIONS: dict[Key, Transition] = {
    (None, Action.REGISTER): Transition(Status.REGISTERED, INTAKE),
    (Status.REGISTERED, Action.FILE): Transition(Status.FILED, DISPATCHERS),
    (Status.REGISTERED, Action.CANCEL): Transition(Status.CANCELLED, DISPATCHERS, True),
    (Status.REGISTERED, Action.CLOSE): Transition(Status.CLOSED, ANSWERERS),
    (Status.REGISTERED, Action.MERGE): Transition(Status.MERGED, DISPATCHERS),
    (Status.FILED, Action.DISPATCH): Transition(Status.DISPATCHED, DISPATCHERS),
    (Status.FILED, Action.CANCEL): Transition(Status.CANCELLED, DISPATCHERS, True),
    (Status.FILED, Action.MERGE): Transition(Status.MERGED, DISPATCHERS),
    # 改派: a dispatcher corrects the unit before it signs for the case.
    (Status.DISPATCHED, Action.DISPATCH): Transition(Status.DISPATCHED, DISPATCHERS),
    (Status.DISPATCHED, Action.SIGN): Transition(Status.IN_PROGRESS, HANDLERS),
    (Status.DISPATCHED, Action.REQUEST_RETURN): Transition(Status.RETURN_REQUESTED, HANDLERS, True),
    (Status.IN_PROGRESS, Action.REQUEST_RETURN): Transition(
        Status.RETURN_REQUESTED, HANDLERS, True
    ),
    (Status.RETURN_REQUESTED, Action.APPROVE_RETURN): Transition(Status.FILED, DISPATCHERS),
    (Status.RETURN_REQUESTED, Action.REJECT_RETURN): Transition(
        Status.IN_PROGRESS, DISPATCHERS, True
    ),
    **_keeps(Action.REQUEST_EXTENSION, HANDLERS, Status.IN_PROGRESS, reason=True),
    **_keeps(Action.APPROVE_EXTENSION, DISPATCHERS, Status.IN_PROGRESS),
    **_keeps(Action.REJECT_EXTENSION, DISPATCHERS, Status.IN_PROGRESS, reason=True),
    # Only from in progress, so that resuming knows where to go back to.
    (Status.IN_PROGRESS, Action.SUSPEND): Transition(Status.SUSPENDED, APPROVERS, True),
    (Status.SUSPENDED, Action.RESUME): Transition(Status.IN_PROGRESS, APPROVERS),
    (Status.IN_PROGRESS, Action.HANDLE): Transition(Status.HANDLED, HANDLERS),
    (Status.HANDLED, Action.VERIFY_PASS): Transition(Status.CLOSED, VERIFIERS),
    (Status.HANDLED, Action.VERIFY_FAIL): Transition(Status.IN_PROGRESS, VERIFIERS, True),
    # The visit is the evaluation (三率) and always archives; an unsolved or unsatisfied result
    # then makes the case eligible for 重办 if its category allows it.
    (Status.CLOSED, Action.REVISIT): Transition(Status.ARCHIVED, VISITORS),
    (Status.CLOSED, Action.REOPEN): Transition(Status.FILED, DISPATCHERS, True),
    (Status.ARCHIVED, Action.REOPEN): Transition(Status.FILED, DISPATCHERS, True),
    # 主办 is the unit already dispatched to; 协办 units get tasks with the handling deadline.
    **_keeps(Action.SPLIT, DISPATCHERS, Status.DISPATCHED, Status.IN_PROGRESS),
    **_keeps(Action.ASSIST_REPLY, HANDLERS, *UNIT_WORKING),
    **_keeps(Action.REMIND, CHASERS, Status.DISPATCHED, Status.IN_PROGRESS),
    **_keeps(Action.ESCALATE, ESCALATORS, Status.DISPATCHED, Status.IN_PROGRESS, reason=True),
    **_keeps(
        Action.SUPERVISE,
        SUPERVISORS,
        *(Status.DISPATCHED, Status.IN_PROGRESS, Status.SUSPENDED),
        reason=True,
    ),
    **_keeps(Action.REPLY_SUPERVISION, HANDLERS, *UNIT_WORKING),
    **_keeps(Action.WHISTLE, WHISTLERS, Status.IN_PROGRESS, reason=True),
    **_keeps(Action.REPORT_IN, DEPARTMENTS, *UNIT_WORKING),
    # The whistling unit rates each department afterwards, also once the case is closed.
    **_keeps(Action.RATE_REPORT_IN, WHISTLERS, *UNIT_WORKING, Status.CLOSED, Status.ARCHIVED),
    # Tasks (报到, 协办, 督办) that miss their deadline are flagged by the clock sweep.
    **_keeps(Action.FLAG_OVERDUE, SYSTEM, *UNIT_WORKING, Status.FILED),
    **_keeps(Action.COMMENT, COMMENTERS, *Status),
    # A sensor alarming again (or a channel re-sending) while its case is open folds into it.
    **_keeps(Action.REPEAT, ANSWERERS, Status.REGISTERED, Status.FILED, *UNIT_WORKING),
}

# Status groups. Each is documented in GROUPS below (and so on the docs page).
FINAL = frozenset({Status.CANCELLED, Status.MERGED, Status.ARCHIVED})
OPEN = frozenset(Status) - FINAL
WITH_DISPATCHER = frozenset({Status.REGISTERED, Status.FILED, Status.RETURN_REQUESTED})
AWAITING_UNIT = frozenset({Status.DISPATCHED, Status.IN_PROGRESS})
CLOCK_RUNNING = frozenset({Status.DISPATCHED, Status.IN_PROGRESS, Status.RETURN_REQUESTED})
CLOCK_STOPPED = frozenset({Status.SUSPENDED})
CONCLUDED = frozenset({Status.CLOSED, Status.ARCHIVED})
ENDED = CONCLUDED | FINAL

GROUPS: dict[str, tuple[frozenset[Status], str]] = {
    "OPEN": (OPEN, "未终结：还有人要办 · not final, someone still has work to do"),
    "FINAL": (
        FINAL,
        "终态：无人再办；已归档案件仅可重办 · nothing left to do; only 重办 reopens an "
        "archived case",
    ),
    "WITH_DISPATCHER": (
        WITH_DISPATCHER,
        "待派单员：核实、立案、派遣、退单裁决 · waiting for the dispatcher (check, file, dispatch, "
        "arbitrate a return)",
    ),
    "AWAITING_UNIT": (
        AWAITING_UNIT,
        "待承办单位：签收、办理 · the handling unit holds the case (催办 goes here)",
    ),
    "CLOCK_RUNNING": (
        CLOCK_RUNNING,
        "处置时限计时中，可超期（红黄灯）：派遣起算，反馈即停；退单待审不停表 · the handling clock "
        "runs and the case can go overdue: it starts at dispatch, stops at feedback, and a "
        "pending return does not stop it",
    ),
    "CLOCK_STOPPED": (
        CLOCK_STOPPED,
        "停表：挂起期间不计时，恢复后截止时间顺延 · the handling clock is paused; the deadline "
        "moves by the time spent here",
    ),
    "CONCLUDED": (CONCLUDED, "已结案，计入结案率 · counted as closed (结案率)"),
    "ENDED": (
        ENDED,
        "办理终结：未完成的报到、协办、督办任务随之失效并留痕 · handling is over: open report-in, "
        "assist and supervision tasks lapse, on the record",
    ),
}


def _zh(status: Status | None) -> str:
    return status.zh if status else "未登记"


def _en(status: Status | None) -> str:
    return status.en if status else "not yet registered"


def transition(status: Status | None, action: Action, role: Role) -> Transition:
    """The row for (status, action), if `role` may take it; None is a case not yet registered."""
    row = TRANSITIONS.get((status, action))
    if row is None:
        raise InvalidTransition(
            f"案件状态为「{_zh(status)}」，不能「{action.zh}」"
            f" (cannot {action.en} a case that is {_en(status)})",
            status=status,
            action=action,
        )
    if role not in row.roles:
        raise Forbidden(
            f"{role.zh}无权对「{_zh(status)}」的案件执行「{action.zh}」"
            f" (a {role.en} may not {action.en} a case that is {_en(status)})",
            status=status,
            action=action,
            role=role,
        )
    return row


def allowed_actions(status: Status | None, role: Role) -> list[Action]:
    """What `role` may do to a case in `status`, in declaration order."""
    return [a for a in Action if (row := TRANSITIONS.get((status, a))) and role in row.roles]


def _roles(roles: frozenset[Role]) -> str:
    return "、".join(r.zh for r in Role if r in roles) or "系统 system"


def _row_order(item: tuple[Key, Transition]) -> tuple[int, int]:
    (status, action), _ = item
    return (-1 if status is None else list(Status).index(status), list(Action).index(action))


def _actions_of(role: Role) -> list[Action]:
    return [
        a for a in Action if any(role in r.roles for (_, b), r in TRANSITIONS.items() if b == a)
    ]


def mermaid() -> str:
    """A `stateDiagram-v2` of the status-changing transitions, labelled in Chinese."""
    edges: dict[tuple[str, str], list[str]] = {}
    for (src, action), row in TRANSITIONS.items():
        if row.to != src:
            edges.setdefault((src.value if src else "[*]", row.to.value), []).append(action.zh)
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{s.zh}" as {s.value}' for s in Status]
    lines += [f"    {a} --> {b} : {'、'.join(labels)}" for (a, b), labels in edges.items()]
    lines += [f"    {s.value} --> [*]" for s in Status if s in FINAL]
    return "\n".join(lines) + "\n"


def _status_rows() -> list[str]:
    rows = ["| 状态 | Status | Value | 组 Groups |", "|---|---|---|---|"]
    for s in Status:
        groups = ", ".join(f"`{name}`" for name, (members, _) in GROUPS.items() if s in members)
        rows.append(f"| {s.zh} | {s.en} | `{s.value}` | {groups} |")
    return rows


def _transition_rows() -> list[str]:
    rows = [
        "| 当前状态 From | 动作 Action | 结果 To | 角色 Roles | 须填理由 Reason |",
        "|---|---|---|---|---|",
    ]
    for (src, action), row in sorted(TRANSITIONS.items(), key=_row_order):
        origin = f"{src.zh} `{src.value}`" if src else f"{_zh(src)} (new)"
        to = "（不变 unchanged）" if row.to == src else f"{row.to.zh} `{row.to.value}`"
        reason = "是 yes" if row.needs_reason else ""
        rows.append(
            f"| {origin} | {action.zh} `{action.value}` | {to} | {_roles(row.roles)} | {reason} |"
        )
    return rows


def _role_rows() -> list[str]:
    rows = ["| 角色 Role | 动作 Actions |", "|---|---|"]
    for role in Role:
        actions = "、".join(a.zh for a in _actions_of(role)) or "—"
        rows.append(f"| {role.zh} `{role.value}` | {actions} |")
    return rows


def _group_rows() -> list[str]:
    rows = ["| 组 Group | 状态 Statuses | 含义 Meaning |", "|---|---|---|"]
    for name, (members, meaning) in GROUPS.items():
        rows.append(f"| `{name}` | {'、'.join(s.zh for s in Status if s in members)} | {meaning} |")
    return rows


def markdown() -> str:
    """The whole docs page: statuses, the diagram, every row of the table, roles and groups."""
    return (
        "\n".join(
            [
                "# 案件流转 · Case workflow",
                "",
                "<!-- Generated by `python -m chengzhi.cases.workflow` from "
                "src/chengzhi/cases/workflow.py; do not edit by hand "
                "(tests/cases/test_workflow.py checks). -->",
                "",
                "The table says which roles may ever take an action. The case service also "
                "checks that the actor is the case's assigned unit (or, for a resident, its "
                "reporter), that the case is in the actor's data scope, and what the category "
                "allows (重办, on-site 核查); a unit never verifies its own handling. Extension "
                "requests and supervision orders keep the status: the service keeps track of "
                "which are pending.",
                "",
                "## 状态 · Statuses",
                "",
                *_status_rows(),
                "",
                "## 状态图 · State diagram",
                "",
                "```mermaid",
                mermaid().rstrip(),
                "```",
                "",
                "## 流转表 · Transitions",
                "",
                "Rows marked unchanged keep the status and are recorded on the case timeline only.",
                "",
                *_transition_rows(),
                "",
                "## 按角色 · By role",
                "",
                *_role_rows(),
                "",
                "## 状态组 · Status groups",
                "",
                *_group_rows(),
            ]
        )
        + "\n"
    )


if __name__ == "__main__":
    print(markdown(), end="")
