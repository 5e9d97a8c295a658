"""Duplicate detection (重复件) over many open cases: how fast `duplicates.find` answers, and how
often `sure` and `likely` are right.

A synthetic city of ~120,000 grids (40 districts × 26 streets × 11 communities × 6–15 grids of
300 m, codes in the real 6/9/12/15-digit form) holds N open cases registered over the last
20 days, with Chinese texts from a bank of point problems phrased several ways (burst pipes, dark
street lights, missing manhole covers …), the simulator's templates and its generic sentence.

(a) Speed: 2,000 appeals at random grids, one `find` each: p50 and p99 in wall-clock ms and in
CPU ms (the CPU figure leaves out waiting for a core on a shared machine). Baselines in the same
run: on a few appeals, the same `find` after dropping its index (the schema before it: SQLite
then reads every open case through ix_cases_status_due), and the detector without the place
bound (every open case of the window scored). Target: ≤ 2 ms p99 at 1,000,000 open cases.

(b) Quality: for S seed problems stored among the open cases, one true re-report each (within
100 m, 0.2–48 h later, same category — one in ten a sibling category, as a classifier slip would
— and a different caller's wording of the same spot) and three hard negatives: the same category
100–400 m away (another problem), the same text 500–1,000 m away, and the same spot with an
unrelated category. Precision and recall of `sure` and of `likely` (sure or likely), what each
kind of appeal gets, and the same figures for other text measures at their own best thresholds
(the choice of bigram Jaccard). A negative matched to a background case counts as wrong, though a
few such matches may really be the same problem by chance.

    python bench/bench_duplicates.py [--cases 1000000] [--queries 2000] [--seeds 500]
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.cases import timeline
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import names
from chengzhi.demo.simulate import ROADS, TEMPLATES
from chengzhi.geo.index import METRES_PER_DEGREE
from chengzhi.intake import duplicates
from chengzhi.models import Case, Category
from chengzhi.triage.classifier import clean

NOW = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
SPAN_DAYS = 20  # open cases registered over this many days before NOW
CENTRE = (106.55, 29.56)
CELL_M = 300.0  # grid cell side
DISTRICTS, STREETS, COMMUNITIES = 40, 26, 11  # streets per district, communities per street
GRIDS = (6, 15)  # grids per community, inclusive
BATCH = 20_000
INDEX = "ix_cases_status_region_registered"

# Point problems that draw many calls, each phrased the way different callers put it. {where} is
# the spot as that caller describes it (see `where`).
BANK: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ("topic", "D0104"): (
        ("水管爆裂", "自来水管漏水", "供水管道爆管", "路面冒水"),
        (
            "{where}的自来水管爆了，水哗哗往外冒，路面都淹了，请赶紧派人来修。",
            "{where}地下水管破裂，大量自来水流到马路上，已经流了一个多小时。",
            "反映{where}供水管道漏水爆管，周边居民家里都没水了，希望尽快抢修。",
            "{where}这边水管爆裂了，水流得到处都是，车都开不过去。",
            "{where}路面在往外喷水，应该是自来水管坏了，很浪费，麻烦处理一下。",
        ),
    ),
    ("topic", "C0403"): (
        ("路灯不亮", "路灯坏了", "夜间无照明"),
        (
            "{where}一排路灯晚上都不亮，黑漆漆的，走夜路很不安全。",
            "{where}的路灯坏了好几天了，晚上一片漆黑，老人小孩出门容易摔倒。",
            "反映{where}路灯不亮的问题，请尽快安排维修。",
            "{where}这一段晚上没有灯，路灯全部熄灭，希望相关部门来修一下。",
        ),
    ),
    ("topic", "C0402"): (
        ("井盖缺失", "井盖破损", "窨井盖松动"),
        (
            "{where}人行道上的井盖不见了，留下一个大洞，非常危险。",
            "{where}有个井盖破了，踩上去会晃，怕有人掉下去，请尽快更换。",
            "反映{where}井盖缺失，已经有电动车差点摔倒，请立即处理。",
            "{where}马路中间的窨井盖松动塌陷，车压过去哐哐响。",
        ),
    ),
    ("topic", "C0401"): (
        ("道路坑洼", "路面破损", "路面塌陷"),
        (
            "{where}路面有好几个大坑，下雨积水看不见，已经有车辆爆胎。",
            "{where}的道路坑坑洼洼，破损严重，骑车经过很危险。",
            "反映{where}路面塌陷出现一个坑，请尽快修补。",
            "{where}这段路破了个大洞，晚上看不清，希望赶紧填平。",
        ),
    ),
    ("topic", "C0406"): (
        ("道路积水", "雨后积水严重"),
        (
            "{where}一下雨就积水，水深到小腿，行人根本过不去。",
            "{where}路面积水严重，排水不畅，车开过去水花溅到人行道上。",
            "反映{where}雨后大面积积水两天了还没退，请疏通排水。",
        ),
    ),
    ("topic", "D0601"): (
        ("下水道堵塞", "污水冒出", "排水管堵了"),
        (
            "{where}下水道堵了，污水从井口冒出来，臭气熏天。",
            "{where}的下水道堵塞，生活污水排不出去，楼下都是脏水。",
            "反映{where}排水管道堵塞返水，请尽快派人疏通。",
        ),
    ),
    ("topic", "D0301"): (
        ("燃气泄漏", "闻到煤气味", "天然气漏气"),
        (
            "{where}闻到很浓的煤气味，怀疑燃气管道泄漏，请马上派人检查。",
            "{where}附近天然气味道很大，好像是燃气管漏气，大家都很害怕。",
            "紧急反映{where}燃气泄漏，气味越来越重，请燃气公司立即处置。",
        ),
    ),
    ("topic", "C0302"): (
        ("大树倒伏", "行道树倒了"),
        (
            "{where}一棵大树被风刮倒了，横在路中间，车辆无法通行。",
            "{where}的行道树倒了，压住了旁边的电线和围墙，请尽快清理。",
            "反映{where}有树木倒伏，挡住了人行道，存在安全隐患。",
        ),
    ),
    ("topic", "C0201"): (
        ("垃圾无人清运", "垃圾桶满溢"),
        (
            "{where}垃圾堆了好几天没人清运，苍蝇很多，气味难闻。",
            "{where}的垃圾桶满了溢到地上，环卫一直没来收。",
            "反映{where}生活垃圾长时间未清运，请督促环卫部门处理。",
        ),
    ),
    ("topic", "E0305"): (
        ("广场舞噪音", "夜间音响扰民"),
        (
            "{where}每天晚上有人跳广场舞，音响开得特别大，吵得睡不着。",
            "{where}广场舞噪音扰民，一直放到十点以后，多次劝说无效。",
            "反映{where}晚上音乐声音太大，严重影响居民休息。",
        ),
    ),
    ("topic", "C0501"): (
        ("油烟扰民", "饭馆油烟直排"),
        (
            "{where}一楼饭馆油烟直排，熏得楼上窗户都不敢开。",
            "{where}的餐馆没有装油烟净化器，油烟味飘进居民家里。",
            "反映{where}饭店油烟扰民，请环保部门查处。",
        ),
    ),
    ("topic", "F0401"): (
        ("车辆乱停", "违停堵住出入口"),
        (
            "{where}门口经常有车乱停，把消防通道都堵死了。",
            "{where}有车辆违停在出入口，居民的车出不去，请交警来处理。",
            "反映{where}机动车乱停乱放，严重影响通行。",
        ),
    ),
    ("topic", "B0602"): (
        ("电梯困人", "电梯故障"),
        (
            "{where}电梯突然停了，里面困了人，打物业电话没人接，请紧急救援。",
            "{where}有人被困在电梯里已经二十分钟了，请马上派人。",
            "紧急：{where}电梯故障困人，请尽快处理。",
        ),
    ),
    ("topic", "D0201"): (
        ("突然停电", "大面积停电"),
        (
            "{where}突然停电了，整片都没电，也没有看到停电通知。",
            "{where}从中午开始停电，冰箱里的东西都要坏了，什么时候来电？",
            "反映{where}大面积停电，请供电公司尽快抢修。",
        ),
    ),
    ("topic", "C0101"): (
        ("占道经营", "摊贩占道"),
        (
            "{where}人行道上摆满了小摊，行人只能走到马路上。",
            "{where}流动摊贩占道经营，堵住了路口，请城管管一管。",
            "反映{where}傍晚大量摊贩占道，交通很乱。",
        ),
    ),
}
LANDMARKS = (
    "菜市场门口", "小学旁边", "公交站附近", "十字路口", "超市对面", "幼儿园门口", "医院后门",
    "加油站旁边", "地铁站出口", "公园东门", "银行门口", "药店旁边",
)  # fmt: skip
OPENERS = ("", "", "你好，", "我要反映一下，", "麻烦问一下，")
CLOSERS = ("", "", "谢谢。", "请尽快处理。", "已经打过一次电话了。", "希望尽快解决。")
LIVE_SHARES = {"registered": 0.05, "filed": 0.05, "dispatched": 0.15, "in_progress": 0.55,
               "return_requested": 0.03, "suspended": 0.02, "handled": 0.15}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The city


@dataclass
class City:
    codes: list[str]  # grid codes
    lon: np.ndarray  # grid cell south-west corners
    lat: np.ndarray
    community: np.ndarray  # community index of each grid
    community_names: list[str]
    community_grids: list[np.ndarray]

    def point(self, g: int, rng: np.random.Generator) -> tuple[float, float]:
        return offset(float(self.lon[g]), float(self.lat[g]), *rng.uniform(0, CELL_M, 2))


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    dlat = north_m / METRES_PER_DEGREE
    return lon + east_m / (METRES_PER_DEGREE * math.cos(math.radians(lat))), lat + dlat


def plan_city(seed: int) -> City:
    """Streets on a lattice, 4 × 3 communities per street, up to 4 × 4 grids per community."""
    rng = np.random.default_rng(seed)
    name_rng = random.Random(seed)
    codes, xs, ys, owner, cnames, cgrids = [], [], [], [], [], []
    side = math.ceil(math.sqrt(DISTRICTS * STREETS))
    for d in range(DISTRICTS):
        taken: set[str] = set()
        for s in range(STREETS):
            street = f"5001{d + 1:02d}{s + 1:03d}"
            sx, sy = divmod(d * STREETS + s, side)
            for c in range(COMMUNITIES):
                cx, cy = sx * 16 + (c % 4) * 4, sy * 12 + (c // 4) * 4
                first = len(codes)
                for g in range(int(rng.integers(GRIDS[0], GRIDS[1] + 1))):
                    codes.append(f"{street}{c + 1:03d}{g + 1:03d}")
                    xs.append(cx + g % 4)
                    ys.append(cy + g // 4)
                    owner.append(len(cnames))
                cgrids.append(np.arange(first, len(codes)))
                cnames.append(names.community_name(name_rng, taken))
    x0, y0 = offset(*CENTRE, -side * 8 * CELL_M, -side * 6 * CELL_M)
    lon = np.array([offset(x0, y0, x * CELL_M, 0)[0] for x in xs])
    lat = np.array([offset(x0, y0, 0, y * CELL_M)[1] for y in ys])
    return City(codes, lon, lat, np.array(owner), cnames, cgrids)


# ---------------------------------------------------------------------------------------------
# Texts


@dataclass(frozen=True)
class Spot:
    place: str  # community name
    road: str
    n: int
    landmark: str


def random_spot(city: City, g: int, rng: random.Random) -> Spot:
    place = city.community_names[int(city.community[g])]
    return Spot(place, rng.choice(ROADS), rng.randint(1, 300), rng.choice(LANDMARKS))


def where(spot: Spot, rng: random.Random) -> str:
    """The spot as one caller says it: callers name it differently, and often leave parts out."""
    forms = (
        f"{spot.road}{spot.n}号",
        f"{spot.place}{spot.road}{spot.n}号",
        f"{spot.road}{spot.landmark}",
        f"{spot.place}{spot.landmark}",
        f"{spot.road}{spot.n}号{spot.landmark}",
        f"{spot.place}{spot.road}",
    )
    return rng.choice(forms)


def phrase(key: tuple[str, str], spot: Spot, rng: random.Random, avoid: int = -1) -> tuple:
    """(title, text, phrasing index) of a bank problem at a spot; `avoid` a phrasing taken."""
    titles, bodies = BANK[key]
    choices = [i for i in range(len(bodies)) if i != avoid] or [0]
    i = rng.choice(choices)
    body = bodies[i].format(where=where(spot, rng))
    return rng.choice(titles), rng.choice(OPENERS) + body + rng.choice(CLOSERS), i


def background_text(
    key: tuple[str, str], name: str, spot: Spot, rng: random.Random
) -> tuple[str, str]:
    if key in BANK:
        title, body, _ = phrase(key, spot, rng)
        return title, body
    titles, bodies = TEMPLATES.get(key, ((name,), ()))
    if bodies:
        return rng.choice(titles), rng.choice(bodies).format(
            place=spot.place, road=spot.road, n=spot.n
        )
    return name, f"市民反映{spot.place}{spot.road}{spot.n}号附近{name}问题，请相关部门处理。"


# ---------------------------------------------------------------------------------------------
# Filling the database


@dataclass
class Catalogue:
    ids: dict[tuple[str, str], int]
    names: dict[tuple[str, str], str]
    parents: dict[tuple[str, str], str | None]
    leaves: list[tuple[str, str]]  # leaf topics, for the generic background

    def sibling(self, key: tuple[str, str], rng: random.Random) -> tuple[str, str]:
        same = [k for k in self.leaves if k != key and self.parents[k] == self.parents[key]]
        return rng.choice(same) if same else key


def load_catalogue(session: Session) -> Catalogue:
    version = catalog.current_version(session)
    rows = session.execute(
        select(Category.id, Category.kind, Category.code, Category.name, Category.parent_code)
        .where(Category.version_id == version.id)
        .order_by(Category.id)
    ).all()
    leaves = [(r.kind, r.code) for r in rows if r.kind == "topic" and len(r.code) == 5]
    return Catalogue(
        {(r.kind, r.code): r.id for r in rows},
        {(r.kind, r.code): r.name for r in rows},
        {(r.kind, r.code): r.parent_code for r in rows},
        leaves,
    )


def case_row(
    number: str,
    cat_id: int,
    title: str,
    body: str,
    point: tuple[float, float],
    code: str,
    at: datetime,
    status: str,
) -> dict:
    return {
        "number": number,
        "status": status,
        "version": 1,
        "channel": "hotline",
        "request_type": "complaint",
        "urgency": "normal",
        "category_id": cat_id,
        "title": title,
        "description": body,
        "lon": point[0],
        "lat": point[1],
        "region_code": code,
        "registered_at": at,
        "last_hash": timeline.GENESIS,
        "pauses": [],
        "escalations": 0,
        "event_count": 0,
    }


def background(city: City, cat: Catalogue, n: int, seed: int) -> Iterator[dict]:
    """N open cases: a third from the problem bank, a third from the simulator's templates, the
    rest a generic sentence over any leaf topic; uniform over grids and the last 20 days."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    bank, templated = list(BANK), [k for k in TEMPLATES if k in cat.ids]
    statuses, shares = list(LIVE_SHARES), list(LIVE_SHARES.values())
    grids = nrng.integers(0, len(city.codes), n)
    ages = nrng.uniform(0, SPAN_DAYS * 86_400, n)
    picks = rng.choices(statuses, shares, k=n)
    for i in range(n):
        g = int(grids[i])
        u = rng.random()
        key = rng.choice(bank if u < 0.33 else templated if u < 0.66 else cat.leaves)
        title, body = background_text(key, cat.names[key], random_spot(city, g, rng), rng)
        at = NOW - timedelta(seconds=float(ages[i]))
        point = city.point(g, nrng)
        yield case_row(f"B{i:011d}", cat.ids[key], title, body, point, city.codes[g], at, picks[i])


