"""The write paths of a case, one per state change, named in the domain's verbs. Each loads the
case, authorises the actor (workflow role table + the actor's reach), checks the transition,
mutates, and appends one hash-chained timeline event. Services never commit; a concurrent change
to the same case surfaces as `Conflict` when the caller flushes or commits."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakValueDictionary
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from chengzhi import db
from chengzhi.cases import clocks, routing, timeline
from chengzhi.cases.workflow import ENDED, TRANSITIONS, Action, Status, Transition, transition
from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import (
    Case,
    CaseEvent,
    CaseTask,
    Category,
    Channel,
    OrgUnit,
    RequestType,
    Role,
    TaskState,
    Urgency,
)
from chengzhi.orgs.queries import Actor
from chengzhi.regions import locator
from chengzhi.worktime import Limit

# Keys in session.info: the batch's cases, the next id in a batch, the cases this session met,
# the event rows waiting for the next flush.
BATCH, NEXT_ID, MET, EVENTS = "cases.batch", "cases.next_id", "cases.met", "cases.events"
HANDLERS = frozenset(
    {Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF}
)
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")


@dataclass(frozen=True, slots=True)
class NewCase:
    """What an appeal or field report brings (personal data: reporter name, phone, address)."""

    title: str
    description: str
    request_type: RequestType
    channel: Channel
    urgency: Urgency = Urgency.NORMAL
    category: tuple[str, str] | None = None  # (kind, code) in the current catalogue
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    # From intake: the grid already located (with lon/lat in WGS-84), the source system's
    # reference, the triage suggestions and why a person must decide.
    region_code: str | None = None
    source_ref: str | None = None
    triage: dict[str, Any] | None = None
    hold: str | None = None


def register_case(session: Session, clock: Clock, actor: Actor, new: NewCase) -> Case:
    """登记: a new case from any channel."""
    transition(None, Action.REGISTER, _role(actor))
    now = clock.now()
    case = Case(
        number=f"T{secrets.token_hex(8)}",  # replaced by the dated number once the id exists
        status=Status.REGISTERED.value,
        channel=new.channel.value,
        request_type=new.request_type.value,
        urgency=new.urgency.value,
        category=find_category(session, new.category) if new.category else None,
        title=checked_text(new.title, "标题 title", 200),
        description=checked_text(new.description, "内容 description", 10_000),
        address=new.address,
        reporter_id=actor.person_id if actor.role is Role.RESIDENT else None,
        reporter_name=new.reporter_name,
        reporter_phone=new.reporter_phone,
        source_ref=new.source_ref,
        triage=new.triage,
        triage_hold=new.hold,
        registered_at=now,
        pauses=[],
        escalations=0,
        event_count=0,
        last_hash=timeline.GENESIS,
    )
    _place(session, case, new)
    session.add(case)
    if in_batch(session):
        case.id = _next_id(session)  # stored with the batch, at the caller's commit
    else:
        session.flush()
    case.number = f"{now.astimezone(ZoneInfo(get_settings().timezone)):%Y%m%d}{case.id:08d}"
    _record(session, case, actor, Action.REGISTER, None, now, data={"channel": case.channel})
    if in_batch(session):
        session.info[BATCH][case.number] = case
    else:
        session.flush()  # so the version the caller sees is the stored one
        session.info.setdefault(MET, WeakValueDictionary())[case.number] = case
    return case


def file_case(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    category: tuple[str, str] | None = None,
    urgency: Urgency | None = None,
) -> Case:
    """立案: the dispatcher accepts the case, fixing its category and urgency; the dispatch
    clock starts."""
    case = load_case(session, number)
    changes: dict[str, Any] = {}
    if category:
        changes["category"] = find_category(session, category)
    if urgency:
        changes["urgency"] = urgency.value
    return record_action(
        session, clock, actor, case, Action.FILE, stage="dispatch", changes=changes
    )


def cancel_case(session: Session, clock: Clock, actor: Actor, number: str, reason: str) -> Case:
    """作废: not a case (a duplicate call, a prank, outside the government's remit)."""
    return record_action(
        session, clock, actor, load_case(session, number), Action.CANCEL, reason=reason, stage=None
    )


def dispatch_case(
    session: Session, clock: Clock, actor: Actor, number: str, unit_code: str | None = None
) -> Case:
    """派遣: to the named unit, or to the one the responsibility list names."""
    case = load_case(session, number)
    unit_id, why = _dispatch_target(session, case, unit_code)
    return record_action(
        session,
        clock,
        actor,
        case,
        Action.DISPATCH,
        changes={"unit_id": unit_id},
        stage="sign",
        data={"unit": unit_id, "route": why},
    )


def _dispatch_target(session: Session, case: Case, unit_code: str | None) -> tuple[int, str]:
    # Units and categories are stored when made: reading them need not flush the case.
    with session.no_autoflush:
        if unit_code:
            unit = session.scalar(
                select(OrgUnit).where(OrgUnit.code == unit_code, OrgUnit.active.is_(True))
            )
            if unit is None:
                raise NotFound(f"单位 {unit_code} 不存在 (no such unit)")
            return unit.id, "人工派单 (chosen by the dispatcher)"
        found = routing.route(session, case.category, case.region_code)
    if found.unit_id is None:
        raise Conflict(f"无法自动派单：{found.reason}", reason=found.reason)
    return found.unit_id, found.reason


def sign_case(session: Session, clock: Clock, actor: Actor, number: str) -> Case:
    """签收: the assigned unit takes the case; the handling clock starts."""
    case = load_case(session, number)
    return record_action(session, clock, actor, case, Action.SIGN, stage="handle", own=True)


def request_return(session: Session, clock: Clock, actor: Actor, number: str, reason: str) -> Case:
    """退单: not ours; the dispatcher arbitrates. The clock keeps running meanwhile."""
    return record_action(
        session,
        clock,
        actor,
        load_case(session, number),
        Action.REQUEST_RETURN,
        reason=reason,
        own=True,
    )


def arbitrate_return(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    approve: bool,
    reason: str | None = None,
) -> Case:
    case = load_case(session, number)
    if approve:
        previous = case.unit_id
        return record_action(
            session,
            clock,
            actor,
            case,
            Action.APPROVE_RETURN,
            changes={"unit_id": None},
            reason=reason,
            stage="dispatch",
            data={"unit": previous},
        )
    return record_action(session, clock, actor, case, Action.REJECT_RETURN, reason=reason)


def request_extension(
    session: Session, clock: Clock, actor: Actor, number: str, reason: str, extra: Limit
) -> Case:
    """申请延期: the unit asks for more time; the dispatcher decides."""
    case = load_case(session, number)
    data = {"amount": extra.amount, "unit": extra.unit}
    return record_action(
        session, clock, actor, case, Action.REQUEST_EXTENSION, reason=reason, data=data, own=True
    )


def decide_extension(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    approve: bool,
    reason: str | None = None,
) -> Case:
    case = load_case(session, number)
    asked = _pending(
        session, case, Action.REQUEST_EXTENSION, (Action.APPROVE_EXTENSION, Action.REJECT_EXTENSION)
    )
    if asked is None:
        raise Conflict("没有待审批的延期申请 (no extension request pending)")
    if not approve:
        return record_action(session, clock, actor, case, Action.REJECT_EXTENSION, reason=reason)
    extra = Limit(asked.data["amount"], asked.data["unit"])
    return record_action(
        session,
        clock,
        actor,
        case,
        Action.APPROVE_EXTENSION,
        reason=reason,
        retime=lambda c, now: clocks.extend(c, extra, now),
        data={**asked.data, "due_at": case.due_at.isoformat() if case.due_at else None},
    )


def suspend_case(session: Session, clock: Clock, actor: Actor, number: str, reason: str) -> Case:
    """挂起: the handling clock stops until resumed."""
    case = load_case(session, number)
    return record_action(
        session, clock, actor, case, Action.SUSPEND, reason=reason, retime=clocks.pause
    )


def resume_case(session: Session, clock: Clock, actor: Actor, number: str) -> Case:
    case = load_case(session, number)
    return record_action(session, clock, actor, case, Action.RESUME, retime=clocks.resume)


def handle_case(session: Session, clock: Clock, actor: Actor, number: str, reply: str) -> Case:
    """办结反馈: the unit reports what it did; on-site verification is due next."""
    case = load_case(session, number)
    data = {"reply": checked_text(reply, "办理结果 reply", 10_000)}
    return record_action(
        session, clock, actor, case, Action.HANDLE, stage="verify", data=data, own=True
    )


def verify_case(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    passed: bool,
    reason: str | None = None,
) -> Case:
    """核查: pass closes the case; fail sends it back to the unit (返工) with a fresh clock."""
    case = load_case(session, number)
    _check_verifier(actor, case)
    if passed:
        return record_action(
            session,
            clock,
            actor,
            case,
            Action.VERIFY_PASS,
            reason=reason,
            stage=None,
            changes={"closed_at": clock.now()},
        )
    return record_action(
        session, clock, actor, case, Action.VERIFY_FAIL, reason=reason, stage="handle"
    )


def close_case(session: Session, clock: Clock, actor: Actor, number: str, reply: str) -> Case:
    """直接办结: an inquiry answered at once by the operator or dispatcher."""
    case = load_case(session, number)
    data = {"reply": checked_text(reply, "答复 reply", 10_000)}
    return record_action(
        session,
        clock,
        actor,
        case,
        Action.CLOSE,
        stage=None,
        data=data,
        changes={"closed_at": clock.now()},
    )


def revisit_case(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    contacted: bool,
    solved: bool | None,
    satisfaction: str | None,
    note: str | None = None,
) -> Case:
    """回访: reached? solved? satisfied? Residents rate only their own cases."""
    case = load_case(session, number)
    if actor.role is Role.RESIDENT and case.reporter_id != actor.person_id:
        raise NotFound(f"案件 {number} 不存在 (no such case)")
    if contacted and satisfaction not in SATISFACTION:
        raise InvalidInput(f"满意度应为 {', '.join(SATISFACTION)} (satisfaction)")
    data = {
        "contacted": contacted,
        "solved": solved if contacted else None,
        "satisfaction": satisfaction if contacted else None,
        "note": note,
    }
    return record_action(session, clock, actor, case, Action.REVISIT, data=data)


def reopen_case(session: Session, clock: Clock, actor: Actor, number: str, reason: str) -> Case:
    """重办: back to dispatch when the resident is dissatisfied and the category allows it."""
    case = load_case(session, number)
    if case.category is not None and not case.category.reopen:
        raise Conflict(f"该类事项不可重办 (category {case.category.code} does not allow reopening)")
    return record_action(
        session,
        clock,
        actor,
        case,
        Action.REOPEN,
        reason=reason,
        stage="dispatch",
        changes={"closed_at": None, "unit_id": None},
    )


def merge_case(
    session: Session, clock: Clock, actor: Actor, number: str, into: str, reason: str
) -> Case:
    """合并: a duplicate folds into the case already open for the same problem."""
    case, target = load_case(session, number), load_case(session, into)
    if target.id == case.id or target.status in (Status.MERGED.value, Status.CANCELLED.value):
        raise Conflict(f"不能合并到 {into} (cannot merge into that case)")
    return record_action(
        session,
        clock,
        actor,
        case,
        Action.MERGE,
        changes={"merged_into_id": target.id},
        reason=reason,
        stage=None,
        data={"into": target.number},
    )


def remind_case(
    session: Session, clock: Clock, actor: Actor, number: str, reason: str | None = None
) -> Case:
    """催办: a reminder to the handling unit; the status stays."""
    return record_action(
        session, clock, actor, load_case(session, number), Action.REMIND, reason=reason
    )


def escalate_case(
    session: Session,
    clock: Clock,
    actor: Actor,
    number: str,
    reason: str,
    to_unit: int | None = None,
) -> Case:
    """逐级上报: the case climbs one level (the next unit up is told); the status stays. A unit
    asks for its own case; the sweep and centres lift overdue ones."""
    case = load_case(session, number)
    case.escalations += 1
    if to_unit is None:
        to_unit = routing.escalation_target(session, case.unit, case.region_code, case.escalations)
    data = {"hop": case.escalations, "to_unit": to_unit}
    return record_action(
        session, clock, actor, case, Action.ESCALATE, reason=reason, data=data, own=True
    )


def comment_case(session: Session, clock: Clock, actor: Actor, number: str, text: str) -> Case:
    case = load_case(session, number)
    return record_action(
        session, clock, actor, case, Action.COMMENT, data={"text": checked_text(text, "备注", 5000)}
    )


# --- the one path every verb takes ---------------------------------------------------------


def record_action(
    session: Session,
    clock: Clock,
    actor: Actor,
    case: Case,
    action: Action,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    stage: str | None | bool = False,
    own: bool = False,
    changes: dict[str, Any] | None = None,
    retime: Callable[[Case, datetime], None] | None = None,
) -> Case:
    """Check the transition for this role, change the status and the verb's other fields
    (`changes`), (re)start the stage clock when `stage` is given (None stops it) or move it with
    `retime` (pause, resume, extend), append the event, and flush so a concurrent change to the
    same case fails here as a Conflict (in a `batch`, at the caller's commit). `own`: only the
    unit handling the case may act. Nothing changes before every check has passed."""
    before = Status(case.status)
    step = transition(before, action, _role(actor)) if actor.role else _system(case, action)
    if own:
        _check_own(actor, case)
    if step.needs_reason and not (reason or "").strip():
        raise InvalidInput(f"{action.zh}需要填写原因 ({action.en} needs a reason)")
    now = clock.now()
    if step.to in ENDED and before not in ENDED:
        data = {**(data or {}), **_lapse_tasks(session, case)}
    with session.no_autoflush:  # one UPDATE per action, so the version moves by exactly one
        if step.to is not before:
            case.triage_hold = None  # a person (or the platform) has decided: off the queue
        case.status = step.to.value
        for name, value in (changes or {}).items():
            setattr(case, name, value)
        if stage is not False:
            clocks.start(case, stage, now)  # type: ignore[arg-type]
        if retime is not None:
            retime(case, now)
        _record(session, case, actor, action, before, now, reason, data)
    number = case.number  # a failed flush expires the case
    if in_batch(session):
        return case
    try:
        session.flush()
    except (StaleDataError, IntegrityError, OperationalError) as e:
        # The version or the (case, seq) key moved under us; on SQLite a reader whose snapshot is
        # older than another writer's commit cannot start writing ("database is locked").
        if isinstance(e, OperationalError) and "locked" not in str(e):
            raise
        raise Conflict(f"案件 {number} 已被他人更新，请刷新后重试 (changed meanwhile)") from e
    return case


def _system(case: Case, action: Action) -> Transition:
    """The worker (no role) keeps the clocks: it reminds and escalates, in any status whose stage
    clock runs, flags overdue tasks where the table lets it, and does nothing else."""
    status = Status(case.status)
    if action is Action.FLAG_OVERDUE and (status, action) in TRANSITIONS:
        return TRANSITIONS[status, action]
    if action not in (Action.REMIND, Action.ESCALATE) or case.stage is None:
        raise Forbidden("系统不能执行此操作 (the system cannot take this action)")
    return Transition(status, frozenset())


def _record(
    session: Session,
    case: Case,
    actor: Actor,
    action: Action,
    before: Status | None,
    now: datetime,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append the next event to the case's chain. Its row waits in the session for the flush
    that stores the case (`_store_events`)."""
    row = {
        "case_id": case.id,
        "seq": case.event_count + 1,
        "action": action.value,
        "from_status": before.value if before else None,
        "to_status": case.status,
        "actor_id": actor.person_id,
        "role": actor.role.value if actor.role else "system",
        "unit_id": actor.unit_id,
        "at": now,
        "reason": (reason or "").strip() or None,
        "data": data or {},
        "prev_hash": case.last_hash,
    }
    row["hash"] = case.last_hash = timeline.digest(case.last_hash, timeline.content(row))
    case.event_count = row["seq"]
    session.info.setdefault(EVENTS, []).append(row)


@sa_event.listens_for(Session, "after_flush")
def _store_events(session: Session, _context: object) -> None:
    """The events go in right after the flush that stored their cases (every event changes its
    case), as one multi-row INSERT: append-only rows need none of the ORM's change tracking.
    A duplicate (case, seq) fails the flush as a whole."""
    rows = session.info.pop(EVENTS, None)
    if rows:
        session.connection().execute(insert(CaseEvent), rows)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_events(session: Session, _previous: object) -> None:
    session.info.pop(EVENTS, None)


def _lapse_tasks(session: Session, case: Case) -> dict[str, Any]:
    """Handling is over: open report-in, assist and supervision tasks lapse (on the record)."""
    with session.no_autoflush:  # tasks are stored when issued; their state is read in memory
        rows = session.scalars(
            select(CaseTask).where(
                CaseTask.case_id == case.id, CaseTask.state == TaskState.OPEN.value
            )
        ).all()
    tasks = [t for t in rows if t.state == TaskState.OPEN.value]
    for task in tasks:
        task.state, task.next_check_at = TaskState.LAPSED.value, None
    return {"lapsed_tasks": [t.id for t in tasks]} if tasks else {}


def load_case(session: Session, number: str) -> Case:
    """The case by its number. Numbers never change and a case is stored when registered
    (in a batch: kept in the batch until its commit), so no pending change needs flushing."""
    held = session.info.get(BATCH)
    if held is not None and number in held:
        return held[number]  # type: ignore[no-any-return]
    met = session.info.setdefault(MET, WeakValueDictionary())
    case = met.get(number)
    if case is not None and inspect(case).persistent:  # not rolled back meanwhile
        return case  # type: ignore[no-any-return]
    with session.no_autoflush:
        case = session.scalar(select(Case).where(Case.number == number))
    if case is None:
        raise NotFound(f"案件 {number} 不存在 (no such case)")
    if held is not None:
        held[number] = case
    met[number] = case
    return case


@contextmanager
def batch(session: Session) -> Iterator[Session]:
    """Many verbs by a caller that owns the session and commits it (the simulator, a bulk
    import): the verbs skip their own flushes, and new cases take their ids from the sequence (on
    SQLite, the next free id: SQLite has one writer at a time), so a burst of actions costs one
    flush at the caller's commit instead of two per case; the batch's cases are found by number
    without a query; reference data (units, categories, routes) is read once for the batch
    (`db.hold`). Every check still runs before any change; a concurrent change to one of the
    cases fails the caller's commit as a whole."""
    session.info[BATCH] = {}  # the batch's cases by number
    db.forget(session, NEXT_ID)
    try:
        with db.hold(session):
            yield session
    finally:
        session.info.pop(BATCH, None)
        db.forget(session, NEXT_ID)


def in_batch(session: Session) -> bool:
    return BATCH in session.info


def _next_id(session: Session) -> int:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return int(conn.scalar(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")))
    last = db.memo(session, NEXT_ID, lambda: [conn.scalar(select(func.max(Case.id))) or 0])
    last[0] += 1
    return int(last[0])


def _check_own(actor: Actor, case: Case) -> None:
    """Handling roles act only on cases their unit is handling."""
    if actor.role in HANDLERS and (actor.unit_id is None or case.unit_id != actor.unit_id):
        raise Forbidden(f"案件 {case.number} 不在本单位办理 (not assigned to your unit)")


def _check_verifier(actor: Actor, case: Case) -> None:
    """A grid worker verifies cases in their own grids, and never a case their unit handled."""
    if actor.role is not Role.GRID_WORKER:
        return
    if case.region_code not in actor.grids:
        raise Forbidden("只能核查本网格的案件 (only cases in your grids)")
    if case.unit_id is not None and case.unit_id == actor.unit_id:
        raise Forbidden("不能核查本单位办理的案件 (cannot verify your own unit's work)")


def _pending(
    session: Session, case: Case, asked: Action, answers: tuple[Action, ...]
) -> CaseEvent | None:
    """The latest `asked` event not yet followed by one of `answers`."""
    events = session.scalars(
        select(CaseEvent)
        .where(
            CaseEvent.case_id == case.id,
            CaseEvent.action.in_([asked.value, *(a.value for a in answers)]),
        )
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    return events if events is not None and events.action == asked.value else None


def find_category(session: Session, ref: tuple[str, str]) -> Category:
    """The category (kind, code) of the current catalogue, looked up once per transaction."""
    found: dict[tuple[int, str, str], Category] = db.memo(session, "CATEGORIES", dict, lasting=True)
    version = catalog.current_version(session)
    version_id = version.id if version else -1
    row = found.get((version_id, *ref))
    if row is None:
        with session.no_autoflush:  # catalogue writes flush at once; cases need not
            row = session.scalar(
                select(Category).where(
                    Category.version_id == version_id,
                    Category.kind == ref[0],
                    Category.code == ref[1],
                )
            )
        if row is None:
            raise InvalidInput(
                f"事项 {ref[0]}:{ref[1]} 不在现行清单中 (not in the current catalogue)"
            )
        found[version_id, *ref] = row
    return row


def _place(session: Session, case: Case, new: NewCase) -> None:
    if new.region_code is not None:  # located by the caller (intake; a point in WGS-84)
        case.lon, case.lat, case.region_code = new.lon, new.lat, new.region_code
        return
    if new.lon is None or new.lat is None:
        return
    [found] = locator.locate_points(
        session, [new.lon], [new.lat], new.crs, get_settings().outside_tolerance_m
    )
    case.lon, case.lat = found.lon, found.lat
    case.region_code = found.chain[0].code if found.chain else None


def _role(actor: Actor) -> Role:
    if actor.role is None:
        raise Forbidden("需要登录 (an identified actor is required)")
    return actor.role


def checked_text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what}不能为空 (must not be empty)")
    if len(value) > limit:
        raise InvalidInput(f"{what}过长 (longer than {limit} characters)")
    return value
