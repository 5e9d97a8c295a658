"""A demo activity simulator: appeals arrive in the demo city and travel the closed loop through
the same service verbs the API calls, with a `FrozenClock` moving forward in time.

Event-driven: a priority queue of (time, case, next step); the clock jumps to each step's time,
the step's actor calls its verb, and what happens next is drawn from the seeded rng (sign after a
delay, sometimes a return or an extension, handle usually within the limit, verification that
sometimes fails, a return visit whose dissatisfied results are sometimes reopened). One
transaction per simulated hour. Same database, same seed, same counts.

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

from chengzhi.cases import service
from chengzhi.cases.workflow import Status
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.config import get_settings
from chengzhi.db import sessionmaker_for
from chengzhi.demo import names
from chengzhi.errors import Conflict, DomainError
from chengzhi.models import (
    Case,
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


@dataclass
class SimulationReport:
    days: int
    seed: int
    appeals: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # cases' status at the end
    actions: Counter[str] = field(default_factory=Counter)  # verb calls by event action
    refused: Counter[str] = field(default_factory=Counter)  # verbs that refused, by error
    satisfaction: Counter[str] = field(default_factory=Counter)  # return-visit results
    staff_created: int = 0  # login-less handling staff added to units that had none
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
        self.grid_cum = list(itertools.accumulate(pops / pops.sum()))
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
        self.categories = [_Category(c[0], c[1], c[2], c[3], bool(c[4])) for c in cats]
        by_ref = {(c.kind, c.code): c for c in self.categories}
        self.templated = [by_ref[k] for k in TEMPLATES if k in by_ref]
        self.topics = [c for c in self.categories if c.kind == "topic"]
        units = session.execute(
            select(OrgUnit.id, OrgUnit.code, OrgUnit.kind, Region.code)
            .join(Region, Region.id == OrgUnit.jurisdiction_id)
            .where(OrgUnit.active.is_(True))
        ).all()
        self.unit_code = {u[0]: u[1] for u in units}
        self.unit_kind = {u[0]: u[2] for u in units}
        self.street_office = {u[3]: u[1] for u in units if u[2] == UnitKind.STREET_OFFICE.value}
        self.committee = {u[3]: u[1] for u in units if u[2] == UnitKind.COMMUNITY_COMMITTEE.value}
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
        """One handling person per unit that can receive cases: the first staff member of the
        unit's handling role, or a login-less one created for it. Returns how many were made."""
        rows = session.execute(
            select(Person.org_unit_id, Person.role, func.min(Person.id))
            .where(Person.active.is_(True), Person.org_unit_id.is_not(None))
            .group_by(Person.org_unit_id, Person.role)
        ).all()
        first = {(unit, role): pid for unit, role, pid in rows}
        made = 0
        rng = random.Random(len(self.unit_code))
        for unit_id in sorted(self.unit_code):
            role = HANDLER_ROLE.get(self.unit_kind[unit_id])
            if role is None:
                continue
            pid = first.get((unit_id, role.value))
            if pid is None:
                pid = orgs.create_person(
                    session, clock, names.person_name(rng), role, self.unit_code[unit_id],
                    names.phone(rng),
                ).id  # fmt: skip
                made += 1
            self._staff[unit_id] = pid
        return made

    def handler(self, session: Session, unit_id: int) -> Actor:
        if unit_id not in self._unit_actor:
            self._unit_actor[unit_id] = actor_for(session, self._staff[unit_id])
        return self._unit_actor[unit_id]

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
        self.queue: list[tuple[datetime, int, str, str, object]] = []
        self.seq = itertools.count()
        self.session_factory = session_factory
        self.session: Session
        self.meta: dict[str, dict] = {}  # per case: category, unit tried, grid worker, reworks

    def push(self, at: datetime, number: str, step: str, arg: object = None) -> None:
        heapq.heappush(self.queue, (at, next(self.seq), number, step, arg))

    # --- time helpers ---------------------------------------------------------------------

    def later(
        self, lo_h: float, hi_h: float, office: bool = True, urgent: bool = False
    ) -> datetime:
        """Now plus a random delay; during office hours unless the case is urgent."""
        at = self.clock.now() + timedelta(hours=self.rng.uniform(lo_h, hi_h))
        return at if urgent or not office else self.office(at)

    def office(self, at: datetime) -> datetime:
        """The next office-hours instant from `at` (Mon–Fri 8:30–12:00, 13:30–17:30, local)."""
        local = at.astimezone(self.tz)
        for _ in range(10):
            minutes = local.hour * 60 + local.minute
            if local.weekday() < 5 and (510 <= minutes < 720 or 810 <= minutes < 1050):
                return local.astimezone(UTC)
            if local.weekday() < 5 and minutes < 510:
                local = local.replace(hour=8, minute=30) + self._jitter()
            elif local.weekday() < 5 and 720 <= minutes < 810:
                local = local.replace(hour=13, minute=30) + self._jitter()
            else:
                local = (local + timedelta(days=1)).replace(hour=8, minute=30) + self._jitter()
        return local.astimezone(UTC)

    def _jitter(self) -> timedelta:
        return timedelta(minutes=self.rng.uniform(0, 90))

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
            actor = w.handler(s, case.unit_id)
            service.handle_case(s, c, actor, number, rng.choice(HANDLE_REPLIES))
            self._done("handle")
            self.push(self.later(0.5, 20, urgent=urgent), number, "verify")
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
        self.push(self.later(0.05, 3, urgent=self.meta[number]["urgent"]), number, "sign")

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
                    except DomainError as e:
                        # A verb refused before writing anything: count it and drop any
                        # in-memory change it made to the case, which stays where it was.
                        report.refused[f"{step}: {type(e).__name__}"] += 1
                        if number in sim.meta:
                            session.refresh(sim.meta[number]["case"])
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
