"""A demo activity simulator: appeals arrive in the demo city and travel the closed loop through
the same service verbs the API calls, with a `FrozenClock` moving forward in time.

Event-driven: a priority queue of (time, case, next step); the clock jumps to each step's time,
the step's actor calls its verb, and what happens next is drawn from the seeded rng (sign after a
delay, sometimes a return or an extension, handle usually within the limit, verification that
sometimes fails, a return visit whose dissatisfied results are sometimes reopened). One
transaction per simulated hour. Same database, same seed, same counts.

Tasks beside the handling (cases/tasks.py), drawn from a second seeded rng so that changing their
shares does not reshuffle the rest of the city:
- 吹哨报到: a street or community that signed for a whistle-eligible case sometimes summons one or
  two district departments; each reports in (mostly in time, some late, a few never), and the
  whistling unit rates each report-in once it has handled the case.
- 督办: a case left to go overdue is sometimes supervised by the district's (or the city's)
  operations centre; the handling unit replies, sometimes after the order's deadline.
- 主办/协办: a few dispatched cases are split once the lead unit has signed; each assisting unit
  replies its part before the lead reports the case handled.
A task still open at its deadline is flagged the way the clock sweep does (逾期标记).

Arrivals: ~0.25 appeals per 1,000 residents a day (≈ 2,000 a day for the `city` scale), with a
daily rhythm (peaks 9–11 and 14–17, quiet at night) and a weekly one (weekends lower), at random
points of population-weighted random grids."""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from chengzhi.cases import service, tasks
from chengzhi.cases.workflow import TRANSITIONS, UNIT_WORKING, Action, Status
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.config import get_settings
from chengzhi.db import sessionmaker_for
from chengzhi.demo import names
from chengzhi.errors import Conflict, DomainError
from chengzhi.models import (
    Case,
    CaseTask,
    Category,
    Channel,
    GridAssignment,
    GridDuty,
    Level,
    OrgUnit,
    Person,
    Region,
    RequestType,
    Role,
    TaskKind,
    TaskState,
    UnitKind,
    Urgency,
)
from chengzhi.orgs import service as orgs
from chengzhi.orgs.queries import Actor, actor_for
from chengzhi.progress import OnProgress, quiet
from chengzhi.worktime import Limit

__all__ = ["SimulationReport", "simulate"]

RATE_PER_1000 = 0.25  # appeals per 1,000 residents per day
# Share of the day's appeals in each local hour (0–23): quiet at night, peaks 9–11 and 14–17.
HOURLY = np.array(
    [0.4, 0.25, 0.15, 0.12, 0.15, 0.3, 0.9, 2.2, 4.5, 7.6, 8.2, 7.4, 4.8, 4.6, 7.0, 7.6,
     7.8, 7.2, 5.0, 4.2, 3.8, 3.2, 2.0, 1.0]
)  # fmt: skip
HOURLY = HOURLY / HOURLY.sum()
WEEKLY = (1.08, 1.04, 1.02, 1.0, 1.0, 0.72, 0.66)  # Monday … Sunday (mean ≈ 0.93)

CHANNELS = ((Channel.HOTLINE, 0.72), (Channel.APP, 0.09), (Channel.WEB, 0.06),
            (Channel.WECHAT, 0.06), (Channel.GRID, 0.07))  # fmt: skip
REQUEST_TYPES = ((RequestType.COMPLAINT, 0.44), (RequestType.HELP, 0.28),
                 (RequestType.INQUIRY, 0.20), (RequestType.REPORT, 0.03),
                 (RequestType.SUGGESTION, 0.03), (RequestType.PRAISE, 0.02))  # fmt: skip
SATISFACTION = (("satisfied", 0.72), ("basically_satisfied", 0.17), ("dissatisfied", 0.11))

