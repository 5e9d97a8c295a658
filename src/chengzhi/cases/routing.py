"""Routing by the responsibility list (按权责清单派单): a category's handling level and sector,
plus the place, name the unit whose jurisdiction covers the place and whose line covers the
category. "小事不出网格、大事不出社区": grid and community matters go to the community first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.models import Category, Level, OrgUnit, Region, UnitKind

# handling level → (unit kind, how many digits of the place's code name the jurisdiction)
TERRITORIAL = {
    "grid": (UnitKind.COMMUNITY_COMMITTEE, 12),
    "community": (UnitKind.COMMUNITY_COMMITTEE, 12),
    "street": (UnitKind.STREET_OFFICE, 9),
}


@dataclass(frozen=True, slots=True)
class Route:
    unit_id: int | None
    reason: str  # why this unit, or why none (shown in the dispatcher's queue)


def route(session: Session, category: Category | None, region_code: str | None) -> Route:
    if category is None:
        return Route(None, "未分类，需人工派单 (no category: the dispatcher decides)")
    if region_code is None:
        return Route(None, "无法定位，需人工派单 (no location: the dispatcher decides)")
    level = category.handling_level
    if level in TERRITORIAL or category.sector is None:
        kind, digits = TERRITORIAL.get(level, TERRITORIAL["street"])
        return _territorial(session, kind, region_code[:digits])
    return _department(session, category, region_code, level)


def _territorial(session: Session, kind: UnitKind, code: str) -> Route:
    unit = session.scalar(
        select(OrgUnit.id)
        .join(OrgUnit.jurisdiction)
        .where(OrgUnit.kind == kind.value, OrgUnit.active.is_(True), Region.code == code)
    )
    if unit is None:
        return Route(None, f"{code} 没有{kind.zh} (no {kind.en} for {code})")
    return Route(unit, f"属地 {kind.zh} {code}")


def _department(session: Session, category: Category, region_code: str, level: str) -> Route:
    scope = Region.level == Level.CITY.value
    if level == "district":
        scope = Region.code == region_code[:6]
    unit = session.scalar(
        select(OrgUnit.id)
        .join(OrgUnit.jurisdiction)
        .where(
            OrgUnit.kind == UnitKind.DEPARTMENT.value,
            OrgUnit.sector == category.sector,
            OrgUnit.active.is_(True),
            scope,
        )
    )
    if unit is None:
        return Route(None, f"没有负责 {category.sector} 的{level}部门 (no department on this line)")
    return Route(unit, f"{level} 部门 {category.sector}")
