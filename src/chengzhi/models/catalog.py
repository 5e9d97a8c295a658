"""The matter catalogue (事项清单 / 权责清单), versioned: every import makes a new immutable
version, and a case keeps the category row (so the rules) it was filed under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.models.base import Base, UTCDateTime


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    source: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    categories: Mapped[int] = mapped_column(Integer, default=0)


class Category(Base):
    """One node of one catalogue version, every attribute resolved (no inheritance at run time).
    Limits are `{stage: {"amount": n, "unit": u}}` for stages dispatch, sign, handle, verify."""

    __tablename__ = "catalog_categories"
    __table_args__ = (UniqueConstraint("version_id", "kind", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    code: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    path: Mapped[list[str]] = mapped_column(JSON)  # codes from the top-level class down
    is_leaf: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(120))
    handling_level: Mapped[str] = mapped_column(String(12))
    sector: Mapped[str | None] = mapped_column(String(24))
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgent_limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    critical_limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    whistle: Mapped[bool] = mapped_column(Boolean)
    reopen: Mapped[bool] = mapped_column(Boolean)
    duty_list: Mapped[str] = mapped_column(String(12))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(200))

    version: Mapped[CatalogVersion] = relationship("CatalogVersion")