# A few common appeals with their own wording: (kind, code) → (titles, descriptions). {place} is
# the community, {road} a road name, {n} a house number. Other categories use their name.
TEMPLATES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("topic", "C0201"): (
        ("小区垃圾清运不及时", "垃圾桶满溢无人清运", "楼下垃圾堆积"),
        (
            "{place}{road}{n}号附近垃圾已经堆了两三天没人清运，天热气味很大，希望尽快处理。",
            "{place}的垃圾桶每天都满溢出来，环卫车来得太晚，请督促清运。",
        ),
    ),
    ("topic", "C0501"): (
        ("餐馆油烟扰民", "楼下饭店油烟直排"),
        ("{road}{n}号一楼的饭店油烟直接排到居民楼，窗户都不敢开，请相关部门查处。",),
    ),
    ("topic", "E0305"): (
        ("广场舞噪音扰民", "夜间噪音扰民", "商铺高音喇叭扰民"),
        (
            "{place}广场每晚跳舞到十点多，音响声音很大，影响老人孩子休息。",
            "{road}沿街商铺用高音喇叭循环播放促销广告，从早到晚不停。",
        ),
    ),
    ("topic", "F0401"): (
        ("车辆乱停堵住消防通道", "违章停车堵门"),
        ("{place}{road}{n}号门口经常有车辆乱停，堵住了消防通道和出入口，请交警处理。",),
    ),
    ("topic", "C0101"): (
        ("流动摊贩占道经营", "路边摆摊影响通行"),
        ("{road}地铁口每天傍晚大量摊贩占道经营，行人只能走机动车道，存在安全隐患。",),
    ),
    ("topic", "D0101"): (
        ("小区突然停水", "停水没有提前通知"),
        (
            "{place}{road}{n}号从早上开始停水，没有看到任何通知，家里老人做饭都成问题，"
            "请问什么时候恢复供水？",
        ),
    ),
    ("topic", "D0401"): (
        ("暖气不热室温不达标", "供暖温度太低"),
        ("{place}{n}栋家里暖气片是凉的，室内只有十五六度，多次联系供热公司没有解决。",),
    ),
    ("topic", "G0102"): (
        ("工地拖欠农民工工资", "公司拖欠工资"),
        ("我在{road}附近的工地干了三个月，老板一直拖欠工资，共计两万多元，请帮忙协调追讨。",),
    ),
    ("topic", "G0301"): (
        ("单位未缴纳社保", "咨询社保补缴"),
        ("所在公司入职半年一直没有给缴纳社会保险，请问应该怎么办理补缴？",),
    ),
    ("topic", "B0101"): (
        ("物业服务差", "物业不作为"),
        ("{place}物业公司收费不少，楼道卫生没人打扫，门禁坏了一个月也不修。",),
    ),
    ("topic", "B0106"): (
        ("小区门禁损坏", "楼道灯不亮"),
        ("{place}{n}栋单元门门禁坏了，楼道灯也不亮，晚上进出很不安全，请协调维修。",),
    ),
    ("matter", "06010"): (
        ("路边暴露垃圾", "绿化带内垃圾堆积"),
        ("{road}{n}号旁边的绿化带里堆满了生活垃圾和建筑垃圾，无人清理。",),
    ),
    ("matter", "09006"): (
        ("占道经营", "早市占用人行道"),
        ("{road}人行道早上被菜摊占满，行人和轮椅都过不去。",),
    ),
}
TEMPLATE_WEIGHT = 0.45  # share of appeals drawn from the templated categories
ROADS = tuple(
    [
        "幸福路",
        "人民路",
        "解放路",
        "建设路",
        "和平街",
        "新华路",
        "长江路",
        "滨江路",
        "中山路",
        "光明街",
        "朝阳路",
        "民主路",
    ]
)
INQUIRY_ANSWERS = (
    "已根据知识库答复市民，市民表示清楚。",
    "已告知办理渠道、所需材料和办理时限。",
    "已解释相关政策，并提供咨询电话。",
)
HANDLE_REPLIES = (
    "已到现场核实，问题已处理完毕，并与市民电话沟通。",
    "已安排人员整改到位，后续将加强巡查。",
    "已约谈责任方，责令限期整改，现已整改完成。",
    "已协调相关单位解决，市民认可处理结果。",
)
RETURN_REASONS = ("不属于本单位职责范围", "诉求地址不在本辖区", "该事项应由行业主管部门办理")
EXTENSION_REASONS = ("需协调多个部门，现场整改需要时间", "涉及维修施工，需等待材料到位")
FAIL_REASONS = ("现场复核问题仍然存在", "反馈内容与现场情况不符", "整改不到位")
REOPEN_REASONS = ("市民对处理结果不满意，要求重新办理", "回访反映问题未解决")
CANCEL_REASONS = ("重复来电", "无效来电", "不属于政府职责范围")
REMIND_REASONS = ("市民来电催办", "临近办理时限，请抓紧办理")
HANDLER_ROLE = {
    UnitKind.COMMUNITY_COMMITTEE.value: Role.COMMUNITY_STAFF,
    UnitKind.STREET_OFFICE.value: Role.STREET_STAFF,
    UnitKind.DEPARTMENT.value: Role.DEPARTMENT_STAFF,
}
TERRITORIAL = frozenset({UnitKind.STREET_OFFICE.value, UnitKind.COMMUNITY_COMMITTEE.value})

# Tasks beside the handling (configuration as data; shares of the cases that qualify).
# 吹哨报到: of cases a street or community signs for whose category allows a whistle.
WHISTLE_SHARE = 0.05
WHISTLE_DEPARTMENTS = ((1, 0.6), (2, 0.4))  # departments named by one whistle
WHISTLE_SECTOR = 0.7  # the category's own department is named first
REPORT_IN_TIMING = (("in_time", 0.82), ("late", 0.13), ("never", 0.05))
REPORT_IN_RATINGS = {  # the whistling unit's rating, by how the department answered
    "in_time": (("satisfied", 0.78), ("basically_satisfied", 0.18), ("dissatisfied", 0.04)),
    "late": (("satisfied", 0.15), ("basically_satisfied", 0.5), ("dissatisfied", 0.35)),
    "missing": (("basically_satisfied", 0.05), ("dissatisfied", 0.95)),
}
# 督办: of cases whose handling is left to go overdue; by the district's centre, else the city's.
SUPERVISE_SHARE = 0.2
SUPERVISE_BY_CITY = 0.25
SUPERVISION_LATE = 0.15  # replies after the order's deadline
# 主办/协办: of dispatched cases; split once the lead unit has signed for the case.
SPLIT_SHARE = 0.03
ASSIST_UNITS = ((1, 0.65), (2, 0.35))  # assisting units of one split
TASK_SEED = "tasks"  # salt of the tasks' own rng
WHISTLE_REASONS = (
    "问题反复出现，需执法部门到场联合处置",
    "涉及多个部门职责，需到现场会商解决",
    "屡查屡犯，街道无执法权，请职能部门报到",
)
REPORT_IN_NOTES = ("已到场对接", "执法人员已到现场", None)
ASSIST_REPLIES = (
    "已按分工完成协办事项，并将情况反馈主办单位。",
    "已派员配合主办单位现场处置，协办部分已完成。",
    "已向主办单位提供相关资料和执法支持。",
)
SUPERVISE_REASONS = ("超期未办结，请说明原因并限期办结", "群众反复来电，请加快办理并回复")
SUPERVISION_REPLIES = (
    "已查明超期原因，加派人手，预计近日办结。",
    "已协调相关单位，正在加快处置，办结后及时反馈。",
)


