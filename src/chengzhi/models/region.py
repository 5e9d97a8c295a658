"""The region tree (行政区划 + 网格): city → district → street/town → community/village → grid.

Codes hold only their significant digits (city '12' or '6401', district '120101', street
'120101001', community '120101001001', grid '120101001001001'), so "everything under X" is the
indexed range predicate `Region.under(code)` on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    and_,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from chengzhi.models.base import Base, LabelledEnum


class Level(LabelledEnum):
    CITY = ("city", "市", "city")
    DISTRICT = ("district", "区县", "district/county")
    STREET = ("street", "街道/乡镇", "street/town")
    COMMUNITY = ("community", "社区/村", "community/village")
    GRID = ("grid", "网格", "grid")

    @property
    def depth(self) -> int:
        return list(Level).index(self)


class RegionKind(LabelledEnum):
    """What kind of unit a code denotes, from its digits (DOMAIN.md §3)."""

    CITY = ("city", "市", "city")
    DISTRICT = ("district", "区县", "district/county")
    STREET = ("street", "街道", "sub-district")
    TOWN = ("town", "镇", "town")
    TOWNSHIP = ("township", "乡", "township")
    COMMUNITY = ("community", "社区", "community")
    VILLAGE = ("village", "村", "village")
    SPECIAL = ("special", "其他", "other (development zone, farm…)")
    GRID = ("grid", "网格", "grid")


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (CheckConstraint("length(code) in (2, 4, 6, 9, 12, 15)", name="code_length"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Byte-order collation on PostgreSQL so the range predicate means "prefix" in any locale.
    code: Mapped[str] = mapped_column(
        String(15).with_variant(String(15, collation="C"), "postgresql"), unique=True
    )
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    population: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    # WGS-84 polygon as WKB, with its bounding box and a point guaranteed inside (for labels).
    geometry: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    label_lon: Mapped[float | None] = mapped_column(Float)
    label_lat: Mapped[float | None] = mapped_column(Float)
    area_km2: Mapped[float | None] = mapped_column(Float)

    parent: Mapped[Region | None] = relationship("Region", remote_side="Region.id")

    @staticmethod
    def under(code: str) -> ColumnElement[bool]:
        """Every region in the subtree rooted at `code` (itself included): one range scan on
        the code index. Codes are digits only, and ':' sorts right after '9'."""
        return and_(Region.code >= code, Region.code < code + ":")


class StructureState(Base):
    """One row; `version` grows and `stamp` changes on every structure change so caches (the
    spatial index) know when to rebuild, in this process or any other. The random stamp also
    tells apart two changes that reached the same version (one of them rolled back)."""

    __tablename__ = "structure_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    stamp: Mapped[str] = mapped_column(String(32), default="")