def store(engine: Engine, rows: Iterator[dict]) -> float:
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        session.execute(text("PRAGMA cache_size=-262144"))  # the fill only: 256 MB
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                session.execute(insert(Case), batch)
                batch = []
        if batch:
            session.execute(insert(Case), batch)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# (a) Speed


@dataclass(frozen=True)
class Query:
    text: str
    category_id: int | None
    region_code: str
    lon: float
    lat: float
    at: datetime
    truth: str | None = None  # the number of the seed case it repeats (labelled set)
    kind: str = "timing"


def random_queries(city: City, cat: Catalogue, n: int, seed: int) -> list[Query]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g = int(nrng.integers(0, len(city.codes)))
        key = rng.choice(list(BANK) + [k for k in TEMPLATES if k in cat.ids])
        title, body = background_text(key, cat.names[key], random_spot(city, g, rng), rng)
        lon, lat = city.point(g, nrng)
        out.append(Query(f"{title}。{body}", cat.ids[key], city.codes[g], lon, lat, NOW))
    return out


def run_find(session: Session, q: Query, limit: int = 5) -> list[duplicates.Candidate]:
    return duplicates.find(
        session,
        text=q.text,
        category_id=q.category_id,
        region_code=q.region_code,
        lon=q.lon,
        lat=q.lat,
        at=q.at,
        limit=limit,
    )


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call: the CPU figure leaves out the time this process
    waited for a core on a shared machine."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000


