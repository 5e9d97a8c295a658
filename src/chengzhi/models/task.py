"""Tasks a case hands to units beside its handling unit: a department's report-in after a
whistle (吹哨报到), an assisting unit's part of a split case (协办), and a supervision order's reply
(督办). Each has a deadline; the clock sweep flags what misses it. The case timeline stays the
source of truth (each task is issued, done and flagged by an event); this table is its working
projection for inboxes, the sweep and evaluation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.models.base import Base, LabelledEnum, UTCDateTime
from chengzhi.models.case import Case
from chengzhi.models.org import OrgUnit


class TaskKind(LabelledEnum):
    REPORT_IN = ("report_in", "吹哨报到", "report-in after a whistle")
    ASSIST = ("assist", "协办", "assisting unit's part")
    SUPERVISION = ("supervision", "督办", "supervision order")


class TaskState(LabelledEnum):
    OPEN = ("open", "待办", "open")
    DONE = ("done", "已完成", "done")
    LAPSED = ("lapsed", "未完成即终结", "lapsed: the case ended first")


class CaseTask(Base):
    __tablename__ = "case_tasks"
    __table_args__ = (Index("ix_case_tasks_unit_state", "unit_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(8))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))  # who must act
    issuer_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    issued_seq: Mapped[int] = mapped_column(Integer)  # the case event that issued it
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    reply: Mapped[str | None] = mapped_column(Text)
    # Missed its deadline: done late, or still open when the sweep passed due_at.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # The issuer's verdict afterwards (吹哨单位评价报到部门): satisfied / basically / dissatisfied.
    rating: Mapped[str | None] = mapped_column(String(20))
    # When the sweep must flag it (due_at while open and unflagged; null after).
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    case: Mapped[Case] = relationship("Case")
    unit: Mapped[OrgUnit] = relationship("OrgUnit", foreign_keys=[unit_id])
    issuer: Mapped[OrgUnit | None] = relationship("OrgUnit", foreign_keys=[issuer_unit_id])
