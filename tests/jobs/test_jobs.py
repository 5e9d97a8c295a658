"""The database as the queue: enqueue, claim with a lease, run, retry with backoff, dedupe,
periodic sweeps, and several worker processes draining one queue (SQLite file in WAL mode, or
PostgreSQL when CHENGZHI_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.cli.main import app
from chengzhi.clock import Clock, SystemClock
from chengzhi.jobs import service
from chengzhi.jobs.service import Registry, claim, enqueue, run_one, run_worker
from chengzhi.models import Job, JobStatus

# What handlers did, in a table of the test's own: one row per handler run that committed.
RUNS = Table(
    "test_job_runs",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("token", Integer),  # deliberately not unique: a second run must show, not fail
    Column("pid", Integer),
)
JOBS = Registry()
SWEEPS = Registry()


@JOBS.handler("test.record")
def record(session: Session, payload: dict[str, Any], clock: Clock) -> None:
    session.execute(insert(RUNS).values(token=payload["token"], pid=os.getpid()))


@JOBS.handler("test.boom")
def boom(session: Session, payload: dict[str, Any], clock: Clock) -> None:
    session.execute(insert(RUNS).values(token=-1, pid=os.getpid()))  # must be rolled back
    raise RuntimeError("boom " + "x" * payload.get("pad", 0))


@SWEEPS.periodic("test.sweep", every=timedelta(hours=1))
def sweep(session: Session, payload: dict[str, Any], clock: Clock) -> None:
    session.execute(insert(RUNS).values(token=0, pid=os.getpid()))


@pytest.fixture
def queue(cli_env: str) -> Iterator[Engine]:
    """A committed database of its own: run_one and run_worker own their transactions."""
    db.migrate(cli_env)
    engine = db.make_engine(cli_env)
    RUNS.metadata.create_all(engine)
    yield engine
    engine.dispose()


def add(engine: Engine, clock: Clock, kind: str, payload: dict[str, Any], **kw: Any) -> int:
    with db.transaction(engine) as session:
        return enqueue(session, kind, payload, clock, **kw).id


def job(engine: Engine, job_id: int) -> Job:
    with db.transaction(engine) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def tokens(engine: Engine) -> list[int]:
    with db.transaction(engine) as session:
        return sorted(session.scalars(select(RUNS.c.token)))


# ---------------------------------------------------------------------------------------------
# Enqueue and claim (one rolled-back transaction)


def test_a_claimed_job_is_running_under_the_workers_lease(session, clock):
    queued = enqueue(session, "test.record", {"token": 1}, clock)
    assert queued.status == JobStatus.QUEUED and queued.run_at == clock.now()
    claimed = claim(session, "w1", clock, lease=timedelta(minutes=5))
    assert claimed is not None and claimed.id == queued.id
    assert claimed.status == JobStatus.RUNNING and claimed.locked_by == "w1"
    assert claimed.locked_until == clock.now() + timedelta(minutes=5)
    assert claimed.attempts == 1
    assert claim(session, "w2", clock) is None


def test_a_job_is_not_claimed_before_it_is_due(session, clock):
    enqueue(session, "test.record", {"token": 1}, clock, run_at=clock.now() + timedelta(hours=1))
    assert claim(session, "w1", clock) is None
    clock.advance(hours=1)
    assert claim(session, "w1", clock) is not None


def test_claim_takes_only_the_kinds_asked_for_oldest_first(session, clock):
    first = enqueue(session, "test.record", {"token": 1}, clock)
    enqueue(session, "test.other", {}, clock, run_at=clock.now() - timedelta(minutes=1))
    clock.advance(seconds=1)
    enqueue(session, "test.record", {"token": 2}, clock)
    claimed = claim(session, "w1", clock, kinds=["test.record"])
    assert claimed is not None and claimed.id == first.id
    assert claim(session, "w1", clock, kinds=[]) is None


def test_a_job_whose_worker_died_is_claimable_again_once_its_lease_expires(session, clock):
    queued = enqueue(session, "test.record", {"token": 1}, clock)
    assert claim(session, "killed", clock, lease=timedelta(minutes=5)) is not None
    clock.advance(minutes=4, seconds=59)
    assert claim(session, "w2", clock) is None
    clock.advance(seconds=2)
    again = claim(session, "w2", clock)
    assert again is not None and again.id == queued.id
    assert again.locked_by == "w2" and again.attempts == 2


def test_a_job_that_keeps_losing_its_worker_goes_dead_instead_of_looping(session, clock):
    queued = enqueue(session, "test.record", {"token": 1}, clock, max_attempts=2)
    for worker in ("killed-1", "killed-2"):
        assert claim(session, worker, clock) is not None
        clock.advance(minutes=6)
    assert claim(session, "w3", clock) is None
    assert service.reap(session, clock) == 1
    session.refresh(queued)
    assert queued.status == JobStatus.DEAD and queued.last_error.startswith("LeaseExpired")


def test_enqueueing_a_pending_dedupe_key_returns_the_pending_job(session, clock):
    first = enqueue(session, "test.record", {"token": 1}, clock, dedupe_key="case:7:notify")
    again = enqueue(session, "test.record", {"token": 2}, clock, dedupe_key="case:7:notify")
    assert again.id == first.id and again.payload == {"token": 1}
    claim(session, "w1", clock)
    running = enqueue(session, "test.record", {"token": 3}, clock, dedupe_key="case:7:notify")
    assert running.id == first.id
    other = enqueue(session, "test.record", {"token": 4}, clock, dedupe_key="case:8:notify")
    assert other.id != first.id
    count = select(func.count()).select_from(Job).where(Job.kind == "test.record")
    assert session.scalar(count) == 2


def test_an_enqueuer_that_lost_the_race_for_a_dedupe_key_gets_the_winners_job(
    session, clock, monkeypatch
):
    winner = enqueue(session, "test.record", {"token": 1}, clock, dedupe_key="race")
    lookups = iter([None])  # the loser's first look came before the winner's insert
    real = service.pending
    monkeypatch.setattr(service, "pending", lambda s, key: next(lookups, real(s, key)))
    loser = enqueue(session, "test.record", {"token": 2}, clock, dedupe_key="race")
    assert loser.id == winner.id
    count = select(func.count()).select_from(Job).where(Job.dedupe_key == "race")
    assert session.scalar(count) == 1


@pytest.mark.parametrize(
    "payload",
    [{"case": object()}, {"at": datetime(2026, 1, 1, tzinfo=UTC)}, {"ids": [1, {2}]}, {1: "a"}],
)
def test_jobs_take_ids_and_plain_values_not_objects(session, clock, payload):
    with pytest.raises(TypeError):
        enqueue(session, "test.record", payload, clock)


def test_periodic_scheduling_keeps_one_pending_instance(session, clock):
    first = service.schedule_periodic(session, clock, SWEEPS)
    assert [j.kind for j in first] == ["test.sweep"] and first[0].run_at == clock.now()
    assert service.schedule_periodic(session, clock, SWEEPS) == []
    claim(session, "w1", clock)  # running is still pending
    assert service.schedule_periodic(session, clock, SWEEPS) == []
    count = select(func.count()).select_from(Job).where(Job.kind == "test.sweep")
    assert session.scalar(count) == 1


def test_only_failed_or_dead_jobs_can_be_retried(session, clock):
    queued = enqueue(session, "test.record", {"token": 1}, clock)
    assert service.retry(session, queued.id, clock) is None
    queued.status, queued.attempts = JobStatus.DEAD.value, 5
    clock.advance(hours=2)
    retried = service.retry(session, queued.id, clock)
    assert retried is not None and retried.status == JobStatus.QUEUED
    assert retried.attempts == 0 and retried.run_at == clock.now()
    assert service.retry(session, 10**9, clock) is None


def test_done_jobs_are_pruned_after_thirty_days_and_dead_ones_stay(session, clock):
    old, recent, dead = (enqueue(session, "test.record", {"token": i}, clock) for i in range(3))
    old.status, old.finished_at = JobStatus.DONE.value, clock.now() - timedelta(days=31)
    recent.status, recent.finished_at = JobStatus.DONE.value, clock.now() - timedelta(days=29)
    dead.status, dead.finished_at = JobStatus.DEAD.value, clock.now() - timedelta(days=400)
    session.flush()
    assert service.prune(session, clock) == 1
    ids = [old.id, recent.id, dead.id]
    assert set(session.scalars(select(Job.id).where(Job.id.in_(ids)))) == {recent.id, dead.id}


# ---------------------------------------------------------------------------------------------
# Running jobs (committed database)


def test_a_job_runs_once_and_is_marked_done(queue, clock):
    job_id = add(queue, clock, "test.record", {"token": 7}, dedupe_key="k")
    assert run_one(queue, "w1", clock, registry=JOBS) is True
    assert run_one(queue, "w1", clock, registry=JOBS) is False
    done = job(queue, job_id)
    assert done.status == JobStatus.DONE and done.attempts == 1
    assert done.finished_at == clock.now() and done.locked_by is None
    assert done.dedupe_key is None  # the key is free again
    assert tokens(queue) == [7]
    assert add(queue, clock, "test.record", {"token": 8}, dedupe_key="k") != job_id


def test_a_failing_job_is_retried_with_growing_backoff_then_goes_dead(queue, clock):
    job_id = add(queue, clock, "test.boom", {}, max_attempts=3, dedupe_key="boom")
    for attempt, wait in [(1, 30), (2, 60)]:
        assert run_one(queue, "w1", clock, registry=JOBS) is True
        failed = job(queue, job_id)
        assert failed.status == JobStatus.FAILED and failed.attempts == attempt
        assert failed.run_at == clock.now() + timedelta(seconds=wait)
        assert failed.last_error == "RuntimeError: boom " and failed.locked_by is None
        assert add(queue, clock, "test.boom", {}, dedupe_key="boom") == job_id  # still pending
        clock.advance(seconds=wait - 1)
        assert run_one(queue, "w1", clock, registry=JOBS) is False  # not due yet
        clock.advance(seconds=1)
    assert run_one(queue, "w1", clock, registry=JOBS) is True
    dead = job(queue, job_id)
    assert dead.status == JobStatus.DEAD and dead.attempts == 3
    assert dead.finished_at == clock.now() and dead.dedupe_key is None
    clock.advance(days=1)
    assert run_one(queue, "w1", clock, registry=JOBS) is False
    assert tokens(queue) == []  # each failed run's writes were rolled back


def test_a_stored_error_is_the_exception_type_and_message_truncated(queue, clock):
    job_id = add(queue, clock, "test.boom", {"pad": 5000})
    run_one(queue, "w1", clock, registry=JOBS)
    error = job(queue, job_id).last_error
    assert error is not None and len(error) == service.ERROR_CHARS
    assert error.startswith("RuntimeError: boom x") and "Traceback" not in error


def test_a_handler_exception_does_not_stop_the_worker(queue, clock):
    failing = add(queue, clock, "test.boom", {})
    fine = add(queue, clock, "test.record", {"token": 1})
    assert run_worker(queue, "w1", clock, threading.Event(), once=True, registry=JOBS) == 2
    assert job(queue, failing).status == JobStatus.FAILED
    assert job(queue, fine).status == JobStatus.DONE and tokens(queue) == [1]


def test_a_killed_workers_job_is_run_by_another_worker_after_the_lease(queue, clock):
    job_id = add(queue, clock, "test.record", {"token": 3})
    with db.transaction(queue) as session:
        assert claim(session, "killed", clock) is not None  # …and never heard of again
    assert run_one(queue, "w2", clock, registry=JOBS) is False
    clock.advance(minutes=6)
    assert run_one(queue, "w2", clock, registry=JOBS) is True
    done = job(queue, job_id)
    assert done.status == JobStatus.DONE and done.attempts == 2 and tokens(queue) == [3]


def test_the_worker_schedules_the_next_sweep_an_interval_after_the_last(queue, clock):
    start, stop, hour = clock.now(), threading.Event(), timedelta(hours=1)

    def sweeps() -> list[tuple[str, datetime]]:
        with db.transaction(queue) as session:
            return list(session.execute(select(Job.status, Job.run_at).order_by(Job.id)).all())

    assert run_worker(queue, "w1", clock, stop, once=True, registry=SWEEPS) == 1
    assert run_worker(queue, "w1", clock, stop, once=True, registry=SWEEPS) == 0
    assert sweeps() == [("done", start), ("queued", start + hour)]
    clock.advance(minutes=59)
    assert run_worker(queue, "w1", clock, stop, once=True, registry=SWEEPS) == 0
    clock.advance(minutes=1)
    assert run_worker(queue, "w1", clock, stop, once=True, registry=SWEEPS) == 1
    assert sweeps() == [("done", start), ("done", start + hour)]
    clock.advance(hours=5)  # no worker for a while: the next one is due now, not five times
    assert run_worker(queue, "w1", clock, stop, once=True, registry=SWEEPS) == 1
    assert sweeps()[-1] == ("done", start + 6 * hour)
    assert tokens(queue) == [0, 0, 0]


def test_a_stopped_worker_returns_without_running_anything(queue, clock):
    add(queue, clock, "test.record", {"token": 1})
    stop = threading.Event()
    stop.set()
    assert run_worker(queue, "w1", clock, stop, registry=JOBS) == 0


# ---------------------------------------------------------------------------------------------
# Several worker processes, one queue


def drain(url: str, worker_id: str, ready: Any) -> None:
    """A worker process: wait until every worker is up, then run jobs until none is due."""
    engine = db.make_engine(url)
    ready.wait()
    run_worker(engine, worker_id, SystemClock(), threading.Event(), once=True, registry=JOBS)
    engine.dispose()


@pytest.mark.slow
def test_worker_processes_drain_a_queue_running_every_job_exactly_once(queue, cli_env):
    jobs, workers = 200, 4
    clock = SystemClock()
    with db.transaction(queue) as session:
        for token in range(jobs):
            enqueue(session, "test.record", {"token": token}, clock)
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Barrier(workers)
    procs = [spawn.Process(target=drain, args=(cli_env, f"w{i}", ready)) for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0] * workers
    assert tokens(queue) == list(range(jobs))  # each once: a second run would add a row
    with db.transaction(queue) as session:
        statuses = session.execute(select(Job.status, Job.attempts).distinct()).all()
        pids = session.scalar(select(func.count(RUNS.c.pid.distinct())))
    assert statuses == [("done", 1)]  # no job was claimed twice
    assert pids is not None and pids > 1  # the workers really did share the queue


# ---------------------------------------------------------------------------------------------
# The command line

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_worker_once_runs_the_built_in_sweep_and_jobs_list_and_retry_show_it(cli_env):
    assert cli("init").exit_code == 0
    result = cli("worker", "--once", "--id", "cli-test")
    assert result.exit_code == 0, result.output
    assert "jobs.prune" in result.output  # domains' jobs.py may add more sweeps
    listed = cli("jobs", "list", "--status", "done", "--json")
    assert listed.exit_code == 0, listed.output
    done = {j["kind"]: j for j in json.loads(listed.output)}
    assert done["jobs.prune"]["attempts"] == 1 and done["jobs.prune"]["locked_by"] is None
    assert f"ran {len(done)}" in result.output
    assert json.loads(cli("jobs", "list", "--status", "queued", "--json").output) == []
    assert "jobs.prune" in cli("jobs", "list").output
    with db.transaction() as session:
        dead = enqueue(session, "jobs.prune", {}, SystemClock())
        dead.status = JobStatus.DEAD.value
    refused = cli("jobs", "retry", "99999")
    assert refused.exit_code == 1 and "99999" in refused.output
    retried = cli("jobs", "retry", str(dead.id))
    assert retried.exit_code == 0 and "queued again" in retried.output
