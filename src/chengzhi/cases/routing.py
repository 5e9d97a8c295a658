"""Routing by the responsibility list (按权责清单派单): a category's handling level and sector,
plus the place, name the unit whose jurisdiction covers the place and whose line covers the
category. "小事不出网格、大事不出社区": grid and community matters go to the community first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.models import Category, Level, OrgUnit, Region, UnitKind
from chengzhi.orgs.queries import UNIT_LOOKUPS

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
    """The unit for this category here. Reads only the structure, whose writes flush at once,
    so pending case changes need not be flushed first (a case verb may be mid-batch)."""
    with session.no_autoflush:
        return _route(session, category, region_code)


def _route(session: Session, category: Category | None, region_code: str | None) -> Route:
    if category is None:
        return Route(None, "未分类，需人工派单 (no category: the dispatcher decides)")
    if region_code is None:
        return Route(None, "无法定位，需人工派单 (no location: the dispatcher decides)")
    level = category.handling_level
    if level in TERRITORIAL or category.sector is None:
        kind, digits = TERRITORIAL.get(level, TERRITORIAL["street"])
        return _territorial(session, kind, region_code[:digits])
    return _department(session, category, region_code, level)


# Escalation (逐级响应) climbs the place's chain above the handling unit: street office, district
# centre, city centre. A unit's rank: lower is higher up.
RANK = {UnitKind.COMMUNITY_COMMITTEE.value: 4, UnitKind.STREET_OFFICE.value: 3}
CHAIN = ((3, UnitKind.STREET_OFFICE, 9), (2, UnitKind.OPERATIONS_CENTRE, 6))


def escalation_target(
    session: Session, unit: OrgUnit | None, region_code: str | None, hop: int
) -> int | None:
    """The unit told at escalation `hop` (1 = the first level above the handling unit), or None
    when the case is already at the top."""
    rank = _rank(unit)
    chain = [
        (r, kind, region_code[:digits]) for r, kind, digits in CHAIN if region_code and r < rank
    ]
    targets = [_unit_at(session, kind, code) for _, kind, code in chain] + [_city_centre(session)]
    targets = [t for t in targets if t is not None and (unit is None or t != unit.id)]
    return targets[hop - 1] if hop <= len(targets) else None


def _rank(unit: OrgUnit | None) -> float:
    if unit is None:
        return 5
    if unit.kind in RANK:
        return RANK[unit.kind]
    city = unit.jurisdiction.level == Level.CITY.value
    if unit.kind == UnitKind.OPERATIONS_CENTRE.value:
        return 1 if city else 2
    return 1.5 if city else 2.5  # a department sits just below its centre


def _unit_at(session: Session, kind: UnitKind, code: str) -> int | None:
    found: dict[tuple[str, ...], int | None] = db.memo(session, UNIT_LOOKUPS, dict, lasting=True)
    if (kind.value, code) not in found:
        found[kind.value, code] = session.scalar(
            select(OrgUnit.id)
            .join(OrgUnit.jurisdiction)
            .where(OrgUnit.kind == kind.value, OrgUnit.active.is_(True), Region.code == code)
        )
    return found[kind.value, code]


def _city_centre(session: Session) -> int | None:
    return session.scalar(
        select(OrgUnit.id)
        .join(OrgUnit.jurisdiction)
        .where(OrgUnit.kind == UnitKind.OPERATIONS_CENTRE.value, Region.level == Level.CITY.value)
    )


def _territorial(session: Session, kind: UnitKind, code: str) -> Route:
    unit = _unit_at(session, kind, code)
    if unit is None:
        return Route(None, f"{code} 没有{kind.zh} (no {kind.en} for {code})")
    return Route(unit, f"属地 {kind.zh} {code}")


def _department(session: Session, category: Category, region_code: str, level: str) -> Route:
    area = region_code[:6] if level == "district" else "city"
    found: dict[tuple[str, ...], int | None] = db.memo(session, UNIT_LOOKUPS, dict, lasting=True)
    key = (UnitKind.DEPARTMENT.value, area, category.sector or "")
    if key not in found:
        scope = Region.level == Level.CITY.value if area == "city" else Region.code == area
        found[key] = session.scalar(
            select(OrgUnit.id)
            .join(OrgUnit.jurisdiction)
            .where(
                OrgUnit.kind == UnitKind.DEPARTMENT.value,
                OrgUnit.sector == category.sector,
                OrgUnit.active.is_(True),
                scope,
            )
        )
    unit = found[key]
    if unit is None:
        return Route(None, f"没有负责 {category.sector} 的{level}部门 (no department on this line)")
    return Route(unit, f"{level} 部门 {category.sector}")
