"""The clock sweep over many open cases: it reads only the rows whose next instant has passed,
so its cost follows the cases crossing a threshold, not all open cases.

For each size, N open cases are stored with their next instant spread over 30 days, then one
sweep runs at an instant that K of them have crossed (each gets a reminder event through the
service verb). Baseline, same run: the naive sweep that reads every open case's clock and filters
in Python. Target (issue 3): ≤ 2 s over 1,000,000 open cases.

    python bench/bench_sweep.py [--sizes 100000,1000000] [--crossing 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from chengzhi import db
from chengzhi.cases import jobs, timeline
from chengzhi.cases.workflow import CLOCK_RUNNING
from chengzhi.clock import FrozenClock
from chengzhi.models import Case

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SPAN = timedelta(days=30)


def fill(engine, n: int, seed: int = 0) -> np.ndarray:
    """N in-progress cases; returns their next-check offsets in seconds, sorted."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(60, SPAN.total_seconds(), n))
    order = rng.permutation(n)  # stored in random order, as real cases are
    with db.transaction(engine) as session:
        for start in range(0, n, 20_000):
            rows = [_row(i, float(offsets[i])) for i in order[start : start + 20_000]]
            session.execute(insert(Case), rows)
    return offsets


def _row(i: int, offset: float) -> dict:
    check = START + timedelta(seconds=offset)
    return {
        "number": f"B{i:010d}",
        "status": "in_progress",
        "version": 1,
        "channel": "hotline",
        "request_type": "complaint",
        "urgency": "normal",
        "title": "bench",
        "description": "bench",
        "registered_at": START,
        "last_hash": timeline.GENESIS,
        "pauses": [],
        "escalations": 0,
        "stage": "handle",
        "stage_started_at": START,
        "yellow_at": check,
        "due_at": check + timedelta(days=2),
        "next_check_at": check,
    }


def naive(engine, now: datetime) -> tuple[int, float]:
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        rows = session.execute(
            select(Case.id, Case.yellow_at, Case.due_at).where(
                Case.status.in_([s.value for s in CLOCK_RUNNING])
            )
        )
        crossed = sum(1 for _, yellow, due in rows if yellow <= now or due <= now)
    return crossed, time.perf_counter() - t0


def swept(engine, now: datetime) -> tuple[int, float]:
    t0 = time.perf_counter()
    with db.transaction(engine) as session:
        done = jobs.sweep(session, FrozenClock(now))
    return done, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--crossing", type=int, default=200)
    args = parser.parse_args()
    print(f"{'open cases':>11} {'crossing':>9} {'sweep s':>8} {'naive s':>8} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            url = f"sqlite:///{Path(tmp) / f'sweep-{size}.db'}"
            db.migrate(url)
            engine = db.make_engine(url)
            offsets = fill(engine, size)
            now = START + timedelta(seconds=float(offsets[args.crossing - 1]) + 0.5)
            crossed, t_naive = naive(engine, now)
            done, t_sweep = swept(engine, now)
            assert done == crossed == args.crossing, (done, crossed)
            print(
                f"{size:>11,} {done:>9,} {t_sweep:>8.3f} {t_naive:>8.3f} {t_naive / t_sweep:>6.1f}×"
            )
            engine.dispose()
    print("target: ≤ 2 s over 1,000,000 open cases; sweep cost follows the crossing cases")


if __name__ == "__main__":
    main()
