"""API shapes for cases. Reporter name, phone and address leave masked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from chengzhi.cases import clocks
from chengzhi.cases.workflow import Action, Status
from chengzhi.models import Case, CaseEvent, CaseTask, Channel, RequestType, TaskKind, Urgency
from chengzhi.privacy import mask_name, mask_phone

Stage = Literal["dispatch", "sign", "handle", "verify"]


class CaseOut(BaseModel):
    number: str
    version: int
    status: str
    status_label: str
    channel: str
    request_type: str
    urgency: str
    category: str | None = Field(
        description="kind:code in the catalogue version it was filed under"
    )
    category_name: str | None
    title: str
    region_code: str | None
    unit_code: str | None
    unit_name: str | None
    reporter_name: str | None = Field(description="Masked")
    reporter_phone: str | None = Field(description="Masked")
    registered_at: datetime
    stage: str | None
    due_at: datetime | None
    light: Literal["green", "yellow", "red"] | None

    @classmethod
    def of(cls, case: Case, now: datetime) -> CaseOut:
        c, u = case.category, case.unit
        return cls(
            number=case.number,
            version=case.version,
            status=case.status,
            status_label=Status(case.status).zh,
            channel=case.channel,
            request_type=case.request_type,
            urgency=case.urgency,
            category=f"{c.kind}:{c.code}" if c else None,
            category_name=c.name if c else None,
            title=case.title,
            region_code=case.region_code,
            unit_code=u.code if u else None,
            unit_name=u.name if u else None,
            reporter_name=mask_name(case.reporter_name),
            reporter_phone=mask_phone(case.reporter_phone),
            registered_at=case.registered_at,
            stage=case.stage,
            due_at=case.due_at,
            light=clocks.light(case, now),  # type: ignore[arg-type]
        )


class EventOut(BaseModel):
    seq: int
    action: str
    action_label: str
    from_status: str | None
    to_status: str
    role: str
    at: datetime
    reason: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, e: CaseEvent) -> EventOut:
        return cls(
            seq=e.seq,
            action=e.action,
            action_label=Action(e.action).zh,
            from_status=e.from_status,
            to_status=e.to_status,
            role=e.role,
            at=e.at,
            reason=e.reason,
            data=e.data,
        )


class TaskOut(BaseModel):
    """A report-in (报到), assist (协办) or supervision (督办) task on a case."""

    id: int
    case_number: str
    kind: str
    kind_label: str
    state: str
    unit_code: str
    unit_name: str
    issuer_code: str | None
    issued_at: datetime
    due_at: datetime
    done_at: datetime | None
    late: bool = Field(description="Missed its deadline (done late, or flagged while open)")
    rating: str | None
    reply: str | None

    @classmethod
    def of(cls, task: CaseTask) -> TaskOut:
        return cls(
            id=task.id,
            case_number=task.case.number,
            kind=task.kind,
            kind_label=TaskKind(task.kind).zh,
            state=task.state,
            unit_code=task.unit.code,
            unit_name=task.unit.name,
            issuer_code=task.issuer.code if task.issuer else None,
            issued_at=task.issued_at,
            due_at=task.due_at,
            done_at=task.done_at,
            late=task.late,
            rating=task.rating,
            reply=task.reply,
        )


class CaseDetail(CaseOut):
    description: str
    lon: float | None
    lat: float | None
    events: list[EventOut]
    tasks: list[TaskOut]
    allowed_actions: list[str] = Field(description="What this user may do now")


class CaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=10_000)
    request_type: RequestType
    channel: Channel = Channel.WEB
    urgency: Urgency = Urgency.NORMAL
    category: str | None = Field(
        None,
        pattern=r"^(component|matter|topic):[0-9A-Z]{1,20}$",
        description="kind:code, e.g. matter:06010",
    )
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    address: str | None = Field(None, max_length=500)
    reporter_name: str | None = Field(None, max_length=64)
    reporter_phone: str | None = Field(None, max_length=20, pattern=r"^[0-9+\- ]{3,20}$")


class ActionIn(BaseModel):
    """The fields an action may need; each action reads its own."""

    expected_version: int | None = Field(
        None, ge=1, description="Refuse with 409 if the case changed"
    )
    reason: str | None = Field(None, max_length=2000)
    reply: str | None = Field(None, max_length=10_000)
    unit: str | None = Field(None, max_length=40, description="dispatch: org unit code")
    category: str | None = Field(None, pattern=r"^(component|matter|topic):[0-9A-Z]{1,20}$")
    urgency: Urgency | None = None
    passed: bool | None = None
    approve: bool | None = None
    extra_amount: float | None = Field(None, gt=0, le=365, allow_inf_nan=False)
    extra_unit: Literal["working_hours", "working_days", "hours"] | None = None
    into: str | None = Field(None, max_length=20)
    contacted: bool | None = None
    solved: bool | None = None
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"] | None = None
    note: str | None = Field(None, max_length=2000)
    units: list[Annotated[str, Field(max_length=40)]] | None = Field(
        None, max_length=20, description="whistle: departments; split: assisting units (codes)"
    )
    minutes: int | None = Field(None, ge=5, le=1440, description="whistle: report-in deadline")
    deadline_amount: float | None = Field(
        None, gt=0, le=365, allow_inf_nan=False, description="supervise: reply deadline"
    )
    deadline_unit: Literal["working_hours", "working_days", "hours"] | None = None