def latencies(
    engine: Engine, queries: list[Query], warm: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    with db.transaction(engine) as session:
        for q in queries[:warm]:  # warm the page cache and the statement cache
            run_find(session, q)
        ms = np.array([timed(lambda q=q: run_find(session, q)) for q in queries])
    return ms[:, 0], ms[:, 1]


def scored(engine: Engine, queries: list[Query]) -> np.ndarray:
    """How many rows each find reads and scores (open, in the place, in the window)."""
    with db.transaction(engine) as session:
        counts = []
        for q in queries:
            bounds = duplicates.place_range(q.region_code)
            assert bounds is not None
            count = select(func.count()).select_from(duplicates.NEARBY.subquery())
            counts.append(session.scalar(count, duplicates.nearby_params(bounds, q.at, None)))
    return np.array(counts)


def plan_of(engine: Engine, q: Query) -> list[str]:
    bounds = duplicates.place_range(q.region_code)
    assert bounds is not None
    compiled = duplicates.NEARBY.compile(engine)
    state = compiled.construct_expanded_state(duplicates.nearby_params(bounds, q.at, None))
    with engine.connect() as conn:
        sql, params = state.statement, state.positional_parameters
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
        return [r[-1] for r in rows]


def unbounded(session: Session, q: Query) -> list[duplicates.Candidate]:
    """The detector without the place bound: every open case of the window, scored the same way."""
    rows = session.execute(
        select(
            Case.id,
            Case.title,
            Case.description,
            Case.lon,
            Case.lat,
            Case.region_code,
            Case.registered_at,
        ).where(
            Case.status.in_(duplicates.LIVE),
            Case.registered_at >= q.at - duplicates.WINDOW,
            Case.registered_at <= q.at,
            Case.merged_into_id.is_(None),
        )
    )
    grams = duplicates.grams(q.text)
    found = []
    for r in rows:
        metres = duplicates.distance_m(q.lon, q.lat, r.lon, r.lat)
        sim = duplicates.similarity(grams, duplicates.grams(f"{r.title}。{r.description}"))
        place = duplicates.place_factor(metres, r.region_code == q.region_code)
        hours = (q.at - r.registered_at).total_seconds() / 3600
        s = duplicates.score(place=place, text=sim, category=1.0, hours=hours)
        found.append(duplicates.Candidate(r.id, "", s, metres, hours, True, sim))
    return sorted(found, key=lambda c: -c.score)[:5]


# ---------------------------------------------------------------------------------------------
# (b) Quality


def labelled(city: City, cat: Catalogue, seeds: int, seed: int) -> tuple[list[dict], list[Query]]:
    """Seed cases (rows) and, for each, one re-report and three hard negatives."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    rows, queries = [], []
    keys = list(BANK)
    for s in range(seeds):
        key = rng.choice(keys)
        g = int(nrng.integers(0, len(city.codes)))
        spot = random_spot(city, g, rng)
        title, body, used = phrase(key, spot, rng)
        point = city.point(g, nrng)
        hours = rng.uniform(0.2, 48)
        status = rng.choice(list(LIVE_SHARES))
        at = NOW - timedelta(hours=hours)
        number = f"S{s:011d}"
        rows.append(case_row(number, cat.ids[key], title, body, point, city.codes[g], at, status))

        # A re-report: another caller, the same spot within 100 m, a later hour.
        again = key if rng.random() < 0.9 else cat.sibling(key, rng)
        t2, b2, _ = phrase(key, spot, rng, avoid=used)
        near = around(city, g, point, 0, 100, rng)
        queries.append(query(f"{t2}。{b2}", cat.ids[again], near, number, "re-report"))

        # The same category nearby, another problem (another spot's words).
        other = Spot(spot.place, rng.choice(ROADS), rng.randint(1, 300), rng.choice(LANDMARKS))
        t3, b3, _ = phrase(key, other, rng)
        apart = around(city, g, point, 100, 400, rng)
        queries.append(query(f"{t3}。{b3}", cat.ids[key], apart, None, "same category 100–400 m"))

        # The same words far away.
        far = around(city, g, point, 500, 1000, rng)
        queries.append(query(f"{title}。{body}", cat.ids[key], far, None, "same text 500–1000 m"))

        # The same spot, an unrelated matter.
        unrelated = rng.choice([k for k in keys if cat.parents[k] != cat.parents[key]])
        t4, b4, _ = phrase(unrelated, spot, rng)
        near = around(city, g, point, 0, 50, rng)
        queries.append(query(f"{t4}。{b4}", cat.ids[unrelated], near, None, "same spot, other"))
    return rows, queries


def around(
    city: City, g: int, point: tuple[float, float], low: float, high: float, rng: random.Random
) -> tuple[tuple[float, float], str]:
    """A point low–high metres from `point` and its grid (the nearest grid of the community
    or, beyond it, of the street — a point that leaves the street is drawn again)."""
    for _ in range(100):
        r, a = rng.uniform(low, high), rng.uniform(0, 2 * math.pi)
        p = offset(*point, r * math.cos(a), r * math.sin(a))
        owner = grid_at(city, g, p)
        if owner is not None:
            return p, city.codes[owner]
    return point, city.codes[g]


def grid_at(city: City, g: int, p: tuple[float, float]) -> int | None:
    street = city.codes[g][:9]
    c0 = int(city.community[g]) - int(city.codes[g][9:12]) + 1
    for c in range(c0, c0 + COMMUNITIES):
        for h in city.community_grids[c]:
            lon, lat = offset(float(city.lon[h]), float(city.lat[h]), CELL_M, CELL_M)
            if city.lon[h] <= p[0] < lon and city.lat[h] <= p[1] < lat:
                assert city.codes[h].startswith(street)
                return int(h)
    return None


def query(
    text_: str, cat_id: int, at: tuple[tuple[float, float], str], truth: str | None, kind: str
) -> Query:
    (lon, lat), code = at
    return Query(text_, cat_id, code, lon, lat, NOW, truth, kind)


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    positives: int = 0
    background: int = 0  # of the wrong answers, those naming a background case

    def precision(self, labelled_only: bool = False) -> float:
        fp = self.fp - self.background if labelled_only else self.fp
        return self.tp / (self.tp + fp) if self.tp + fp else 1.0

    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0


def tally(answers: list[tuple[Query, float, str | None]], threshold: float) -> Tally:
    """Each query's best (score, case number): right when it is the repeated seed."""
    t = Tally(positives=sum(q.truth is not None for q, _, _ in answers))
    for q, best, number in answers:
        if best >= threshold:
            if q.truth is not None and number == q.truth:
                t.tp += 1
            else:
                t.fp += 1
                t.background += bool(number and number.startswith("B"))
    return t


def average_precision(answers: list[tuple[Query, float, str | None]]) -> float:
    """The area under the precision-recall curve of the queries ranked by their best score."""
    ranked = sorted(answers, key=lambda a: -a[1])
    hits, total = 0, 0.0
    for k, (q, score, number) in enumerate(ranked, 1):
        if score > 0 and q.truth is not None and number == q.truth:
            hits += 1
            total += hits / k
    positives = sum(q.truth is not None for q, _, _ in answers)
    return total / positives if positives else 0.0


Measure = Callable[[str, str], float]


def bigrams(t: str) -> list[str]:
    chars = duplicates.NOT_WORD.sub("", clean(t))
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


def ngrams(t: str, n: int) -> set[str]:
    chars = duplicates.NOT_WORD.sub("", clean(t))
    return {chars[i : i + n] for i in range(len(chars) - n + 1)}


def cosine(a: str, b: str) -> float:
    ca, cb = Counter(bigrams(a)), Counter(bigrams(b))
    dot = sum(v * cb[k] for k, v in ca.items())
    norm = math.sqrt(sum(v * v for v in ca.values()) * sum(v * v for v in cb.values()))
    return dot / norm if norm else 0.0


def overlap(a: str, b: str) -> float:
    sa, sb = set(bigrams(a)), set(bigrams(b))
    return len(sa & sb) / min(len(sa), len(sb)) if sa and sb else 0.0


def jaccard_n(n: int) -> Measure:
    def measure(a: str, b: str) -> float:
        sa, sb = ngrams(a, n), ngrams(b, n)
        return len(sa & sb) / len(sa | sb) if sa and sb else 0.0

    return measure


MEASURES: dict[str, Measure] = {
    "bigram Jaccard (chosen)": lambda a, b: duplicates.similarity(
        duplicates.grams(a), duplicates.grams(b)
    ),
    "bigram cosine": cosine,
    "bigram overlap (min)": overlap,
    "unigram Jaccard": jaccard_n(1),
    "trigram Jaccard": jaccard_n(3),
}


def rescored(session: Session, queries: list[Query]) -> dict[str, list[tuple]]:
    """Each measure's best (query, score, case id), over every open case in place and window."""
    keys = {
        r.id: (r.kind, r.code, r.parent_code) for r in session.execute(select(Category)).scalars()
    }
    out: dict[str, list[tuple]] = {name: [] for name in MEASURES}
    for q in queries:
        low, high = duplicates.place_range(q.region_code) or ("", "")
        rows = session.execute(
            select(Case).where(
                Case.status.in_(duplicates.LIVE),
                Case.region_code >= low,
                Case.region_code < high,
                Case.registered_at >= q.at - duplicates.WINDOW,
                Case.registered_at <= q.at,
            )
        ).scalars()
        facts = []
        for c in rows:
            metres = duplicates.distance_m(q.lon, q.lat, c.lon, c.lat)
            place = duplicates.place_factor(metres, c.region_code == q.region_code)
            near = duplicates.closeness(keys.get(q.category_id), keys.get(c.category_id))
            hours = (q.at - c.registered_at).total_seconds() / 3600
            facts.append((c.number, f"{c.title}。{c.description}", place, near, hours))
        for name, measure in MEASURES.items():
            best = (0.0, None)
            for number, body, place, near, hours in facts:
                s = duplicates.score(
                    place=place, text=measure(q.text, body), category=near, hours=hours
                )
                best = max(best, (s, number), key=lambda x: x[0])
            out[name].append((q, *best))
    return out


def best_f1(answers: list[tuple]) -> tuple[float, float]:
    """The best F1 over thresholds 0.20–0.95, and its threshold."""
    best = (0.0, 0.0)
    for threshold in np.round(np.arange(0.20, 0.96, 0.01), 2):
        t = tally(answers, float(threshold))
        p, r = t.precision(), t.recall()
        best = max(best, (2 * p * r / (p + r) if p + r else 0.0, float(threshold)))
    return best


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000, help="open cases stored")
    parser.add_argument("--queries", type=int, default=2_000, help="timed find calls")
    parser.add_argument("--seeds", type=int, default=500, help="labelled seed problems")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'duplicates.db'}"
        db.migrate(url)
        engine = db.make_engine(url)
        with db.transaction(engine) as session:
            catalog.install_defaults(session, FrozenClock(NOW))
            cat = load_catalogue(session)
        t0 = time.perf_counter()
        city = plan_city(args.seed)
        print(
            f"city: {len(city.codes):,} grids, {len(city.community_names):,} communities, "
            f"{DISTRICTS * STREETS:,} streets (planned in {time.perf_counter() - t0:.1f} s)"
        )
        seconds = store(engine, background(city, cat, args.cases, args.seed))
        seed_rows, labelled_queries = labelled(city, cat, args.seeds, args.seed)
        store(engine, iter(seed_rows))
        print(f"stored {args.cases:,} open cases in {seconds:.0f} s, + {args.seeds} seeds")
        engine.dispose()

        engine = db.make_engine(url)  # the application's own settings from here on
        queries = random_queries(city, cat, args.queries, args.seed + 1)
        speed(engine, queries, args.cases)
        quality(engine, labelled_queries)
        engine.dispose()


