"""Bulk import of historical orders (`chengzhi appeals import`) in one process on SQLite: N orders
with realistic Chinese texts (the simulator's templates), a year of times, points in random grids
of the small demo city (a tenth by address only), and a few malformed rows, imported through
intake's full triage (classify with a trained model, locate, deduplicate, store, timeline), 500
rows per transaction. Then the same file again (every row already there: the cost of resuming).

Baseline, same run: the same rows read from the same file and inserted as bare `cases` rows with
Core `insert` (500 per transaction) — no triage, no timeline, no idempotency key. Target (issue):
≥ 2,000 appeals/s.

    python bench/bench_import.py [--rows 20000] [--batch 500] [--dispatch] [--with-category]
                                 [--encoding gb18030]

`--with-category` maps the export's own category column (诉求分类, `kind:code`), as many 12345
exports carry one: intake then files under it and does not classify.
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import func, insert, select

from chengzhi import db
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, names, plan
from chengzhi.demo.simulate import ROADS, TEMPLATES
from chengzhi.intake.importer import import_appeals
from chengzhi.models import Case
from chengzhi.triage import store, training

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
REQUEST_TYPES = (("投诉", 0.44), ("求助", 0.28), ("咨询", 0.20), ("举报", 0.03), ("建议", 0.05))
HEADER = ("工单编号", "受理时间", "标题", "诉求内容", "诉求类型", "紧急程度", "经度", "纬度",
          "地址", "来电人", "联系电话", "诉求分类")  # fmt: skip
MAPPING = (
    "工单编号=source_ref",
    "受理时间=time",
    "标题=title",
    "诉求内容=text",
    "诉求类型=request_type",
    "紧急程度=urgency",
    "经度=lon",
    "纬度=lat",
    "地址=address",
    "来电人=reporter_name",
    "联系电话=reporter_phone",
)


def setup(url: str) -> plan.CityPlan:
    """The small demo city, the default catalogue and an active classifier trained on texts
    like the ones imported."""
    db.migrate(url)
    engine = db.make_engine(url)
    city = plan.plan_city("small", 1)
    with db.transaction(engine) as session:
        build.store_city(session, city, FrozenClock(NOW))
        catalog.install_defaults(session, FrozenClock(NOW))
    texts, labels = [], []
    rng = random.Random(7)
    for (kind, code), (titles, bodies) in TEMPLATES.items():
        for _ in range(40):
            body = rng.choice(bodies).format(place="幸福社区", road=rng.choice(ROADS), n=8)
            texts.append(f"{rng.choice(titles)}。{body}")
            labels.append(f"{kind}:{code}")
    dataset = training.Dataset("bench", texts, labels, len(texts), {})
    model, metrics = training.train_dataset(dataset)
    with db.transaction(engine) as session:
        saved = store.save(session, FrozenClock(NOW), model, "bench", metrics)
        store.activate(session, saved.version)
    engine.dispose()
    return city


def write_orders(city: plan.CityPlan, path: Path, rows: int, encoding: str) -> None:
    """`rows` orders over the year before NOW, oldest first; about 1 in 200 is malformed."""
    rng = random.Random(1)
    grids = [r for r in city.regions if r.level == "grid"]
    weights = [g.population for g in grids]
    community = {r.code: r.name for r in city.regions if r.level == "community"}
    start = NOW - timedelta(days=365)
    step = timedelta(days=365) / rows
    with path.open("w", encoding=encoding, newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(rows):
            (kind, code), (titles, bodies) = rng.choice(list(TEMPLATES.items()))
            grid = rng.choices(grids, weights)[0]
            place, road, n = community.get(grid.parent_code or "", grid.name), rng.choice(ROADS), i
            text = rng.choice(bodies).format(place=place, road=road, n=n % 300 + 1)
            lon, lat = point_in(rng, grid.polygon)
            at = (start + step * i).astimezone(TZ)
            by_address = rng.random() < 0.1
            bad = rng.random()
            if bad < 0.002:
                text = ""  # no content
            elif bad < 0.005:
                lon, lat = 0.0, 0.0  # outside the city
            rtype = rng.choices([t for t, _ in REQUEST_TYPES], [w for _, w in REQUEST_TYPES])[0]
            out.writerow(
                (
                    f"HX{at:%Y%m%d}{i:07d}",
                    f"{at:%Y-%m-%d %H:%M:%S}",
                    rng.choice(titles),
                    text,
                    rtype,
                    "紧急" if rng.random() < 0.04 else "一般",
                    "" if by_address else f"{lon:.6f}",
                    "" if by_address else f"{lat:.6f}",
                    f"{place}{road}{n % 300 + 1}号",
                    names.person_name(rng),
                    names.phone(rng),
                    f"{kind}:{code}",
                )
            )


def point_in(rng: random.Random, polygon) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    x0, y0, x1, y1 = polygon.bounds
    for _ in range(30):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(polygon, x, y):
            return x, y
    p = polygon.representative_point()
    return p.x, p.y


def bare_insert(url: str, path: Path, encoding: str, batch: int) -> tuple[int, float]:
    """The same file read and inserted as bare case rows with Core `insert`."""
    engine = db.make_engine(url)
    t0 = time.perf_counter()
    done = 0
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        while chunk := [row for _, row in zip(range(batch), reader, strict=False)]:
            rows = [_bare(done + i, row) for i, row in enumerate(chunk)]
            with db.transaction(engine) as session:
                session.execute(insert(Case), rows)
            done += len(rows)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return done, seconds


def _bare(i: int, row: list[str]) -> dict[str, object]:
    at = datetime.fromisoformat(row[1]).replace(tzinfo=TZ)
    return {
        "number": f"B{i:09d}",
        "status": "registered",
        "version": 1,
        "channel": "import",
        "request_type": "complaint",
        "urgency": "normal",
        "title": row[2],
        "description": row[3] or "-",
        "lon": float(row[6]) if row[6] else None,
        "lat": float(row[7]) if row[7] else None,
        "address": row[8],
        "reporter_name": row[9],
        "reporter_phone": row[10],
        "source_ref": row[0],
        "registered_at": at,
        "pauses": [],
        "escalations": 0,
        "event_count": 0,
        "last_hash": "0" * 64,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dispatch", action="store_true", help="file and dispatch when sure")
    parser.add_argument("--with-category", action="store_true", help="map the category column")
    parser.add_argument("--encoding", default="utf-8", choices=("utf-8", "gb18030"))
    args = parser.parse_args()
    mapping = (*MAPPING, "诉求分类=category") if args.with_category else MAPPING
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'import.db'}"
        t0 = time.perf_counter()
        city = setup(url)
        orders = Path(tmp) / "orders.csv"
        write_orders(city, orders, args.rows, args.encoding)
        print(
            f"set up city, classifier and {args.rows:,} orders in {time.perf_counter() - t0:.1f} s"
        )
        engine = db.make_engine(url)
        clock = FrozenClock(NOW)
        first = import_appeals(
            engine, orders, mapping, batch=args.batch, dispatch=args.dispatch, clock=clock
        )
        again = import_appeals(
            engine, orders, mapping, batch=args.batch, dispatch=args.dispatch, clock=clock
        )
        with db.transaction(engine) as session:
            cases = session.scalar(select(func.count()).select_from(Case))
        engine.dispose()
        base_rows, base_seconds = bare_insert(url, orders, args.encoding, args.batch)
    base_rate = base_rows / base_seconds
    print(f"{args.rows:,} orders ({args.encoding}), SQLite, {args.batch} rows per transaction, "
          f"{'dispatch' if args.dispatch else 'no dispatch'}, "
          f"{'category mapped' if args.with_category else 'classified'}")  # fmt: skip
    print(f"import    {first.seconds:>8.2f} s {first.rate:>9,.0f} rows/s   imported "
          f"{first.imported:,} · rejected {len(first.rejected):,} · merged {first.merged:,} · "
          f"dispatched {first.dispatched:,} · held {dict(first.holds)}")  # fmt: skip
    print(f"re-run    {again.seconds:>8.2f} s {again.rate:>9,.0f} rows/s   skipped "
          f"{again.skipped:,} · imported {again.imported:,}")  # fmt: skip
    print(f"baseline  {base_seconds:>8.2f} s {base_rate:>9,.0f} rows/s   (bare Core insert)")
    print(f"ratio     {first.rate / base_rate:>8.3f}  import / bare insert")
    print(f"cases stored by the import: {cases:,} (rows {first.rows:,})")
    print("target: ≥ 2,000 appeals/s")


if __name__ == "__main__":
    main()
