"""The queue: a registry of handlers, enqueue, claim with a lease, run with retries and backoff.

Handlers are `fn(session, payload, clock)` and MUST be idempotent: a job runs at least once. The
handler's work and the job's `done` mark commit in one transaction, so what a handler writes
through its session lands exactly once; anything outside the database (a message sent, a file
written) can happen twice if a worker dies after doing it and before that commit. Nothing here
commits except `run_one` and `run_worker`, which are the boundary for job execution.

Keep handlers short; a big sweep enqueues one job per batch of ids. A running handler holds its
job's row lock on PostgreSQL, but on SQLite the database's one write lock, which every other
writer (the web app too) waits for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from chengzhi.clock import Clock
from chengzhi.db import transaction
from chengzhi.models import Job, JobStatus, UTCDateTime

log = logging.getLogger(__name__)

Payload = dict[str, Any]
Handler = Callable[[Session, Payload, Clock], None]

LEASE = timedelta(minutes=5)
BACKOFF = timedelta(seconds=30)  # before the first retry; doubles with every further attempt
MAX_BACKOFF = timedelta(hours=1)
ERROR_CHARS = 500
KEEP_DONE = timedelta(days=30)
QUEUED, RUNNING, DONE = JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.DONE.value
FAILED, DEAD = JobStatus.FAILED.value, JobStatus.DEAD.value
# Bulk statements leave the session's copies alone: callers don't hold jobs across them.
_BULK = {"synchronize_session": False}


@dataclass
class Registry:
    """Job kinds and their handlers. The module-level `registry` is the application's; tests and
    benchmarks make their own."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    schedule: dict[str, timedelta] = field(default_factory=dict)

    def handler(self, kind: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            known = self.handlers.get(kind)
            if known is not None and _name(known) != _name(fn):  # a reload is no conflict
                raise ValueError(f"job kind {kind!r} already has a handler: {_name(known)}")
            self.handlers[kind] = fn
            return fn

        return register

    def periodic(self, kind: str, every: timedelta) -> Callable[[Handler], Handler]:
        """A sweep the worker enqueues itself, one pending instance at a time (payload `{}`)."""

        def register(fn: Handler) -> Handler:
            self.schedule[kind] = every
            return self.handler(kind)(fn)

        return register


def _name(fn: Handler) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


registry = Registry()
handler = registry.handler
periodic = registry.periodic


# ---------------------------------------------------------------------------------------------
# Enqueue


def enqueue(
    session: Session,
    kind: str,
    payload: Payload,
    clock: Clock,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Queue a job; workers see it once the caller's transaction commits. The payload holds ids
    and plain values (the handler loads the rows as they are when it runs). With a `dedupe_key`,
    while a job with that key is pending (queued, running, or failed awaiting retry) that job is
    returned instead of a new one, whatever its payload."""
    _check_plain(payload, "payload")
    now = clock.now()
    row = {
        "kind": kind,
        "payload": payload,
        "status": QUEUED,
        "run_at": run_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
        "dedupe_key": dedupe_key,
    }
    if dedupe_key is None:
        job = Job(**row)
        session.add(job)
        session.flush()
        return job
    # Two enqueuers can both miss the lookup; the unique key lets exactly one insert land, and
    # the other then finds it (PostgreSQL makes it wait for the first to commit or roll back).
    for _ in range(3):
        if (holder := pending(session, dedupe_key)) is not None:
            return holder
        if (job := session.scalars(_insert_unless_taken(session, row)).one_or_none()) is not None:
            return job
    raise RuntimeError(f"dedupe key {dedupe_key!r} keeps changing hands; try again")


def pending(session: Session, dedupe_key: str) -> Job | None:
    """The pending job holding `dedupe_key`, if any (finished jobs give their key up)."""
    return session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))


def _insert_unless_taken(session: Session, row: Payload) -> Any:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return (
        insert(Job)
        .values(**row)
        .on_conflict_do_nothing(index_elements=[Job.dedupe_key])
        .returning(Job)
    )


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"job {where} has a non-string key {key!r}")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, str | int | float | bool | None):
        raise TypeError(
            f"job {where} is a {type(value).__name__}: jobs take ids and plain values, not objects"
        )


# ---------------------------------------------------------------------------------------------
# Claim


def claim(
    session: Session,
    worker_id: str,
    clock: Clock,
    lease: timedelta = LEASE,
    kinds: Sequence[str] | None = None,
) -> Job | None:
    """Take the next due job for `worker_id` until now + `lease`, counting an attempt: a queued
    job, a failed one due for retry, or a running one whose lease ran out (its worker died).

    Each probe is one conditional UPDATE whose subquery picks the row. PostgreSQL: the subquery
    is `FOR UPDATE SKIP LOCKED`, so concurrent workers pass over each other's rows. SQLite
    ignores that clause but holds its single write lock for the whole statement, and the WHERE
    re-checks the status under it; starting with a write also avoids a read snapshot that could
    not be upgraded later (SQLITE_BUSY in WAL mode)."""
    if kinds is not None and not kinds:
        return None
    now = clock.now()
    params: dict[str, Any] = {"now": now, "until": now + lease, "worker": worker_id}
    if kinds is not None:
        params["kinds"] = list(kinds)
    for probe in range(3):
        taken = session.scalar(_claim_statement(probe, kinds is not None), params)
        if taken is not None:
            return session.get(Job, taken, populate_existing=True)
    return None


@lru_cache
def _claim_statement(probe: int, by_kind: bool) -> Any:
    """Built once, with bound parameters: composing it costs more than running it."""
    where = _due(bindparam("now", type_=UTCDateTime()))[probe]
    if by_kind:
        where = and_(where, Job.kind.in_(bindparam("kinds", expanding=True)))
    pick = (
        select(Job.id)
        .where(where)
        .order_by(Job.run_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    jobs = Job.__table__
    return (
        update(jobs)
        .where(jobs.c.id == pick, where)
        .values(
            status=RUNNING,
            locked_by=bindparam("worker"),
            locked_until=bindparam("until", type_=UTCDateTime()),
            attempts=jobs.c.attempts + 1,
        )
        .returning(jobs.c.id)
    )


def _due(now: Any) -> tuple[ColumnElement[bool], ...]:
    # One probe per status keeps each an index range in run_at order (an OR of statuses would
    # sort the whole backlog on every claim). Abandoned jobs first: few, and already late.
    return (
        and_(Job.status == RUNNING, Job.locked_until < now, Job.attempts < Job.max_attempts),
        and_(Job.status == FAILED, Job.run_at <= now),
        and_(Job.status == QUEUED, Job.run_at <= now),
    )


# ---------------------------------------------------------------------------------------------
# Run


def run_one(
    engine: Engine,
    worker_id: str,
    clock: Clock,
    *,
    registry: Registry = registry,
    lease: timedelta = LEASE,
) -> bool:
    """Claim one due job of a registered kind and run it; False when none is due.

    Transactions: the claim (short, so other workers are not held up); the handler with the
    `done` mark, so both land or neither; on failure a fresh one recording it (retry after
    backoff, or dead once out of attempts). A handler's exception is recorded, never raised."""
    with transaction(engine) as session:
        job = claim(session, worker_id, clock, lease, kinds=list(registry.handlers))
        if job is None:
            return False
        job_id, kind, payload, attempts = job.id, job.kind, job.payload, job.attempts
        out_of_attempts = job.attempts >= job.max_attempts
    try:
        with transaction(engine) as session:
            # Renewing the lease first also locks the row (PostgreSQL) or the file (SQLite) for
            # the whole run, so nobody can reclaim the job while this handler is alive.
            if not _renew(session, job_id, worker_id, clock, lease):
                log.warning("job %s (%s): lease lost before it ran; skipped", job_id, kind)
                return True
            registry.handlers[kind](session, payload, clock)
            _mark(session, job_id, worker_id, status=DONE, finished_at=clock.now(), dedupe_key=None)
    except Exception as error:
        log.warning("job %s (%s) failed on attempt %s", job_id, kind, attempts, exc_info=True)
        with transaction(engine) as session:
            _record_failure(session, job_id, worker_id, clock, error, attempts, out_of_attempts)
    return True


def _renew(session: Session, job_id: int, worker_id: str, clock: Clock, lease: timedelta) -> bool:
    return _mark(session, job_id, worker_id, locked_until=clock.now() + lease, check=False)


def _mark(session: Session, job_id: int, worker_id: str, check: bool = True, **values: Any) -> bool:
    """Update the job only while `worker_id` still holds it."""
    if "status" in values and values["status"] != RUNNING:
        values.update(locked_by=None, locked_until=None)
    params = {"job_id": job_id, "worker": worker_id} | {f"new_{k}": v for k, v in values.items()}
    result = session.execute(_mark_statement(tuple(sorted(values))), params)
    held = result.rowcount == 1  # type: ignore[attr-defined]
    if check and not held:
        raise LeaseLost(f"job {job_id} is no longer held by {worker_id}")
    return held


@lru_cache
def _mark_statement(columns: tuple[str, ...]) -> Any:
    jobs = Job.__table__.c
    return (
        update(Job.__table__)
        .where(jobs.id == bindparam("job_id"), jobs.locked_by == bindparam("worker"))
        .where(jobs.status == RUNNING)
        .values({c: bindparam(f"new_{c}", type_=jobs[c].type) for c in columns})
    )


class LeaseLost(RuntimeError):
    """Another worker took the job over after this one's lease ran out."""


def _record_failure(
    session: Session,
    job_id: int,
    worker_id: str,
    clock: Clock,
    error: Exception,
    attempts: int,
    out_of_attempts: bool,
) -> None:
    now = clock.now()
    # Type and message only: no traceback or locals, which may hold personal data.
    message = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    if out_of_attempts:
        values = {"status": DEAD, "finished_at": now, "dedupe_key": None}
    else:
        values = {"status": FAILED, "run_at": now + backoff(attempts)}
    if not _mark(session, job_id, worker_id, check=False, last_error=message, **values):
        log.warning("job %s: lease lost while it failed; the new holder decides", job_id)


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` tries: 30 s, 1 min, 2 min, … at most 1 h."""
    return min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)


def run_worker(
    engine: Engine,
    worker_id: str,
    clock: Clock,
    stop: threading.Event,
    poll: float = 1.0,
    once: bool = False,
    *,
    registry: Registry = registry,
    lease: timedelta = LEASE,
) -> int:
    """Until `stop` is set: schedule due periodic jobs, run jobs until none is due, wait `poll`
    seconds. `once` returns after the first round. Returns how many jobs ran. A lost database
    connection (or a SQLite file locked past its timeout) is logged and retried next round."""
    ran = 0
    while not stop.is_set():
        try:
            with transaction(engine) as session:
                schedule_periodic(session, clock, registry)
                reap(session, clock)
            while not stop.is_set() and run_one(
                engine, worker_id, clock, registry=registry, lease=lease
            ):
                ran += 1
        except OperationalError as error:
            log.warning("worker %s: database unavailable (%s); retrying", worker_id, error.orig)
        if once:
            break
        stop.wait(poll)
    return ran


# ---------------------------------------------------------------------------------------------
# Housekeeping and operator actions


def schedule_periodic(session: Session, clock: Clock, registry: Registry = registry) -> list[Job]:
    """One pending instance of each periodic kind, due `every` after the last one was due (or
    now, if it never ran or that time has passed while no worker was up)."""
    now, queued = clock.now(), []
    for kind, every in registry.schedule.items():
        key = f"periodic:{kind}"
        if pending(session, key) is not None:
            continue
        last = session.scalar(select(func.max(Job.run_at)).where(Job.kind == kind))
        run_at = now if last is None else max(now, last + every)
        queued.append(enqueue(session, kind, {}, clock, run_at=run_at, dedupe_key=key))
    return queued


def reap(session: Session, clock: Clock) -> int:
    """Jobs whose worker died mid-run on every allowed attempt: dead, not retried forever."""
    now = clock.now()
    stuck = (
        select(Job.id)
        .where(Job.status == RUNNING, Job.locked_until < now, Job.attempts >= Job.max_attempts)
        .with_for_update(skip_locked=True)
    )
    reaped = update(Job).where(Job.id.in_(stuck))
    result = session.execute(
        reaped.values(
            status=DEAD,
            finished_at=now,
            locked_by=None,
            locked_until=None,
            dedupe_key=None,
            last_error="LeaseExpired: the worker stopped mid-job on its last attempt",
        ),
        execution_options=_BULK,
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def retry(session: Session, job_id: int, clock: Clock) -> Job | None:
    """A failed or dead job back in the queue, due now with a fresh set of attempts; None when
    there is no failed or dead job with that id."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status not in (FAILED, DEAD):
        return None
    job.status, job.run_at, job.attempts, job.finished_at = QUEUED, clock.now(), 0, None
    session.flush()
    return job


def list_jobs(session: Session, status: str | None = None, limit: int = 50) -> list[Job]:
    """The newest jobs, optionally of one status."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    return list(session.scalars(query))


def prune(session: Session, clock: Clock, keep: timedelta = KEEP_DONE) -> int:
    """Delete done jobs finished more than `keep` ago (failed and dead ones stay for a look)."""
    old = delete(Job).where(Job.status == DONE, Job.finished_at < clock.now() - keep)
    return int(session.execute(old, execution_options=_BULK).rowcount)  # type: ignore[attr-defined]


@periodic("jobs.prune", every=timedelta(days=1))
def prune_done(session: Session, payload: Payload, clock: Clock) -> None:
    prune(session, clock)