@dataclass
class SimulationReport:
    days: int
    seed: int
    appeals: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # cases' status at the end
    actions: Counter[str] = field(default_factory=Counter)  # verb calls by event action
    refused: Counter[str] = field(default_factory=Counter)  # verbs that refused, by error
    satisfaction: Counter[str] = field(default_factory=Counter)  # return-visit results
    staff_created: int = 0  # login-less handlers and centre supervisors added where none were
    seconds: float = 0.0

    @property
    def total_actions(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True, slots=True)
class _Grid:
    code: str
    name: str
    geom: BaseGeometry
    bounds: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class _Category:
    kind: str
    code: str
    name: str
    level: str
    reopen: bool
    whistle: bool = False  # a street may blow the whistle on it (吹哨)
    sector: str | None = None  # the department line, for the department a whistle names first


class _World:
    """What the simulation reads once: grids with polygons and weights, categories, units by
    place, and actors (created on first use and cached)."""

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.rng = rng
        rows = session.execute(
            select(Region.code, Region.name, Region.population, Region.geometry)
            .where(Region.level == Level.GRID.value, Region.geometry.is_not(None))
            .order_by(Region.code)
        ).all()
        if not rows:
            raise Conflict("数据库中没有网格；先运行 chengzhi demo-city (no grids: build a city)")
        geoms = shapely.from_wkb(np.array([r.geometry for r in rows], dtype=object))
        self.grids = [
            _Grid(r.code, r.name, g, tuple(g.bounds)) for r, g in zip(rows, geoms, strict=True)
        ]
        pops = np.array([max(r.population or 0, 1) for r in rows], dtype=float)
        self.grid_cum = np.cumsum(pops / pops.sum())
        self.population = int(
            session.scalar(select(func.sum(Region.population)).where(Region.level == "grid")) or 0
        )
        community = dict(
            session.execute(
                select(Region.code, Region.name).where(Region.level == Level.COMMUNITY.value)
            ).all()
        )
        self.community_name = community
        version = catalog.current_version(session)
        cats = session.execute(
            select(
                Category.kind,
                Category.code,
                Category.name,
                Category.handling_level,
                Category.reopen,
                Category.whistle,
                Category.sector,
            )  # fmt: skip
            .where(
                Category.version_id == (version.id if version else -1),
                Category.is_leaf.is_(True),
                Category.kind.in_(("matter", "topic")),
            )
            .order_by(Category.kind, Category.code)
        ).all()
        if not cats:
            raise Conflict("没有现行事项清单；先运行 chengzhi init (no current catalogue)")
        self.categories = [
            _Category(c[0], c[1], c[2], c[3], bool(c[4]), bool(c[5]), c[6]) for c in cats
        ]
        by_ref = {(c.kind, c.code): c for c in self.categories}
        self.templated = [by_ref[k] for k in TEMPLATES if k in by_ref]
        self.topics = [c for c in self.categories if c.kind == "topic"]
        units = sorted(  # by code, in Python: the same order under any database collation
            session.execute(
                select(OrgUnit.id, OrgUnit.code, OrgUnit.kind, Region.code, Region.level)
                .join(Region, Region.id == OrgUnit.jurisdiction_id)
                .where(OrgUnit.active.is_(True))
            ).all(),
            key=lambda u: u[1],
        )
        self.unit_code = {u[0]: u[1] for u in units}
        self.unit_id = {u[1]: u[0] for u in units}
        self.unit_kind = {u[0]: u[2] for u in units}
        self.street_office = {u[3]: u[1] for u in units if u[2] == UnitKind.STREET_OFFICE.value}
        self.committee = {u[3]: u[1] for u in units if u[2] == UnitKind.COMMUNITY_COMMITTEE.value}
        # Departments (by code) of each district and of the city; operations centres by place.
        self.departments: dict[str, list[str]] = {}
        for u in units:
            if u[2] == UnitKind.DEPARTMENT.value:
                self.departments.setdefault(u[3], []).append(u[1])
        centres = [u for u in units if u[2] == UnitKind.OPERATIONS_CENTRE.value]
        self.centre = {u[3]: u[0] for u in centres}
        self.city_code = next((u[3] for u in centres if u[4] == Level.CITY.value), None)
        self.operators = self._people(session, Role.OPERATOR)
        self.dispatchers = self._people(session, Role.DISPATCHER)
        if not self.operators or not self.dispatchers:
            raise Conflict("没有受理员或派单员 (no operator or dispatcher in the database)")
        self.grid_person = dict(
            session.execute(
                select(Region.code, func.min(GridAssignment.person_id))
                .join(Region, Region.id == GridAssignment.grid_id)
                .where(GridAssignment.duty == GridDuty.HEAD.value)
                .group_by(Region.code)
            ).all()
        )
        self._unit_actor: dict[int, Actor] = {}
        self._grid_actor: dict[str, Actor | None] = {}
        self._staff: dict[int, int] = {}
        self._supervisor: dict[int, int] = {}  # operations centre → its supervisor (督办)
        self._supervisor_actor: dict[int, Actor] = {}

    def _people(self, session: Session, role: Role) -> list[Actor]:
        ids = session.scalars(
            select(Person.id)
            .where(Person.role == role.value, Person.active.is_(True))
            .order_by(Person.id)  # fmt: skip
        ).all()
        return [actor_for(session, pid) for pid in ids]

    def operator(self) -> Actor:
        return self.rng.choice(self.operators)

    def dispatcher(self) -> Actor:
        return self.rng.choice(self.dispatchers)

    def staff_units(self, session: Session, clock: FrozenClock) -> int:
        """One handling person per unit that can receive cases, and one supervisor per
        operations centre (督办): the first person of that role in the unit, or a login-less one
        created for it. Returns how many were made."""
        rows = session.execute(
            select(Person.org_unit_id, Person.role, func.min(Person.id))
            .where(Person.active.is_(True), Person.org_unit_id.is_not(None))
            .group_by(Person.org_unit_id, Person.role)
        ).all()
        first = {(unit, role): pid for unit, role, pid in rows}
        made = 0
        rng = random.Random(len(self.unit_code))

        def person(unit_id: int, role: Role) -> int:
            nonlocal made
            pid = first.get((unit_id, role.value))
            if pid is None:
                pid = orgs.create_person(
                    session, clock, names.person_name(rng), role, self.unit_code[unit_id],
                    names.phone(rng),
                ).id  # fmt: skip
                made += 1
            return pid

        for unit_id in sorted(self.unit_code):
            role = HANDLER_ROLE.get(self.unit_kind[unit_id])
            if role is not None:
                self._staff[unit_id] = person(unit_id, role)
        for unit_id in sorted(self.centre.values()):
            self._supervisor[unit_id] = person(unit_id, Role.SUPERVISOR)
        return made

    def handler(self, session: Session, unit_id: int) -> Actor:
        if unit_id not in self._unit_actor:
            self._unit_actor[unit_id] = actor_for(session, self._staff[unit_id])
        return self._unit_actor[unit_id]

    def supervisor(self, session: Session, centre: int) -> Actor:
        if centre not in self._supervisor_actor:
            self._supervisor_actor[centre] = actor_for(session, self._supervisor[centre])
        return self._supervisor_actor[centre]

    def departments_of(self, region_code: str | None) -> list[str]:
        """The departments of the place's district, else the city's."""
        district = (region_code or "")[:6]
        return self.departments.get(district) or self.departments.get(self.city_code or "", [])

    def grid_worker(self, session: Session, grid: str | None) -> Actor | None:
        if grid is None:
            return None
        if grid not in self._grid_actor:
            pid = self.grid_person.get(grid)
            self._grid_actor[grid] = actor_for(session, pid) if pid else None
        return self._grid_actor[grid]

    def pick_grid(self) -> _Grid:
        i = np.searchsorted(self.grid_cum, self.rng.random() * self.grid_cum[-1], side="right")
        return self.grids[min(int(i), len(self.grids) - 1)]

    def point_in(self, grid: _Grid) -> tuple[float, float]:
        x0, y0, x1, y1 = grid.bounds
        for _ in range(30):
            x, y = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if shapely.contains_xy(grid.geom, x, y):
                return x, y
        p = grid.geom.representative_point()
        return p.x, p.y

    def pick_category(self, request_type: RequestType) -> _Category:
        if request_type is RequestType.INQUIRY and self.rng.random() < 0.6:
            return self.rng.choice(self.topics)
        if self.templated and self.rng.random() < TEMPLATE_WEIGHT:
            return self.rng.choice(self.templated)
        return self.rng.choice(self.categories)