def speed(engine: Engine, queries: list[Query], n: int) -> None:
    print(f"\n(a) speed: {len(queries):,} finds on SQLite, {n:,} open cases (ms)")
    print("plan:", " | ".join(plan_of(engine, queries[0])))
    wall, cpu = latencies(engine, queries)
    rows = scored(engine, queries)
    print(f"{'':<36} {'p50':>8} {'p99':>8} {'cpu p50':>8} {'cpu p99':>8}")
    line(f"find ({rows.mean():.1f} rows read, max {rows.max()})", wall, cpu)

    sample = queries[:3]
    with db.transaction(engine) as session:
        brute = np.array([timed(lambda q=q: unbounded(session, q)) for q in sample])
    line(f"no place bound ({len(sample)} finds)", brute[:, 0], brute[:, 1], wall)

    sample = queries[:10]
    with engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {INDEX}"))
    engine.dispose()  # connections prepared against the old schema
    print("plan without the index:", " | ".join(plan_of(engine, sample[0])))
    before, before_cpu = latencies(engine, sample, warm=1)
    line(f"without the index ({len(sample)} finds)", before, before_cpu, wall)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX {INDEX} ON cases (status, region_code, registered_at)"))
    engine.dispose()
    print("target: ≤ 2 ms p99 with 1,000,000 open cases")


