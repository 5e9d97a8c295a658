"""Organisations (组织), people (人员) and grid duty assignments (定格、定人、定责)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chengzhi.models.base import Base, LabelledEnum, UTCDateTime
from chengzhi.models.region import Region


class UnitKind(LabelledEnum):
    OPERATIONS_CENTRE = ("operations_centre", "城市运行管理中心", "operations centre")
    HOTLINE = ("hotline", "12345热线", "12345 hotline")
    DEPARTMENT = ("department", "职能部门", "department")
    STREET_OFFICE = ("street_office", "街道办事处/乡镇政府", "street office / town government")
    COMMUNITY_COMMITTEE = ("community_committee", "社区居委会/村委会", "community committee")


class Role(LabelledEnum):
    RESIDENT = ("resident", "市民", "resident")
    OPERATOR = ("operator", "受理员", "hotline operator")
    DISPATCHER = ("dispatcher", "派单员", "dispatcher")
    GRID_WORKER = ("grid_worker", "网格员", "grid worker")
    COMMUNITY_STAFF = ("community_staff", "社区工作人员", "community staff")
    STREET_STAFF = ("street_staff", "街道工作人员", "street staff")
    DEPARTMENT_STAFF = ("department_staff", "部门工作人员", "department staff")
    SUPERVISOR = ("supervisor", "城运中心领导", "supervisor")
    ADMIN = ("admin", "系统管理员", "administrator")
    SOCIAL_ORG = ("social_org", "社会组织", "social organisation")
    VOLUNTEER = ("volunteer", "志愿者", "volunteer")


# Role groups more than one domain's permission checks use.
NOT_STAFF = frozenset({Role.RESIDENT, Role.SOCIAL_ORG, Role.VOLUNTEER})
DESK = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})  # 受理派单席


class GridDuty(LabelledEnum):
    """Chongqing's "1+3+N": a grid head plus full-time, part-time and guiding grid workers."""

    HEAD = ("head", "网格长", "grid head")
    FULL_TIME = ("full_time", "专职网格员", "full-time grid worker")
    PART_TIME = ("part_time", "兼职网格员", "part-time grid worker")
    GUIDE = ("guide", "网格指导员", "grid guide")


class OrgUnit(Base):
    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    # Department line (城管, 住建…) from configuration; None for territorial units.
    sector: Mapped[str | None] = mapped_column(String(24), index=True)
    # The region subtree this unit answers for (its 辖区).
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Own office hours ({"periods": [["08:30", "12:00"], …]} or {"around_the_clock": true});
    # null: the city's default hours.
    office_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    jurisdiction: Mapped[Region] = relationship("Region")
    parent: Mapped[OrgUnit | None] = relationship("OrgUnit", remote_side="OrgUnit.id")


class Person(Base):
    """Staff and residents. `name` and `phone` are personal data: masked on every way out."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20), index=True)
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    org_unit: Mapped[OrgUnit | None] = relationship("OrgUnit")


class GridAssignment(Base):
    __tablename__ = "grid_assignments"
    __table_args__ = (UniqueConstraint("grid_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    duty: Mapped[str] = mapped_column(String(12))

    grid: Mapped[Region] = relationship("Region")
    person: Mapped[Person] = relationship("Person")
