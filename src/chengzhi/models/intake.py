"""What intake keeps beside the case: idempotency keys of every channel, API clients (Open311
and department systems), the admin's gazetteer entries, the knowledge base of direct answers,
attachments, and the versions of the triage classifier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.models.base import Base, UTCDateTime
from chengzhi.models.case import Case


class IntakeKey(Base):
    """One request of one client, once: an API `Idempotency-Key`, an imported order's number, an
    Open311 client's token. `scope` names the client (`person:7`, `client:3`, `import:hist2025`);
    `request_hash` tells a genuine retry from a reused key with a different request."""

    __tablename__ = "intake_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship("Case")  # so a batch stores the case first


class ApiClient(Base):
    """An integration (an Open311 app, a department's system) acting as its service account.
    Only the key's SHA-256 is stored; the key is shown once when created."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class GazetteerEntry(Base):
    """A place name the admin adds to the city's gazetteer (地名库): a road, a landmark or another
    name of a region, pointing at the finest region it lies in (and a point when known)."""

    __tablename__ = "gazetteer_entries"
    __table_args__ = (UniqueConstraint("name", "region_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # road, landmark, alias
    region_code: Mapped[str] = mapped_column(String(15), index=True)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnowledgeArticle(Base):
    """知识库: an answer an operator can give on the spot to an inquiry (直接办结)."""

    __tablename__ = "kb_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    question: Mapped[str] = mapped_column(Text)  # how residents ask it; matched against appeals
    answer: Mapped[str] = mapped_column(Text)
    category_code: Mapped[str | None] = mapped_column(String(30))  # kind:code, optional
    source: Mapped[str | None] = mapped_column(String(200))  # the policy or office behind it
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Attachment(Base):
    """A photo or file sent with an appeal, stored outside the web root under a random name."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))  # relative to DATA_DIR/files
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TriageModel(Base):
    """A trained classifier version. The admin activates one; the rest stay for comparison and
    roll-back. `blob` is `triage.classifier.Model.to_bytes()` (a pickle with a header), last so
    that reading the other columns never walks it; only admins can store one."""

    __tablename__ = "triage_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trained_rows: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
