"""Generate and store the demo city at each scale on SQLite, build the locator from the stored
polygons, and import the real Tianjin division file.

Figures: plan time, store time and rows/s, index load time, batch-locate points/s per scale; the
baseline is the same grid rows stored one statement per row (the naive ORM way) in the same run.
Target (issue 2): megacity (120,000 grids) generated and stored in ≤ 60 s on SQLite.

    python bench/bench_structure.py [--scales small,city,megacity] [--baseline-rows 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from chengzhi import db
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.models import Region
from chengzhi.regions import locator, service

CLOCK = FrozenClock(datetime(2026, 11, 1, tzinfo=UTC))
TIANJIN = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "admin_divisions_tianjin_2021.csv"
)


def fresh_engine(tmp: Path, name: str):
    url = f"sqlite:///{tmp / name}"
    db.migrate(url)
    return db.make_engine(url)


def bench_scale(scale: str, tmp: Path, baseline_rows: int) -> dict:
    t0 = time.perf_counter()
    city = plan.plan_city(scale, 1)
    t_plan = time.perf_counter() - t0
    engine = fresh_engine(tmp, f"{scale}.db")
    regions_done: list[float] = []

    def on_progress(done: int, total: int) -> None:
        if done >= len(city.regions) and not regions_done:
            regions_done.append(time.perf_counter())

    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        build.store_city(session, city, CLOCK, on_progress=on_progress)
    t_store = time.perf_counter() - t0
    t_regions = regions_done[0] - t0
    grids = [r for r in city.regions if r.level == "grid"]
    rows = len(city.regions)
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        loc = locator.locator(session)
    t_index = time.perf_counter() - t0
    lon, lat = sample_points(grids, 1_000_000)
    t0 = time.perf_counter()
    loc.locate(lon, lat, 2000.0)
    t_locate = time.perf_counter() - t0
    naive = naive_rows_per_s(tmp, city, baseline_rows)
    engine.dispose()
    return {
        "scale": scale,
        "grids": len(grids),
        "regions": rows,
        "plan_s": t_plan,
        "store_s": t_store,
        "rows_per_s": rows / t_regions,
        "naive_rows_per_s": naive,
        "index_s": t_index,
        "locate_pts_per_s": len(lon) / t_locate,
    }


def sample_points(grids, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    boxes = np.array([g.polygon.bounds for g in grids])
    pick = boxes[rng.integers(0, len(boxes), n)]
    return rng.uniform(pick[:, 0], pick[:, 2]), rng.uniform(pick[:, 1], pick[:, 3])


def naive_rows_per_s(tmp: Path, city, limit: int) -> float:
    """Baseline: one INSERT statement per region row, parents first, as a naive importer does."""
    engine = fresh_engine(tmp, f"naive-{city.scale}.db")
    regions = city.regions[:limit]
    ids: dict[str, int] = {}
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        for r in regions:
            row = {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "kind": r.level,
                "parent_id": ids.get(r.parent_code or ""),
                "geometry": r.polygon.wkb,
            }
            ids[r.code] = session.execute(insert(Region).returning(Region.id), row).scalar_one()
    engine.dispose()
    return len(regions) / (time.perf_counter() - t0)


def bench_tianjin(tmp: Path) -> None:
    if not TIANJIN.exists():
        print("tianjin: ../shared/data not available, skipped")
        return
    engine = fresh_engine(tmp, "tianjin.db")
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        report = service.import_divisions(session, TIANJIN)
    dt = time.perf_counter() - t0
    print(
        f"tianjin import: {sum(report.created.values()):,} regions in {dt:.2f} s "
        f"({sum(report.created.values()) / dt:,.0f} rows/s)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="small,city,megacity")
    parser.add_argument("--baseline-rows", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_tianjin(Path(tmp))
        print(
            f"{'scale':<9} {'grids':>8} {'regions':>8} {'plan s':>7} {'store s':>8} {'total s':>8} "
            f"{'rows/s':>8} {'naive/s':>8} {'ratio':>6} {'index s':>8} {'locate pts/s':>13}"
        )
        for scale in args.scales.split(","):
            r = bench_scale(scale, Path(tmp), args.baseline_rows)
            print(
                f"{r['scale']:<9} {r['grids']:>8,} {r['regions']:>8,} {r['plan_s']:>7.1f} "
                f"{r['store_s']:>8.1f} {r['plan_s'] + r['store_s']:>8.1f} {r['rows_per_s']:>8,.0f} "
                f"{r['naive_rows_per_s']:>8,.0f} {r['rows_per_s'] / r['naive_rows_per_s']:>5.1f}× "
                f"{r['index_s']:>8.1f} {r['locate_pts_per_s']:>13,.0f}"
            )
        print(
            "target: megacity plan + store ≤ 60 s on SQLite; "
            "ratio = bulk rows/s ÷ per-row INSERT rows/s"
        )


if __name__ == "__main__":
    main()
