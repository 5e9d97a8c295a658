"""Background jobs (后台任务): the database is the queue. A job names a registered handler
(`kind`) and carries ids and plain values only; workers claim due jobs with a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chengzhi.models.base import Base, LabelledEnum, UTCDateTime


class JobStatus(LabelledEnum):
    QUEUED = ("queued", "排队中", "queued")
    RUNNING = ("running", "执行中", "running")
    DONE = ("done", "已完成", "done")
    FAILED = ("failed", "失败待重试", "failed, retry scheduled")
    DEAD = ("dead", "已放弃", "dead, out of attempts")


# A pending job holds its dedupe_key; finishing (done or dead) clears it so the key is free again.
PENDING = frozenset({JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED})
FINISHED = frozenset({JobStatus.DONE, JobStatus.DEAD})


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Claiming probes one status at a time in run_at order.
        Index("ix_jobs_status_run_at", "status", "run_at"),
        # The last run of a periodic kind, when the worker schedules the next one.
        Index("ix_jobs_kind_run_at", "kind", "run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=JobStatus.QUEUED)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times started
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Exception type and message only (no traceback, no locals): they may hold personal data.
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Unique among pending jobs only: NULLs never collide, and finishing sets it to NULL.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
