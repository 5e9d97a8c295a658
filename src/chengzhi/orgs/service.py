"""Write paths for organisations and people: units with jurisdictions, staff with roles, and
grid duty assignments. `scaffold_units` sets up the territorial units every city has (street
offices, community committees, district departments) from the region tree."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, InvalidInput, NotFound
from chengzhi.models import GridAssignment, GridDuty, Level, OrgUnit, Person, Region, Role, UnitKind
from chengzhi.orgs.queries import UNIT_LOOKUPS

SECTORS_FILE = Path(__file__).with_name("sectors.yaml")
_hasher = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Sector:
    code: str
    zh: str
    en: str


@cache
def sectors() -> tuple[Sector, ...]:
    return tuple(Sector(**row) for row in yaml.safe_load(SECTORS_FILE.read_text("utf-8")))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except Exception:  # argon2 raises several kinds for a mismatch or a malformed hash
        return False


def _region(session: Session, code: str) -> Region:
    region = session.scalar(select(Region).where(Region.code == code))
    if region is None:
        raise NotFound(f"区划 {code} 不存在 (no such region)")
    return region


def find_unit(session: Session, code: str) -> OrgUnit:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise NotFound(f"单位 {code} 不存在 (no such org unit)")
    return unit


def create_unit(
    session: Session,
    code: str,
    name: str,
    kind: UnitKind,
    jurisdiction: str,
    sector: str | None = None,
    parent: str | None = None,
) -> OrgUnit:
    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)):
        raise Conflict(f"单位代码 {code} 已存在 (org unit code taken)")
    if sector is not None and sector not in {s.code for s in sectors()}:
        raise InvalidInput(f"未知部门条线 {sector} (unknown sector)")
    unit = OrgUnit(
        code=code,
        name=name,
        kind=kind.value,
        sector=sector,
        jurisdiction_id=_region(session, jurisdiction).id,
        parent_id=find_unit(session, parent).id if parent else None,
        active=True,
    )
    session.add(unit)
    session.flush()
    db.forget(session, UNIT_LOOKUPS)
    return unit


def create_person(
    session: Session,
    clock: Clock,
    name: str,
    role: Role,
    unit: str | None = None,
    phone: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> Person:
    if username and session.scalar(select(Person.id).where(Person.username == username)):
        raise Conflict(f"用户名 {username} 已存在 (username taken)")
    person = Person(
        name=name,
        role=role.value,
        phone=phone,
        org_unit_id=find_unit(session, unit).id if unit else None,
        username=username,
        password_hash=hash_password(password) if password else None,
        active=True,
        created_at=clock.now(),
    )
    session.add(person)
    session.flush()
    return person


def assign_grid(session: Session, grid: str, person_id: int, duty: GridDuty) -> GridAssignment:
    region = _region(session, grid)
    if region.level != Level.GRID.value:
        raise InvalidInput(f"{grid} 不是网格 (not a grid)")
    if session.get(Person, person_id) is None:
        raise NotFound(f"人员 {person_id} 不存在 (no such person)")
    taken = select(GridAssignment.id).where(
        GridAssignment.grid_id == region.id, GridAssignment.person_id == person_id
    )
    if session.scalar(taken):
        raise Conflict("此人已在该网格 (already assigned to this grid)")
    assignment = GridAssignment(grid_id=region.id, person_id=person_id, duty=duty.value)
    session.add(assignment)
    session.flush()
    return assignment


def scaffold_units(session: Session, under: str | None = None) -> dict[str, int]:
    """One street office per street, one committee per community, one department per sector per
    district plus the city's departments, operations centres at city and district level. Units
    that already exist (by code) are kept. Returns how many of each kind were created."""
    regions = session.execute(
        select(Region.id, Region.code, Region.name, Region.level).where(
            Region.level != Level.GRID.value, *([Region.under(under)] if under else [])
        )
    ).all()
    have = set(session.scalars(select(OrgUnit.code)))
    rows = [row for region in regions for row in _units_for(region) if row["code"] not in have]
    for row in rows:
        row["parent_id"] = None
        row["active"] = True
    if rows:
        session.execute(insert(OrgUnit), rows)
        db.forget(session, UNIT_LOOKUPS)
    created: dict[str, int] = {}
    for row in rows:
        created[row["kind"]] = created.get(row["kind"], 0) + 1
    return created


def _units_for(region) -> list[dict]:  # type: ignore[no-untyped-def]
    base = {"jurisdiction_id": region.id, "sector": None}
    if region.level == Level.STREET.value:
        suffix = "街道办事处" if region.name.endswith("街道") else "人民政府"
        name = region.name.removesuffix("街道") + suffix
        return [
            {**base, "code": f"S{region.code}", "name": name, "kind": UnitKind.STREET_OFFICE.value}
        ]
    if region.level == Level.COMMUNITY.value:
        suffix = "村民委员会" if region.name.endswith("村") else "居民委员会"
        return [
            {
                **base,
                "code": f"C{region.code}",
                "name": region.name + suffix,
                "kind": UnitKind.COMMUNITY_COMMITTEE.value,
            }
        ]
    if region.level not in (Level.DISTRICT.value, Level.CITY.value):
        return []
    centre = {
        **base,
        "code": f"OC{region.code}",
        "name": f"{region.name}城市运行管理中心",
        "kind": UnitKind.OPERATIONS_CENTRE.value,
    }
    departments = [
        {
            **base,
            "code": f"D{region.code}-{s.code}",
            "name": f"{region.name}{s.zh}",
            "kind": UnitKind.DEPARTMENT.value,
            "sector": s.code,
        }
        for s in sectors()
    ]
    return [centre, *departments]
