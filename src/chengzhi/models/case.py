"""Cases (案件/工单) and their append-only timeline (the source of truth for history and
metrics). Statuses and actions are the workflow's (cases/workflow.py), stored as strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.models.base import Base, LabelledEnum, UTCDateTime
from chengzhi.models.catalog import Category
from chengzhi.models.org import OrgUnit


class Channel(LabelledEnum):
    HOTLINE = ("hotline", "12345热线", "12345 hotline")
    WEB = ("web", "网站", "website")
    APP = ("app", "移动端", "mobile app")
    WECHAT = ("wechat", "微信", "WeChat")
    GRID = ("grid", "网格员上报", "grid worker report")
    SENSOR = ("sensor", "物联感知", "sensor alarm")
    OPEN311 = ("open311", "Open311", "Open311")
    IMPORT = ("import", "历史导入", "historical import")
    ASSIGNED = ("assigned", "上级交办", "assigned from above")


class RequestType(LabelledEnum):
    INQUIRY = ("inquiry", "咨询", "inquiry")
    HELP = ("help", "求助", "request for help")
    COMPLAINT = ("complaint", "投诉", "complaint")
    REPORT = ("report", "举报", "report of wrongdoing")
    SUGGESTION = ("suggestion", "建议", "suggestion")
    PRAISE = ("praise", "表扬", "praise")


class Urgency(LabelledEnum):
    NORMAL = ("normal", "一般", "normal")
    URGENT = ("urgent", "紧急", "urgent")
    CRITICAL = ("critical", "特急", "critical")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due", "status", "due_at"),
        # Duplicate detection (intake/duplicates.py): open statuses × a place's code range, with
        # the window checked on the index entries.
        Index("ix_cases_status_region_registered", "status", "region_code", "registered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # Optimistic lock: of two concurrent actions on a case exactly one commits.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    channel: Mapped[str] = mapped_column(String(12))
    request_type: Mapped[str] = mapped_column(String(12))
    urgency: Mapped[str] = mapped_column(String(10))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("catalog_categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(Text)  # personal data when it is a home
    # The finest region the place lies in (grid, else community…): scope is a code range on it.
    region_code: Mapped[str | None] = mapped_column(
        String(15).with_variant(String(15, collation="C"), "postgresql"), index=True
    )
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(64))  # personal data
    reporter_phone: Mapped[str | None] = mapped_column(String(20))  # personal data
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # The originating system's reference: a sensor's device id, an imported order's number.
    source_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    # Intake's suggestions (category top-3, request type, place, duplicates, direct answers)
    # and, while a person must decide, why (低置信度, 无法定位, 疑似重复…): the triage queue.
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    triage_hold: Mapped[str | None] = mapped_column(String(20), index=True)
    # The running stage clock: which stage, when it started, its yellow and due instants, and
    # the suspensions inside it ([[start, end], …] ISO strings; end null while suspended).
    stage: Mapped[str | None] = mapped_column(String(10))
    stage_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    yellow_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pauses: Mapped[list[list[str | None]]] = mapped_column(JSON, default=list)
    # When the clock sweep must next look at this case (yellow, then due, then the next hop up);
    # null while no clock runs. The sweep reads only rows whose instant has passed.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    # Events on the timeline so far: the next event's seq is this plus one.
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_hash: Mapped[str] = mapped_column(String(64))

    category: Mapped[Category | None] = relationship("Category")
    unit: Mapped[OrgUnit | None] = relationship("OrgUnit")

    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One step of a case, never updated or deleted. `hash` chains each event to the one before
    it (`prev_hash`), so an edited or deleted row is detected by `chengzhi audit verify`."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # So that a batch stores a new case before its first event (cases.service.batch).
    case: Mapped[Case] = relationship("Case")
