"""Read side of cases. Data scope lives here and only here: `visible_cases(actor)` is where every
list, detail, count and export of cases starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, false, or_, select, true
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from chengzhi.db import page
from chengzhi.errors import NotFound
from chengzhi.models import Case, CaseEvent, CaseTask, Role
from chengzhi.orgs.queries import Actor

AREA_ROLES = frozenset(
    {
        Role.OPERATOR,
        Role.DISPATCHER,
        Role.SUPERVISOR,
        Role.ADMIN,
        Role.STREET_STAFF,
        Role.COMMUNITY_STAFF,
    }
)


def scope(actor: Actor) -> ColumnElement[bool]:
    """Which cases the actor may see: area staff their unit's region subtree (a city-level unit
    also sees unlocated cases), departments what was dispatched to them or they acted on, grid
    workers their grids, residents their own appeals. Everyone else: nothing."""
    if actor.role is None:
        return true()  # the system (worker)
    if actor.role in AREA_ROLES and actor.jurisdiction:
        area = _under(actor.jurisdiction)
        if len(actor.jurisdiction) <= 4:  # a city-level unit
            area = or_(area, Case.region_code.is_(None))
        return or_(area, _assigned(actor)) if actor.unit_id else area
    if actor.role is Role.DEPARTMENT_STAFF and actor.unit_id:
        return _assigned(actor)
    if actor.role is Role.GRID_WORKER and actor.grids:
        return Case.region_code.in_(actor.grids)
    if actor.role is Role.RESIDENT and actor.person_id:
        return Case.reporter_id == actor.person_id
    return false()


def _under(code: str) -> ColumnElement[bool]:
    return and_(Case.region_code >= code, Case.region_code < code + ":")


def _assigned(actor: Actor) -> ColumnElement[bool]:
    """Cases the unit handles, has a task on (报到, 协办, 督办), or has acted on."""
    acted = select(CaseEvent.case_id).where(CaseEvent.unit_id == actor.unit_id)
    tasked = select(CaseTask.case_id).where(CaseTask.unit_id == actor.unit_id)
    return or_(Case.unit_id == actor.unit_id, Case.id.in_(tasked), Case.id.in_(acted))


def visible_cases(actor: Actor) -> Select[tuple[Case]]:
    return select(Case).where(scope(actor))


def list_cases(
    session: Session,
    actor: Actor,
    limit: int,
    offset: int,
    status: str | None = None,
    under: str | None = None,
    overdue_at: datetime | None = None,
) -> tuple[int, list[Case]]:
    query = visible_cases(actor)
    if status:
        query = query.where(Case.status == status)
    if under:
        query = query.where(_under(under))
    if overdue_at is not None:
        query = query.where(Case.due_at < overdue_at)
    query = query.options(selectinload(Case.category), selectinload(Case.unit))
    return page(session, query.order_by(Case.registered_at.desc(), Case.id.desc()), limit, offset)


def get_case(session: Session, actor: Actor, number: str) -> Case:
    """A case the actor may see; any other number is simply not found (no existence leak)."""
    case = session.scalar(visible_cases(actor).where(Case.number == number))
    if case is None:
        raise NotFound(f"案件 {number} 不存在 (no such case)")
    return case


def events(session: Session, case: Case) -> list[CaseEvent]:
    return list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
        )
    )


TASK_LOADS = (
    selectinload(CaseTask.unit),
    selectinload(CaseTask.issuer),
    selectinload(CaseTask.case),
)


def tasks_of(session: Session, case: Case) -> list[CaseTask]:
    return list(
        session.scalars(
            select(CaseTask)
            .where(CaseTask.case_id == case.id)
            .order_by(CaseTask.id)
            .options(*TASK_LOADS)
        )
    )


def list_tasks(
    session: Session,
    actor: Actor,
    limit: int,
    offset: int,
    kind: str | None = None,
    state: str | None = None,
    issued: bool = False,
) -> tuple[int, list[CaseTask]]:
    """The unit's task inbox (报到, 协办, 督办 it must answer), or with `issued` the tasks it gave
    out (a street's whistle board); always inside the actor's case scope."""
    if actor.unit_id is None:
        return 0, []
    mine = CaseTask.issuer_unit_id if issued else CaseTask.unit_id
    query = (
        select(CaseTask)
        .join(Case, Case.id == CaseTask.case_id)
        .where(mine == actor.unit_id, scope(actor))
        .options(*TASK_LOADS)
    )
    if kind:
        query = query.where(CaseTask.kind == kind)
    if state:
        query = query.where(CaseTask.state == state)
    return page(session, query.order_by(CaseTask.due_at, CaseTask.id), limit, offset)