def _weighted(rng: random.Random, pairs):  # type: ignore[no-untyped-def]
    x = rng.random() * sum(w for _, w in pairs)
    for item, w in pairs:
        x -= w
        if x < 0:
            return item
    return pairs[-1][0]


class _Sim:
    def __init__(self, session_factory, world: _World, clock: FrozenClock, rng, report, tz):  # type: ignore[no-untyped-def]
        self.world, self.clock, self.rng, self.report, self.tz = world, clock, rng, report, tz
        # The tasks beside the handling draw from their own stream (seeded from the run's).
        self.trng = random.Random(f"{report.seed}-{TASK_SEED}")
        self.queue: list[tuple[datetime, int, str, str, object]] = []
        self.seq = itertools.count()
        self.session_factory = session_factory
        self.session: Session
        # per case: category, unit tried, grid worker, reworks, planned handling, its tasks
        self.meta: dict[str, dict] = {}

    def push(self, at: datetime, number: str, step: str, arg: object = None) -> None:
        heapq.heappush(self.queue, (at, next(self.seq), number, step, arg))

    # --- time helpers ---------------------------------------------------------------------

    def later(
        self, lo_h: float, hi_h: float, office: bool = True, urgent: bool = False
    ) -> datetime:
        """Now plus a random delay; during office hours unless the case is urgent."""
        at = self.clock.now() + timedelta(hours=self.rng.uniform(lo_h, hi_h))
        return at if urgent or not office else self.office(at)

    def office(self, at: datetime, rng: random.Random | None = None) -> datetime:
        """The next office-hours instant from `at` (Mon–Fri 8:30–12:00, 13:30–17:30, local)."""
        rng = rng or self.rng
        local = at.astimezone(self.tz)
        for _ in range(10):
            minutes = local.hour * 60 + local.minute
            if local.weekday() < 5 and (510 <= minutes < 720 or 810 <= minutes < 1050):
                return local.astimezone(UTC)
            if local.weekday() < 5 and minutes < 510:
                local = local.replace(hour=8, minute=30) + self._jitter(rng)
            elif local.weekday() < 5 and 720 <= minutes < 810:
                local = local.replace(hour=13, minute=30) + self._jitter(rng)
            else:
                local = (local + timedelta(days=1)).replace(hour=8, minute=30) + self._jitter(rng)
        return local.astimezone(UTC)

    @staticmethod
    def _jitter(rng: random.Random) -> timedelta:
        return timedelta(minutes=rng.uniform(0, 90))

    # --- arrivals -------------------------------------------------------------------------

    def arrivals(self, hour: datetime, counts_rng: np.random.Generator) -> None:
        local = hour.astimezone(self.tz)
        daily = self.world.population / 1000 * RATE_PER_1000
        mean = daily * HOURLY[local.hour] * WEEKLY[local.weekday()] / (sum(WEEKLY) / 7)
        for _ in range(int(counts_rng.poisson(mean))):
            at = hour + timedelta(seconds=self.rng.uniform(0, 3600))
            self.push(at, "", "register", None)

    def new_case(self) -> tuple[service.NewCase, _Category, _Grid]:
        w, rng = self.world, self.rng
        channel = _weighted(rng, CHANNELS)
        rtype = _weighted(rng, REQUEST_TYPES)
        if channel is Channel.GRID:
            rtype = RequestType.REPORT if rng.random() < 0.3 else RequestType.COMPLAINT
        cat = w.pick_category(rtype)
        grid = w.pick_grid()
        lon, lat = w.point_in(grid)
        place = w.community_name.get(grid.code[:12], grid.name)
        road, n = rng.choice(ROADS), rng.randint(1, 300)
        titles, texts = TEMPLATES.get((cat.kind, cat.code), ((cat.name,), ()))
        title = rng.choice(titles)
        if texts:
            text = rng.choice(texts).format(place=place, road=road, n=n)
        else:
            verb = {RequestType.INQUIRY: "咨询", RequestType.SUGGESTION: "建议"}.get(rtype, "反映")
            text = f"市民{verb}{place}{road}{n}号附近{cat.name}问题，请相关部门处理。"
        if rtype is RequestType.INQUIRY and not title.startswith("咨询"):
            title = f"咨询{title}"
        u = rng.random()
        urgency = Urgency.CRITICAL if u < 0.005 else Urgency.URGENT if u < 0.045 else Urgency.NORMAL
        new = service.NewCase(
            title=title[:200],
            description=text,
            request_type=rtype,
            channel=channel,
            urgency=urgency,
            category=(cat.kind, cat.code),
            lon=lon,
            lat=lat,
            region_code=grid.code,  # the point was drawn inside this grid
            address=f"{place}{road}{n}号",
            reporter_name=None if channel is Channel.GRID else names.person_name(rng),
            reporter_phone=None if channel is Channel.GRID else names.phone(rng),
        )
        return new, cat, grid

    # --- one step -------------------------------------------------------------------------

    def run(self, number: str, step: str, arg: object) -> None:
        s, c, w, rng = self.session, self.clock, self.world, self.rng
        if step == "register":
            new, cat, grid = self.new_case()
            actor = w.operator()
            if new.channel is Channel.GRID:
                actor = w.grid_worker(s, grid.code) or actor
            case = service.register_case(s, c, actor, new)
            self.report.appeals += 1
            self.meta[case.number] = {
                "cat": cat,
                "urgent": new.urgency is not Urgency.NORMAL,
                "case": case,  # held, so the session's identity map keeps it between steps
            }
            self._done("register")
            quick = new.request_type in (RequestType.INQUIRY, RequestType.PRAISE)
            if quick and rng.random() < 0.7:
                self.push(self.later(0.02, 0.2, office=False), case.number, "close")
            else:
                self.push(self.later(0.1, 1.5, office=False), case.number, "file")
            return
        meta = self.meta[number]
        urgent = meta["urgent"]
        if step == "close":
            service.close_case(s, c, w.operator(), number, rng.choice(INQUIRY_ANSWERS))
            self._done("close")
            self._after_close(number)
        elif step == "file":
            d = w.dispatcher()
            if rng.random() < 0.015:
                service.cancel_case(s, c, d, number, rng.choice(CANCEL_REASONS))
                self._done("cancel")
                return
            service.file_case(s, c, d, number)
            self._done("file")
            self.push(self.later(0.02, 0.3, office=False), number, "dispatch")
        elif step == "dispatch":
            self._dispatch(number, arg)
        elif step == "sign":
            case = self._case(number)
            actor = w.handler(s, case.unit_id)
            if rng.random() < 0.04 and not meta.get("returned"):
                service.request_return(s, c, actor, number, rng.choice(RETURN_REASONS))
                self._done("request_return")
                meta["returned"] = True
                self.push(self.later(0.3, 3, office=False), number, "arbitrate")
                return
            case = service.sign_case(s, c, actor, number)
            self._done("sign")
            self._plan_handling(case)
            self._plan_tasks(case)
        elif step == "arbitrate":
            case = self._case(number)
            approve = rng.random() < 0.6
            previous = case.unit_id
            service.arbitrate_return(
                s, c, w.dispatcher(), number, approve, None if approve else "经核实属于本单位职责"
            )
            self._done("approve_return" if approve else "reject_return")
            if approve:
                self.push(self.later(0.05, 0.5, office=False), number, "dispatch", previous)
            else:
                self._plan_handling(self._case(number))
        elif step == "extend":
            case = self._case(number)
            if case.status != Status.IN_PROGRESS.value:
                return
            actor = w.handler(s, case.unit_id)
            extra = Limit(rng.choice((2, 3, 5)), "working_days")
            service.request_extension(s, c, actor, number, rng.choice(EXTENSION_REASONS), extra)
            self._done("request_extension")
            self.push(self.later(0.5, 4, urgent=urgent), number, "decide")
        elif step == "decide":
            if self._case(number).status != Status.IN_PROGRESS.value:
                return  # handled meanwhile: the request is moot
            approve = rng.random() < 0.75
            case = service.decide_extension(
                s, c, w.dispatcher(), number, approve, None if approve else "理由不充分，请按时办结"
            )
            self._done("approve_extension" if approve else "reject_extension")
        elif step == "remind":
            case = self._case(number)
            if case.status not in (Status.DISPATCHED.value, Status.IN_PROGRESS.value):
                return
            service.remind_case(s, c, w.operator(), number, rng.choice(REMIND_REASONS))
            self._done("remind")
        elif step == "handle":
            case = self._case(number)
            if case.status != Status.IN_PROGRESS.value or arg != meta.get("round"):
                return  # a newer plan (after rework or an extension) holds
            if (until := meta.get("assist_until")) and until > c.now():
                # 主办 reports handled once its assisting units have replied
                self.push(until + timedelta(minutes=self.trng.uniform(5, 60)), number, step, arg)
                return
            actor = w.handler(s, case.unit_id)
            service.handle_case(s, c, actor, number, rng.choice(HANDLE_REPLIES))
            self._done("handle")
            self.push(self.later(0.5, 20, urgent=urgent), number, "verify")
            if (whistler := meta.get("whistler")) is not None:
                self.push(self._task_later(0.2, 6), number, "rate", whistler)
        elif step == "verify":
            case = self._case(number)
            verifier = w.dispatcher()
            if w.unit_kind.get(case.unit_id) == UnitKind.DEPARTMENT.value:
                verifier = w.grid_worker(s, case.region_code) or verifier
            passed = rng.random() >= 0.07
            case = service.verify_case(
                s, c, verifier, number, passed, None if passed else rng.choice(FAIL_REASONS)
            )
            self._done("verify_pass" if passed else "verify_fail")
            if passed:
                self._after_close(number)
            else:
                self._plan_handling(case, rework=True)
        elif step == "revisit":
            contacted = rng.random() < 0.94
            result = _weighted(rng, SATISFACTION) if contacted else None
            solved = None if not contacted else result != "dissatisfied" or rng.random() < 0.3
            service.revisit_case(s, c, w.operator(), number, contacted, solved, result)
            self._done("revisit")
            self.report.satisfaction[result or "not_contacted"] += 1
            if result == "dissatisfied" and meta["cat"].reopen and rng.random() < 0.4:
                self.push(self.later(2, 30), number, "reopen")
        elif step == "reopen":
            service.reopen_case(s, c, w.dispatcher(), number, rng.choice(REOPEN_REASONS))
            self._done("reopen")
            self.push(self.later(0.1, 2, office=False), number, "dispatch")
        else:
            TASK_STEPS[step](self, number, arg)

    # --- tasks beside the handling: 吹哨报到, 主办/协办, 督办 --------------------------------

    def _plan_tasks(self, case: Case) -> None:
        """Once the unit has signed: split a case picked at dispatch (主办/协办); a street or
        community sometimes whistles (吹哨) on a case whose category allows it. Both before the
        planned handling."""
        meta, w, t = self.meta[case.number], self.world, self.trng
        now, handle_at = self.clock.now(), meta["handle_at"]
        if meta.get("split") is False:
            meta["split"] = True
            self.push(now + (handle_at - now) * t.uniform(0.05, 0.2), case.number, "split")
        if (
            "whistle" not in meta
            and meta["cat"].whistle
            and w.unit_kind.get(case.unit_id) in TERRITORIAL
            and t.random() < WHISTLE_SHARE
        ):
            meta["whistle"] = True  # one whistle per case
            at = now + (handle_at - now) * t.uniform(0.05, 0.3)
            self.push(at, case.number, "whistle", case.unit_id)

    def _whistle(self, number: str, unit_id: object) -> None:
        """吹哨: the street or community names 1–2 departments of the district, the category's
        own department first as a rule; each reports in in time, late, or never."""
        s, c, w, t = self.session, self.clock, self.world, self.trng
        case, meta = self._case(number), self.meta[number]
        if case.status != Status.IN_PROGRESS.value or case.unit_id != unit_id:
            return  # handled, returned or re-dispatched meanwhile
        pool = w.departments_of(case.region_code)
        n = min(_weighted(t, WHISTLE_DEPARTMENTS), len(pool))
        if n == 0:
            return
        sector = meta["cat"].sector
        own = next((d for d in pool if sector and d.endswith(f"-{sector}")), None)
        named = [own] if own and t.random() < WHISTLE_SECTOR else []
        named += t.sample([d for d in pool if d not in named], n - len(named))
        whistler = w.handler(s, case.unit_id)
        tasks.whistle(s, c, whistler, number, named, t.choice(WHISTLE_REASONS))
        self._done("whistle")
        meta["whistler"] = case.unit_id
        now = c.now()
        for task in self._new_tasks(case, TaskKind.REPORT_IN, named):
            timing = _weighted(t, REPORT_IN_TIMING)
            if timing == "in_time":
                self.push(now + (task.due_at - now) * t.uniform(0.1, 0.95), number, "report", task)
            elif timing == "late":
                late = task.due_at + timedelta(minutes=t.uniform(5, 180))
                self.push(late, number, "report", task)

    def _report_in(self, number: str, task: object) -> None:
        """报到: a summoned department reports in (a late one after the flag)."""
        assert isinstance(task, CaseTask)
        if not self._task_open(number, task):
            return
        actor = self.world.handler(self.session, task.unit_id)
        note = self.trng.choice(REPORT_IN_NOTES)
        tasks.report_in(self.session, self.clock, actor, number, note)
        self._done("report_in")

    def _rate(self, number: str, whistler: object) -> None:
        """评价: after handling, the whistling unit rates every department it summoned: in time,
        late, or missing (still open, or lapsed when the case closed)."""
        s, w, t = self.session, self.world, self.trng
        case = self._case(number)
        if (Status(case.status), Action.RATE_REPORT_IN) not in TRANSITIONS:
            return  # reopened meanwhile: back with the dispatcher
        actor = w.handler(s, whistler)  # type: ignore[arg-type]
        for task in self.meta[number]["tasks"]:
            if task.kind != TaskKind.REPORT_IN.value or task.rating is not None:
                continue
            if task.issuer_unit_id != whistler:
                continue
            answer = "missing" if task.state != TaskState.DONE.value else "in_time"
            answer = "late" if answer == "in_time" and task.late else answer
            rating = _weighted(t, REPORT_IN_RATINGS[answer])
            tasks.rate_report_in(s, self.clock, actor, number, w.unit_code[task.unit_id], rating)
            self._done("rate_report_in")

    def _split(self, number: str, _: object) -> None:
        """拆分: the dispatcher keeps the signed unit as lead (主办) and names 1–2 assisting units
        (协办): departments of the district, or the place's community for a street-led case.
        Each replies before the lead reports the case handled."""
        s, c, w, t = self.session, self.clock, self.world, self.trng
        case, meta = self._case(number), self.meta[number]
        if case.status not in (Status.DISPATCHED.value, Status.IN_PROGRESS.value):
            return
        lead = w.unit_code.get(case.unit_id)  # type: ignore[arg-type]
        pool = [d for d in w.departments_of(case.region_code) if d != lead]
        community = w.committee.get((case.region_code or "")[:12])
        if w.unit_kind.get(case.unit_id) == UnitKind.STREET_OFFICE.value and community:
            pool.append(community)
        n = min(_weighted(t, ASSIST_UNITS), len(pool))
        if n == 0:
            return
        assisting = t.sample(pool, n)
        tasks.split(s, c, t.choice(w.dispatchers), number, assisting)
        self._done("split")
        now = c.now()
        span = max(meta["handle_at"] - now, timedelta(minutes=10))
        for task in self._new_tasks(case, TaskKind.ASSIST, assisting):
            at = now + span * t.uniform(0.2, 0.9)
            meta["assist_until"] = max(meta.get("assist_until") or at, at)
            self.push(at, number, "assist", task)

    def _assist(self, number: str, task: object) -> None:
        """协办反馈: an assisting unit replies its part to the lead."""
        assert isinstance(task, CaseTask)
        if not self._task_open(number, task):
            return
        actor = self.world.handler(self.session, task.unit_id)
        reply = self.trng.choice(ASSIST_REPLIES)
        tasks.assist_reply(self.session, self.clock, actor, number, reply)
        self._done("assist_reply")

    def _supervise(self, number: str, round_: object) -> None:
        """督办: the district's operations centre (sometimes the city's) orders the handling unit
        to reply by the default deadline; the reply comes, sometimes late."""
        s, c, w, t = self.session, self.clock, self.world, self.trng
        case, meta = self._case(number), self.meta[number]
        if (
            round_ != meta.get("round")
            or (Status(case.status), Action.SUPERVISE) not in TRANSITIONS
        ):
            return  # handled, returned or reworked meanwhile
        if case.due_at is None or case.due_at >= c.now():
            return  # an approved extension moved the deadline: not overdue after all
        if any(
            x.kind == TaskKind.SUPERVISION.value and x.state == TaskState.OPEN.value
            for x in meta.get("tasks", ())
        ):
            return  # the last order is still unanswered
        district = w.centre.get((case.region_code or "")[:6])
        city = w.centre.get(w.city_code or "")
        centre = city if district is None or t.random() < SUPERVISE_BY_CITY else district
        if centre is None:
            return
        actor = w.supervisor(s, centre)
        tasks.supervise(s, c, actor, number, t.choice(SUPERVISE_REASONS))
        self._done("supervise")
        now, unit = c.now(), w.unit_code[case.unit_id]  # type: ignore[index]
        [order] = self._new_tasks(case, TaskKind.SUPERVISION, [unit])
        if t.random() < SUPERVISION_LATE:
            at = order.due_at + timedelta(hours=t.uniform(0.5, 24))
        else:
            at = now + (order.due_at - now) * t.uniform(0.1, 0.9)
        self.push(at, number, "reply", order)

    def _reply(self, number: str, task: object) -> None:
        """督办回复: the unit the order named replies."""
        assert isinstance(task, CaseTask)
        if not self._task_open(number, task):
            return
        actor = self.world.handler(self.session, task.unit_id)
        reply = self.trng.choice(SUPERVISION_REPLIES)
        tasks.reply_supervision(self.session, self.clock, actor, number, reply)
        self._done("reply_supervision")

    def _flag(self, number: str, task: object) -> None:
        """逾期标记: what the clock sweep does to a task still open past its deadline."""
        assert isinstance(task, CaseTask)
        if task.state != TaskState.OPEN.value or task.next_check_at is None:
            return
        case = self._case(number)
        if (Status(case.status), Action.FLAG_OVERDUE) not in TRANSITIONS:
            return
        tasks.flag_overdue(self.session, self.clock, Actor.system(), task)
        self._done("flag_overdue")

    def _new_tasks(self, case: Case, kind: TaskKind, codes: list[str]) -> list[CaseTask]:
        """The open tasks just issued to these units, held (with a flag at each deadline)."""
        ids = {self.world.unit_id[code] for code in codes}
        new = [
            x
            for x in tasks.open_tasks(self.session, case)
            if x.kind == kind.value and x.unit_id in ids
        ]
        self.meta[case.number].setdefault("tasks", []).extend(new)
        for task in new:
            self.push(task.due_at + timedelta(minutes=1), case.number, "flag", task)
        return new

    def _task_open(self, number: str, task: CaseTask) -> bool:
        """The task still waits for its unit, and the case is one a unit still works on."""
        status = Status(self._case(number).status)
        return task.state == TaskState.OPEN.value and status in UNIT_WORKING

    def _task_later(self, lo_h: float, hi_h: float) -> datetime:
        at = self.clock.now() + timedelta(hours=self.trng.uniform(lo_h, hi_h))
        return self.office(at, self.trng)

    def _dispatch(self, number: str, avoid: object) -> None:
        s, c, w = self.session, self.clock, self.world
        d = w.dispatcher()
        case = self._case(number)
        if avoid is None:
            try:
                case = service.dispatch_case(s, c, d, number)
            except Conflict:  # routing failed: refused before any change
                self.report.refused["route"] += 1
                case = service.dispatch_case(s, c, d, number, self._fallback(case, None))
        else:  # after an approved return: the place's street office, or its community
            case = service.dispatch_case(s, c, d, number, self._fallback(case, avoid))
        self._done("dispatch")
        meta = self.meta[number]
        if "split" not in meta and self.trng.random() < SPLIT_SHARE:
            meta["split"] = False  # split once the lead unit has signed for the case
        self.push(self.later(0.05, 3, urgent=meta["urgent"]), number, "sign")

    def _fallback(self, case: Case, avoid: object) -> str | None:
        """属地兜底: the street office of the place (its community when the street returned it),
        found by kind and jurisdiction."""
        w = self.world
        code = case.region_code or ""
        street = w.street_office.get(code[:9])
        if avoid is not None and street == w.unit_code.get(avoid):  # type: ignore[call-overload]
            street = w.committee.get(code[:12]) or street
        if street is None:
            street = next(iter(w.street_office.values()))
        return street

    def _plan_handling(self, case: Case, rework: bool = False) -> None:
        meta = self.meta[case.number]
        meta["round"] = meta.get("round", 0) + 1
        now = self.clock.now()
        due = case.due_at.replace(tzinfo=UTC) if case.due_at and not case.due_at.tzinfo else None
        due = due or case.due_at or now + timedelta(days=3)
        span = max((due - now).total_seconds(), 3600.0)
        rng = self.rng
        if rng.random() < 0.88:  # usually within the limit
            at = now + timedelta(seconds=span * rng.uniform(0.05, 0.85))
            if not meta["urgent"]:
                at = min(self.office(at), due - timedelta(minutes=5)) if at < due else at
        else:
            at = due + timedelta(seconds=span * rng.uniform(0.05, 1.5))
        at = max(at, now + timedelta(minutes=5))
        self.push(at, case.number, "handle", meta["round"])
        meta["handle_at"] = at
        if at > due and self.trng.random() < SUPERVISE_SHARE:  # 督办 once it is overdue
            order = due + (at - due) * self.trng.uniform(0.1, 0.5)
            in_hours = self.office(order, self.trng)
            self.push(in_hours if in_hours < at else order, case.number, "supervise", meta["round"])
        if not rework and rng.random() < 0.06:
            self.push(now + (at - now) * 0.5, case.number, "extend")
        if rng.random() < 0.08:
            self.push(now + (at - now) * rng.uniform(0.3, 0.9), case.number, "remind")

    def _after_close(self, number: str) -> None:
        if self.rng.random() < 0.97:
            self.push(self.later(2, 60, office=False), number, "revisit")

    def _case(self, number: str) -> Case:
        return self.meta[number]["case"]  # type: ignore[no-any-return]

    def _done(self, action: str) -> None:
        self.report.actions[action] += 1


