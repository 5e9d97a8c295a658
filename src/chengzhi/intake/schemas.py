"""Shapes of the intake API (POST /api/v1/appeals and the triage queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Base64Bytes, BaseModel, Field

from chengzhi.cases.schemas import CaseOut
from chengzhi.models import Case, Channel, RequestType, Urgency

# Channels a person may name for an appeal they enter; sensors, Open311 and imports have their
# own doors.
PersonChannel = Literal["hotline", "web", "app", "wechat", "grid"]


class AppealIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000, description="What the resident says")
    title: str | None = Field(None, max_length=200, description="Default: the first sentence")
    channel: PersonChannel | None = Field(
        None, description="Default by role: operator → hotline, grid worker → grid, else web"
    )
    request_type: RequestType | None = Field(None, description="Default: worked out from text")
    category: str | None = Field(
        None,
        pattern=r"^(component|matter|topic):[0-9A-Z]{1,20}$",
        description="kind:code; default: the classifier's, when confident",
    )
    urgency: Urgency | None = Field(None, description="Never lowered: 特急 rules may raise it")
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    address: str | None = Field(None, max_length=500, description="Used when no coordinates")
    reporter_name: str | None = Field(None, max_length=64)
    reporter_phone: str | None = Field(None, max_length=20, pattern=r"^[0-9+\- ]{3,20}$")
    photos: list[Base64Bytes] = Field(
        default_factory=list,
        max_length=9,
        description="JPEG, PNG or WebP images (base64), at most 5 MB each; checked by content",
    )


class AppealOut(BaseModel):
    number: str
    status: str
    created: bool = Field(description="False: a retry with the same Idempotency-Key")
    folded: bool
    merged_into: str | None = Field(description="A sure duplicate: the case it joined")
    dispatched: bool = Field(description="Filed and dispatched by the platform (智能分拨)")
    hold: str | None = Field(description="Why a person must decide (the triage queue)")
    unit_name: str | None
    photos: int = Field(description="Photos stored with the case")
    triage: dict[str, Any]


class QueueItem(CaseOut):
    hold: str | None
    triage: dict[str, Any] | None

    @classmethod
    def waiting(cls, case: Case, now: datetime) -> QueueItem:
        return cls(**CaseOut.of(case, now).model_dump(), hold=case.triage_hold, triage=case.triage)


def default_channel(role: str | None) -> Channel:
    return {"operator": Channel.HOTLINE, "grid_worker": Channel.GRID}.get(role or "", Channel.WEB)
