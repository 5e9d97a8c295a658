"""Store a planned demo city: regions with polygons, the units every city has, and staff for
every grid ("1+3+N": a grid head plus grid workers), plus one login per persona.

The plan (`plan.plan_city`) is pure and deterministic; this module is the write path."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.demo import names
from chengzhi.demo.plan import CityPlan
from chengzhi.errors import Conflict
from chengzhi.geo.shapes import footprints
from chengzhi.models import (
    ApiClient,
    Attachment,
    Case,
    CaseEvent,
    CaseTask,
    GazetteerEntry,
    GridAssignment,
    GridDuty,
    IntakeKey,
    Level,
    LoginSession,
    OrgUnit,
    Person,
    Region,
    Role,
)
from chengzhi.orgs import service as orgs
from chengzhi.progress import OnProgress, quiet
from chengzhi.regions import codes
from chengzhi.regions.service import bump_structure_version, insert_regions

BATCH = 5000
DEMO_PASSWORD = "chengzhi-demo-2026"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    role: Role
    unit: str | None


def store_city(
    session: Session,
    plan: CityPlan,
    clock: Clock,
    replace: bool = False,
    on_progress: OnProgress = quiet,
) -> list[DemoLogin]:
    """Progress counts regions stored, then grids staffed."""
    if session.scalar(select(Region.id).limit(1)) is not None:
        if not replace:
            raise Conflict("数据库中已有区划；用 --replace 替换 (regions exist; use --replace)")
        _wipe(session)
    total = len(plan.regions) + len(plan.by_level(Level.GRID.value))
    ids = _store_regions(session, plan, lambda done: on_progress(done, total))
    orgs.scaffold_units(session)
    _staff_grids(session, plan, ids, clock, lambda done: on_progress(len(ids) + done, total))
    logins = _demo_logins(session, plan, clock)
    bump_structure_version(session)
    return logins


def _wipe(session: Session) -> None:
    cases = (IntakeKey, Attachment, CaseEvent, CaseTask, Case)
    people = (ApiClient, LoginSession, GridAssignment, Person, OrgUnit, GazetteerEntry)
    for model in (*cases, *people):
        session.execute(delete(model))
    for level in reversed(Level):  # children before parents
        session.execute(delete(Region).where(Region.level == level.value))


def _store_regions(
    session: Session, plan: CityPlan, on_stored: Callable[[int], None]
) -> dict[str, int]:
    ids: dict[str, int] = {}
    for level in Level:
        planned = [r for r in plan.regions if r.level == level.value]
        fps = footprints(np.array([r.polygon for r in planned], dtype=object))
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "kind": codes.kind_of(r.code, plan.code).value,
                "parent_id": ids[r.parent_code] if r.parent_code else None,
                "population": r.population,
                "households": r.households,
                **fp.columns(),
            }
            for r, fp in zip(planned, fps, strict=True)
        ]
        ids.update(insert_regions(session, rows))
        on_stored(len(ids))
    return ids


def _staff_grids(
    session: Session,
    plan: CityPlan,
    ids: dict[str, int],
    clock: Clock,
    on_staffed: Callable[[int], None],
) -> None:
    """Each grid: a head (the community's committee member) and one or two grid workers."""
    rng = random.Random(plan.seed)
    committees = dict(session.execute(select(OrgUnit.code, OrgUnit.id)).all())
    now = clock.now()
    grids = plan.by_level(Level.GRID.value)
    for start in range(0, len(grids), BATCH):
        people, duties = [], []
        for grid in grids[start : start + BATCH]:
            unit = committees[f"C{grid.code[:12]}"]
            staff = [GridDuty.HEAD, GridDuty.FULL_TIME] + (
                [GridDuty.PART_TIME] if rng.random() < 0.5 else []
            )
            for duty in staff:
                people.append(_person_row(rng, Role.GRID_WORKER, unit, now))
                duties.append((ids[grid.code], duty))
        person_ids = (
            session.execute(
                insert(Person).returning(Person.id, sort_by_parameter_order=True), people
            )
            .scalars()
            .all()
        )
        session.execute(
            insert(GridAssignment),
            [
                {"grid_id": g, "person_id": p, "duty": d.value}
                for (g, d), p in zip(duties, person_ids, strict=True)
            ],
        )
        on_staffed(min(start + BATCH, len(grids)))


def _person_row(rng: random.Random, role: Role, unit: int | None, now) -> dict:  # type: ignore[no-untyped-def]
    return {
        "name": names.person_name(rng),
        "phone": names.phone(rng),
        "role": role.value,
        "org_unit_id": unit,
        "username": None,
        "password_hash": None,
        "active": True,
        "created_at": now,
    }


def _demo_logins(session: Session, plan: CityPlan, clock: Clock) -> list[DemoLogin]:
    """One account per persona, placed where a visitor can see something happen: the first
    district's first street, community and grid."""
    grid = plan.by_level(Level.GRID.value)[0]
    street, district = grid.code[:9], grid.code[:6]
    places = {
        Role.ADMIN: f"OC{plan.code}",
        Role.SUPERVISOR: f"OC{plan.code}",
        Role.OPERATOR: f"OC{plan.code}",
        Role.DISPATCHER: f"OC{plan.code}",
        Role.STREET_STAFF: f"S{street}",
        Role.COMMUNITY_STAFF: f"C{grid.code[:12]}",
        Role.GRID_WORKER: f"C{grid.code[:12]}",
        Role.DEPARTMENT_STAFF: f"D{district}-chengguan",
        Role.RESIDENT: None,
    }
    rng = random.Random(plan.seed + 1)
    logins = []
    for role, unit in places.items():
        person = orgs.create_person(
            session,
            clock,
            names.person_name(rng),
            role,
            unit,
            names.phone(rng),
            role.value,
            DEMO_PASSWORD,
        )
        if role is Role.GRID_WORKER:
            orgs.assign_grid(session, grid.code, person.id, GridDuty.FULL_TIME)
        logins.append(DemoLogin(role.value, DEMO_PASSWORD, role, unit))
    return logins