TASK_STEPS = {
    "whistle": _Sim._whistle,
    "report": _Sim._report_in,
    "rate": _Sim._rate,
    "split": _Sim._split,
    "assist": _Sim._assist,
    "supervise": _Sim._supervise,
    "reply": _Sim._reply,
    "flag": _Sim._flag,
}


def simulate(
    engine: Engine,
    days: int,
    seed: int,
    start: datetime | None = None,
    on_progress: OnProgress = quiet,
) -> SimulationReport:
    """Simulate `days` of appeals in the city already in the database. Progress counts simulated
    hours. Steps due after the end are left undone, so cases are spread over the statuses."""
    started = time.perf_counter()
    tz = ZoneInfo(get_settings().timezone)
    if start is None:  # a Monday midnight, local time
        start = datetime(2026, 11, 2, tzinfo=tz).astimezone(UTC)
    start = start.astimezone(UTC)
    clock = FrozenClock(start)
    rng = random.Random(seed)
    counts_rng = np.random.default_rng(seed)
    report = SimulationReport(days=days, seed=seed)
    factory = sessionmaker_for(engine)
    # One session for the run (objects stay loaded between hours), one commit per hour.
    with factory() as session:
        world = _World(session, rng)
        report.staff_created = world.staff_units(session, clock)
        session.commit()
        sim = _Sim(factory, world, clock, rng, report, tz)
        sim.session = session
        hours = days * 24
        with service.batch(session):  # the verbs skip their flushes: one per hour, at commit
            for h in range(hours):
                hour = start + timedelta(hours=h)
                sim.arrivals(hour, counts_rng)
                end = hour + timedelta(hours=1)
                try:
                    while sim.queue and sim.queue[0][0] < end:
                        at, _, number, step, arg = heapq.heappop(sim.queue)
                        clock.at = max(clock.at, at)
                        try:
                            sim.run(number, step, arg)
                        except DomainError as e:  # refused before changing anything
                            report.refused[f"{step}: {type(e).__name__}"] += 1
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
                clock.at = max(clock.at, end)
                on_progress(h + 1, hours)
        report.statuses = dict(
            session.execute(
                select(Case.status, func.count()).group_by(Case.status).order_by(Case.status)
            ).all()
        )
    report.seconds = time.perf_counter() - started
    return report
