"""/api/v1/cases: the closed loop over HTTP. Every route starts from the caller's data scope."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from chengzhi.auth.routes import ActorDep
from chengzhi.cases import actions, queries, service
from chengzhi.cases.schemas import ActionIn, CaseDetail, CaseIn, CaseOut, EventOut, TaskOut
from chengzhi.cases.workflow import Status, allowed_actions
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.models import TaskKind, TaskState
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/cases", tags=["cases 案件"])
tasks_router = APIRouter(prefix="/api/v1/tasks", tags=["cases 案件"])
Number = Annotated[str, Path(max_length=20)]
StatusQ = Literal[tuple(s.value for s in Status)]  # type: ignore[valid-type]
KindQ = Literal[tuple(k.value for k in TaskKind)]  # type: ignore[valid-type]
StateQ = Literal[tuple(s.value for s in TaskState)]  # type: ignore[valid-type]


@router.get("", response_model=Page[CaseOut])
def list_cases(
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    status: StatusQ | None = None,
    under: Annotated[str | None, Query(pattern=r"^\d{2,15}$")] = None,
    overdue: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[CaseOut]:
    now = clock.now()
    total, rows = queries.list_cases(
        session, actor, limit, offset, status, under, now if overdue else None
    )
    return Page(total=total, limit=limit, offset=offset, items=[CaseOut.of(c, now) for c in rows])


@router.post("", response_model=CaseDetail, status_code=201)
def register(session: SessionDep, clock: ClockDep, actor: ActorDep, body: CaseIn) -> CaseDetail:
    new = service.NewCase(
        **body.model_dump(exclude={"category"}), category=actions.category_ref(body.category)
    )
    return _detail(session, clock, actor, service.register_case(session, clock, actor, new))


@router.get("/{number}", response_model=CaseDetail)
def get_case(session: SessionDep, clock: ClockDep, actor: ActorDep, number: Number) -> CaseDetail:
    return _detail(session, clock, actor, queries.get_case(session, actor, number))


@router.post("/{number}/{action}", response_model=CaseDetail)
def act(
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    number: Number,
    action: Annotated[str, Path(max_length=24)],
    body: ActionIn,
) -> CaseDetail:
    return _detail(
        session, clock, actor, actions.perform(session, clock, actor, number, action, body)
    )


@tasks_router.get("", response_model=Page[TaskOut])
def list_tasks(
    session: SessionDep,
    actor: ActorDep,
    kind: KindQ | None = None,
    state: StateQ | None = None,
    issued: Annotated[bool, Query(description="tasks my unit gave out (whistle board)")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TaskOut]:
    """报到/协办/督办 my unit must answer, or (issued) the ones it gave out."""
    total, rows = queries.list_tasks(session, actor, limit, offset, kind, state, issued)
    return Page(total=total, limit=limit, offset=offset, items=[TaskOut.of(t) for t in rows])


def _detail(session, clock, actor, case) -> CaseDetail:  # type: ignore[no-untyped-def]
    status = Status(case.status)
    allowed = [a.value for a in allowed_actions(status, actor.role)] if actor.role else []
    return CaseDetail(
        **CaseOut.of(case, clock.now()).model_dump(),
        description=case.description,
        lon=case.lon,
        lat=case.lat,
        events=[EventOut.of(e) for e in queries.events(session, case)],
        tasks=[TaskOut.of(t) for t in queries.tasks_of(session, case)],
        allowed_actions=allowed,
    )