def line(name: str, wall: np.ndarray, cpu: np.ndarray, base: np.ndarray | None = None) -> None:
    p50, p99 = np.median(wall), np.percentile(wall, 99)
    ratio = f"   {p50 / np.median(base):,.0f}× the find's p50" if base is not None else ""
    print(
        f"{name:<36} {p50:>8.3f} {p99:>8.3f} {np.median(cpu):>8.3f} "
        f"{np.percentile(cpu, 99):>8.3f}{ratio}"
    )


def quality(engine: Engine, queries: list[Query]) -> None:
    positives = sum(q.truth is not None for q in queries)
    print(f"\n(b) quality: {positives} re-reports, {len(queries) - positives} hard negatives")
    kinds: dict[str, Counter[str]] = {}
    answers = []
    with db.transaction(engine) as session:
        for q in queries:
            found = run_find(session, q)
            verdict, best = duplicates.verdict(found)
            answers.append((q, best.score if best else 0.0, best.number if best else None))
            right = best is not None and best.number == q.truth
            label = "none" if verdict is None else verdict if right or q.truth is None else "wrong"
            c = kinds.setdefault(q.kind, Counter())
            c[label] += 1
            c["background"] += bool(verdict and not right and best and best.number[0] == "B")
        alternatives = rescored(session, queries)
    for name, threshold in (("sure", duplicates.SURE), ("likely or sure", duplicates.LIKELY)):
        t = tally(answers, threshold)
        print(
            f"{name:<15} ≥ {threshold:.2f}: precision {t.precision():.3f} ({t.tp} right, "
            f"{t.fp} wrong; {t.precision(labelled_only=True):.3f} without the {t.background} on "
            f"background cases), recall {t.recall():.3f}"
        )
    print(
        f"\n{'answer by kind':<26} {'sure':>6} {'likely':>7} {'none':>6} {'wrong case':>11} "
        f"{'flagged on a background case':>30}"
    )
    for kind, c in kinds.items():
        print(
            f"{kind:<26} {c['sure']:>6} {c['likely']:>7} {c['none']:>6} {c['wrong']:>11} "
            f"{c['background']:>30}"
        )
    print(
        "\ntext measures, same weights: average precision and best F1 (threshold-free), and "
        "P/R at the module's thresholds (set for the chosen measure)"
    )
    print(
        f"{'measure':<26} {'AP':>6} {'F1':>6} {'at':>5}   {'sure P':>6} {'R':>6}   "
        f"{'likely P':>8} {'R':>6}"
    )
    for name, rows in alternatives.items():
        (f1, f1_at), sure, likely = (
            best_f1(rows),
            tally(rows, duplicates.SURE),
            tally(rows, duplicates.LIKELY),
        )
        print(
            f"{name:<26} {average_precision(rows):>6.3f} {f1:>6.3f} {f1_at:>5.2f}   "
            f"{sure.precision():>6.3f} {sure.recall():>6.3f}   {likely.precision():>8.3f} "
            f"{likely.recall():>6.3f}"
        )


if __name__ == "__main__":
    main()
