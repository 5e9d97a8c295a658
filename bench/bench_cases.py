"""One case action in-process on SQLite: load, authorise, check the transition, mutate, start the
stage clock, append the hash-chained event, commit — each action in its own transaction, as a
request runs. Baseline, same run: the bare status change (load + UPDATE + commit) without the
rules, clock or timeline. Target (issue 3): ≤ 5 ms median per action.

    python bench/bench_cases.py [--cases 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from chengzhi import db
from chengzhi.cases import service, tasks
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.models import Case, Channel, OrgUnit, Person, RequestType
from chengzhi.orgs.queries import actor_for

CLOCK = FrozenClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))


def setup(tmp: Path):
    url = f"sqlite:///{tmp / 'cases.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    city = plan.plan_city("small", 1)
    with db.transaction(engine) as session:
        build.store_city(session, city, CLOCK)
        catalog.install_defaults(session, CLOCK)
    with db.transaction(engine) as session:
        people = session.execute(
            select(Person.username, Person.id).where(Person.username.is_not(None))
        )
        actors = {name: actor_for(session, pid) for name, pid in people.all()}
    grid = next(r for r in city.regions if r.code == actors["grid_worker"].grids[0])
    with db.transaction(engine) as session:  # a department of the grid's district, and its staff
        department = session.scalar(
            select(OrgUnit.code)
            .where(OrgUnit.kind == "department", OrgUnit.code.like(f"D{grid.code[:6]}-%"))
            .order_by(OrgUnit.code)
            .limit(1)
        )
        staff = session.scalar(
            select(Person.id)
            .join(OrgUnit, OrgUnit.id == Person.org_unit_id)
            .where(OrgUnit.code == department)
            .limit(1)
        )
        actors["department"] = actor_for(session, staff)
    return engine, actors, department, grid.polygon.representative_point()


def timed(engine, fn) -> float:
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        fn(session)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine, actors, department, point = setup(Path(tmp))
        op, d, street = actors["operator"], actors["dispatcher"], actors["street_staff"]
        new = service.NewCase(
            "私搭乱建",
            "小区门口有人私自搭建板房",
            RequestType.COMPLAINT,
            Channel.HOTLINE,
            category=("matter", "06001"),
            lon=point.x,
            lat=point.y,
        )
        steps = {
            "register": lambda s, n: service.register_case(s, CLOCK, op, new),
            "file": lambda s, n: service.file_case(s, CLOCK, d, n),
            "dispatch": lambda s, n: service.dispatch_case(s, CLOCK, d, n),
            "sign": lambda s, n: service.sign_case(s, CLOCK, street, n),
            "whistle": lambda s, n: tasks.whistle(s, CLOCK, street, n, [department], "占道"),
            "report in": lambda s, n: tasks.report_in(s, CLOCK, actors["department"], n),
            "handle": lambda s, n: service.handle_case(s, CLOCK, street, n, "已拆除"),
            "verify": lambda s, n: service.verify_case(s, CLOCK, d, n, True),
        }
        times: dict[str, list[float]] = {k: [] for k in steps}
        numbers: list[str] = []
        for _ in range(args.cases):
            holder: list[str] = []
            register = steps["register"]
            times["register"].append(
                timed(engine, lambda s, h=holder, f=register: h.append(f(s, "").number))
            )
            numbers.append(holder[0])
        for name in list(steps)[1:]:
            for number in numbers:
                times[name].append(timed(engine, lambda s, n=number, f=steps[name]: f(s, n)))
        baseline = [timed(engine, lambda s, n=n: bare_update(s, n)) for n in numbers]
    base = statistics.median(baseline) * 1000
    print(f"{args.cases} cases, SQLite, one transaction per action (ms)")
    print(f"{'action':<11} {'median':>8} {'p90':>8} {'ratio to bare':>14}")
    for name, values in times.items():
        med = statistics.median(values) * 1000
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        print(f"{name:<11} {med:>8.2f} {p90:>8.2f} {med / base:>13.1f}×")
    print(f"{'bare':<11} {base:>8.2f}   (load + UPDATE status + commit, no rules/clock/timeline)")
    print("target: ≤ 5 ms median per action")


def bare_update(session, number: str) -> None:
    case = session.scalar(select(Case).where(Case.number == number))
    case.status = "archived"


if __name__ == "__main__":
    main()
