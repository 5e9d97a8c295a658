"""One entry for the API: an action by name on a case the actor can see, its fields read from
one request body (`ActionIn`). Each name maps to one service verb."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from chengzhi.cases import service as sv
from chengzhi.cases import tasks
from chengzhi.cases.queries import visible_cases
from chengzhi.cases.schemas import ActionIn
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, InvalidInput, NotFound
from chengzhi.models import Case
from chengzhi.orgs.queries import Actor
from chengzhi.worktime import Limit

Verb = Callable[[Session, Clock, Actor, str, ActionIn], Case]


def perform(
    session: Session, clock: Clock, actor: Actor, number: str, action: str, body: ActionIn
) -> Case:
    """Run `action` on a case the actor may see (others are not found), checking the version the
    client last saw when it sends one."""
    case = session.scalar(visible_cases(actor).where(Case.number == number))
    if case is None:
        raise NotFound(f"案件 {number} 不存在 (no such case)")
    if body.expected_version is not None and body.expected_version != case.version:
        raise Conflict(f"案件 {number} 已被他人更新，请刷新后重试 (changed meanwhile)")
    verb = VERBS.get(action)
    if verb is None:
        raise NotFound(f"没有操作 {action} (no such action)")
    return verb(session, clock, actor, number, body)


def category_ref(text: str | None) -> tuple[str, str] | None:
    return tuple(text.split(":", 1)) if text else None  # type: ignore[return-value]


def _need(value: Any, name: str) -> Any:
    if value is None:
        raise InvalidInput(f"缺少参数 {name} (missing {name})")
    return value


def _limit(amount: float | None, unit: str | None, name: str) -> Limit:
    return Limit(_need(amount, f"{name}_amount"), _need(unit, f"{name}_unit"))


def _within(b: ActionIn) -> Limit | None:
    return _limit(b.deadline_amount, b.deadline_unit, "deadline") if b.deadline_amount else None


VERBS: dict[str, Verb] = {
    "file": lambda s, c, a, n, b: sv.file_case(s, c, a, n, category_ref(b.category), b.urgency),
    "cancel": lambda s, c, a, n, b: sv.cancel_case(s, c, a, n, b.reason or ""),
    "dispatch": lambda s, c, a, n, b: sv.dispatch_case(s, c, a, n, b.unit),
    "sign": lambda s, c, a, n, b: sv.sign_case(s, c, a, n),
    "request_return": lambda s, c, a, n, b: sv.request_return(s, c, a, n, b.reason or ""),
    "arbitrate_return": lambda s, c, a, n, b: sv.arbitrate_return(
        s, c, a, n, _need(b.approve, "approve"), b.reason
    ),
    "request_extension": lambda s, c, a, n, b: sv.request_extension(
        s, c, a, n, b.reason or "", _limit(b.extra_amount, b.extra_unit, "extra")
    ),
    "decide_extension": lambda s, c, a, n, b: sv.decide_extension(
        s, c, a, n, _need(b.approve, "approve"), b.reason
    ),
    "suspend": lambda s, c, a, n, b: sv.suspend_case(s, c, a, n, b.reason or ""),
    "resume": lambda s, c, a, n, b: sv.resume_case(s, c, a, n),
    "handle": lambda s, c, a, n, b: sv.handle_case(s, c, a, n, b.reply or ""),
    "verify": lambda s, c, a, n, b: sv.verify_case(s, c, a, n, _need(b.passed, "passed"), b.reason),
    "close": lambda s, c, a, n, b: sv.close_case(s, c, a, n, b.reply or ""),
    "revisit": lambda s, c, a, n, b: sv.revisit_case(
        s, c, a, n, _need(b.contacted, "contacted"), b.solved, b.satisfaction, b.note
    ),
    "reopen": lambda s, c, a, n, b: sv.reopen_case(s, c, a, n, b.reason or ""),
    "merge": lambda s, c, a, n, b: sv.merge_case(s, c, a, n, _need(b.into, "into"), b.reason or ""),
    "remind": lambda s, c, a, n, b: sv.remind_case(s, c, a, n, b.reason),
    "escalate": lambda s, c, a, n, b: sv.escalate_case(s, c, a, n, b.reason or ""),
    "comment": lambda s, c, a, n, b: sv.comment_case(s, c, a, n, b.note or b.reason or ""),
    "split": lambda s, c, a, n, b: tasks.split(s, c, a, n, _need(b.units, "units")),
    "assist_reply": lambda s, c, a, n, b: tasks.assist_reply(s, c, a, n, b.reply or ""),
    "whistle": lambda s, c, a, n, b: tasks.whistle(
        s, c, a, n, _need(b.units, "units"), b.reason or "", b.minutes
    ),
    "report_in": lambda s, c, a, n, b: tasks.report_in(s, c, a, n, b.note),
    "rate_report_in": lambda s, c, a, n, b: tasks.rate_report_in(
        s, c, a, n, _need(b.unit, "unit"), _need(b.satisfaction, "satisfaction"), b.note
    ),
    "supervise": lambda s, c, a, n, b: tasks.supervise(s, c, a, n, b.reason or "", _within(b)),
    "reply_supervision": lambda s, c, a, n, b: tasks.reply_supervision(s, c, a, n, b.reply or ""),
}
