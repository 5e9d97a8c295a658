"""The activity simulator on SQLite: N days of the `city` scale (~2,000 appeals a day), every
step through the case verbs, one commit per simulated hour. Baseline, same run: as many
`register_case` calls alone (one commit per 100), so the ratio shows what a whole loop costs
relative to registering. Target (issue): 30 days ≤ 120 s.

    python bench/bench_simulate.py [--days 30] [--scale city] [--seed 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from chengzhi import db
from chengzhi.cases import service
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.demo.simulate import simulate
from chengzhi.models import Channel, Person, RequestType
from chengzhi.orgs.queries import actor_for

START = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # Monday 00:00 in Asia/Shanghai


def build_city(url: str, scale: str) -> None:
    db.migrate(url)
    engine = db.make_engine(url)
    clock = FrozenClock(START)
    with db.transaction(engine) as session:
        city = plan.plan_city(scale, 1)
        build.store_city(session, city, clock)
        catalog.install_defaults(session, clock)
    engine.dispose()


def registrations(url: str, n: int) -> float:
    """`n` register_case calls alone, one commit per 100."""
    engine = db.make_engine(url)
    clock = FrozenClock(START)
    with db.transaction(engine) as session:
        pid = session.scalar(select(Person.id).where(Person.username == "operator"))
        operator = actor_for(session, pid)
        grid = session.scalar(select(Person.id).where(Person.username == "grid_worker"))
        code = actor_for(session, grid).grids[0]
    from chengzhi.models import Region

    with db.transaction(engine) as session:
        region = session.scalar(select(Region).where(Region.code == code))
        lon, lat = region.label_lon, region.label_lat
    new = service.NewCase(
        "垃圾堆积", "小区门口垃圾无人清运", RequestType.COMPLAINT, Channel.HOTLINE,
        category=("matter", "06010"), lon=lon, lat=lat,
    )  # fmt: skip
    t0 = time.perf_counter()
    done = 0
    while done < n:
        with db.transaction(engine) as session:
            for _ in range(min(100, n - done)):
                service.register_case(session, clock, operator, new)
                done += 1
    seconds = time.perf_counter() - t0
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", default="city")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'simulate.db'}"
        t0 = time.perf_counter()
        build_city(url, args.scale)
        print(f"built {args.scale} in {time.perf_counter() - t0:.1f} s")
        engine = db.make_engine(url)
        report = simulate(engine, args.days, args.seed, start=START)
        engine.dispose()
        base_url = f"sqlite:///{Path(tmp) / 'baseline.db'}"
        build_city(base_url, args.scale)
        base = registrations(base_url, report.appeals)
    actions = report.total_actions
    print(f"{args.days} days of {args.scale}, SQLite, seed {args.seed}")
    print(f"appeals   {report.appeals:>10,}")
    print(f"actions   {actions:>10,}")
    print(f"seconds   {report.seconds:>10.1f}")
    print(f"actions/s {actions / report.seconds:>10,.0f}")
    print(f"baseline  {base:>10.1f} s for {report.appeals:,} register_case calls alone")
    print(f"ratio     {report.seconds / base:>10.1f}× (whole loop / registration alone)")
    print(f"statuses  {report.statuses}")
    print("target: 30 days of city ≤ 120 s")


if __name__ == "__main__":
    main()
