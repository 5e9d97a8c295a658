"""/api/v1/appeals: one door for appeals entered by people (residents online, hotline operators,
grid workers), with an `Idempotency-Key` so a retried request never makes a second case; and
the human triage queue (待分拨) for what the platform could not decide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from sqlalchemy import case as when
from sqlalchemy.orm import selectinload

from chengzhi.auth.routes import ActorDep
from chengzhi.cases import actions
from chengzhi.cases.queries import visible_cases
from chengzhi.cases.workflow import WITH_DISPATCHER
from chengzhi.db import page
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.errors import Forbidden
from chengzhi.intake import photos, service
from chengzhi.intake.schemas import AppealIn, AppealOut, QueueItem, default_channel
from chengzhi.models import DESK, Case, Channel
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/appeals", tags=["intake 受理"])
QUEUE_ROLES = DESK
IdempotencyKey = Annotated[
    str | None,
    Header(max_length=200, description="Send the same key again to retry safely"),
]


@router.post("", response_model=AppealOut, status_code=201)
def submit(
    session: SessionDep,
    clock: ClockDep,
    actor: ActorDep,
    body: AppealIn,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> AppealOut:
    fields = body.model_dump(exclude={"category", "channel", "photos"})
    appeal = service.Appeal(
        **fields,
        channel=Channel(body.channel) if body.channel else default_channel(_role(actor)),
        category=actions.category_ref(body.category),
        photos=tuple(body.photos),
    )
    key = service.Key(f"person:{actor.person_id}", idempotency_key) if idempotency_key else None
    receipt = service.submit(session, clock, actor, appeal, key=key)
    if not receipt.created:
        response.status_code = 200
    case = receipt.case
    return AppealOut(
        number=case.number,
        status=case.status,
        created=receipt.created,
        folded=receipt.folded,
        merged_into=receipt.merged_into,
        dispatched=receipt.dispatched,
        hold=case.triage_hold,
        unit_name=case.unit.name if case.unit_id and case.unit else None,
        photos=photos.count(session, case),
        triage=case.triage or {},
    )


@router.get("/queue", response_model=Page[QueueItem])
def queue(
    session: SessionDep, clock: ClockDep, actor: ActorDep, limit: Limit = 50, offset: Offset = 0
) -> Page[QueueItem]:
    """待分拨: appeals waiting for a person, 特急 first, then oldest first."""
    if actor.role not in QUEUE_ROLES:
        raise Forbidden("无权查看分拨队列 (the triage queue is for operators and dispatchers)")
    rank = when((Case.urgency == "critical", 0), (Case.urgency == "urgent", 1), else_=2)
    query = (
        visible_cases(actor)
        .where(
            Case.status.in_([s.value for s in WITH_DISPATCHER]),
            Case.triage_hold.is_not(None),
        )
        .options(selectinload(Case.category), selectinload(Case.unit))
        .order_by(rank, Case.registered_at, Case.id)
    )
    total, rows = page(session, query, limit, offset)
    now = clock.now()
    items = [QueueItem.waiting(c, now) for c in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


def _role(actor: ActorDep) -> str | None:
    return actor.role.value if actor.role else None
