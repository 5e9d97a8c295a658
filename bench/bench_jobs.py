"""How fast worker processes drain the job queue, on SQLite and PostgreSQL, against the same
handler called directly in a loop in the same run.

Each job's handler inserts one row. Figures: jobs/s drained by 1 and by 2 worker processes
(spawned; they start together behind a barrier, so process start-up is not timed); baselines: the
handler called N times in one loop with one transaction per call (the least a queue can do, since
each job commits on its own), and with all calls in one transaction. Every run checks each job
ran exactly once. PostgreSQL is skipped when not reachable.

Usage (from the repository root):
.venv/bin/python bench/bench_jobs.py                       # 2,000 jobs, 1 and 2 workers
.venv/bin/python bench/bench_jobs.py --jobs 5000 --workers 1,2,4 --pg postgresql+psycopg://…
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.clock import Clock, FrozenClock, SystemClock
from chengzhi.jobs.service import Registry, enqueue, run_worker
from chengzhi.models import Job

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RUNS = Table(
    "bench_job_runs",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("token", Integer),
    Column("pid", Integer),
)
JOBS = Registry()


@JOBS.handler("bench.insert")
def insert_row(session: Session, payload: dict[str, Any], clock: Clock) -> None:
    session.execute(insert(RUNS).values(token=payload["token"], pid=os.getpid()))


# ---------------------------------------------------------------------------------------------
# Databases


@contextmanager
def sqlite_database(tmp: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp / f'jobs-{uuid.uuid4().hex[:6]}.db'}"


@contextmanager
def pg_database(server: str) -> Iterator[str]:
    name = f"chengzhi_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reachable(server: str) -> bool:
    try:
        create_engine(make_url(server)).connect().close()
    except Exception:
        return False
    return True


def prepared(url: str) -> Engine:
    db.migrate(url)
    engine = db.make_engine(url)
    RUNS.metadata.create_all(engine)
    return engine


def reset(engine: Engine) -> None:
    with db.transaction(engine) as session:
        session.execute(RUNS.delete())
        session.execute(Job.__table__.delete())


def check_once(engine: Engine, n: int) -> int:
    """Each token exactly once; the number of processes that ran jobs."""
    with db.transaction(engine) as session:
        rows, tokens, pids = session.execute(
            select(
                func.count(), func.count(RUNS.c.token.distinct()), func.count(RUNS.c.pid.distinct())
            )
        ).one()
    assert rows == tokens == n, f"{rows} runs of {tokens} tokens for {n} jobs"
    return int(pids)


# ---------------------------------------------------------------------------------------------
# Baselines: the handler called directly


def direct(engine: Engine, n: int, per_call: bool) -> float:
    clock = FrozenClock(datetime(2026, 11, 1, tzinfo=UTC))
    reset(engine)
    t0 = time.perf_counter()
    if per_call:
        for token in range(n):
            with db.transaction(engine) as session:
                insert_row(session, {"token": token}, clock)
    else:
        with db.transaction(engine) as session:
            for token in range(n):
                insert_row(session, {"token": token}, clock)
    elapsed = time.perf_counter() - t0
    check_once(engine, n)
    return n / elapsed


# ---------------------------------------------------------------------------------------------
# Worker processes


def worker(url: str, worker_id: str, ready: Any, finished: Any) -> None:
    engine = db.make_engine(url)
    engine.connect().close()  # connect before the start line
    ready.wait()
    run_worker(engine, worker_id, SystemClock(), threading.Event(), once=True, registry=JOBS)
    finished.put(time.monotonic())
    engine.dispose()


def drained(engine: Engine, url: str, n: int, workers: int) -> tuple[float, int]:
    reset(engine)
    clock = SystemClock()
    with db.transaction(engine) as session:
        for token in range(n):
            enqueue(session, "bench.insert", {"token": token}, clock)
    spawn = multiprocessing.get_context("spawn")
    ready, finished = spawn.Barrier(workers + 1), spawn.Queue()
    procs = [
        spawn.Process(target=worker, args=(url, f"bench-{i}", ready, finished))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    ready.wait()
    t0 = time.monotonic()
    ends = [finished.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return n / (max(ends) - t0), check_once(engine, n)


# ---------------------------------------------------------------------------------------------


def bench(name: str, url: str, n: int, worker_counts: list[int]) -> None:
    engine = prepared(url)
    base = direct(engine, n, per_call=True)
    one_txn = direct(engine, n, per_call=False)
    print(f"{name}: {n:,} jobs, each inserting one row")
    print(f"  direct, one transaction per call   {base:9,.0f} calls/s   (baseline)")
    print(f"  direct, all in one transaction     {one_txn:9,.0f} calls/s   ×{one_txn / base:.2f}")
    for workers in worker_counts:
        rate, used = drained(engine, url, n, workers)
        print(
            f"  queue, {workers} worker process{'es' if workers > 1 else '  '}"
            f"         {rate:9,.0f} jobs/s    ×{rate / base:.2f} of baseline"
            f"   (run by {used} process{'es' if used > 1 else ''}, each job exactly once)"
        )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2_000)
    parser.add_argument("--workers", default="1,2", help="worker process counts, comma-separated")
    parser.add_argument("--pg", default=os.environ.get("CHENGZHI_BENCH_PG", PG_SERVER))
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    runs: list[tuple[str, Callable[[], Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs.append(("SQLite (file, WAL)", lambda: sqlite_database(Path(tmp))))
        if reachable(args.pg):
            runs.append(("PostgreSQL", lambda: pg_database(args.pg)))
        else:
            print(f"PostgreSQL not reachable at {args.pg}: skipped")
        for name, database in runs:
            with database() as url:
                bench(name, url, args.jobs, counts)


if __name__ == "__main__":
    main()
