"""Several processes act on one case at once: exactly one wins, the rest get a conflict and leave
no trace. Runs on the SQLite file or on PostgreSQL (CHENGZHI_TEST_DATABASE_URL)."""

import multiprocessing as mp
from datetime import UTC, datetime

from sqlalchemy import func, select

from chengzhi import db
from chengzhi.cases import service
from chengzhi.clock import FrozenClock
from chengzhi.errors import Conflict
from chengzhi.models import CaseEvent, Channel, RequestType, Role
from chengzhi.orgs.queries import Actor

CLOCK = FrozenClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
WORKERS = 6


def _file(url: str, number: str, barrier, results) -> None:  # runs in a child process
    engine = db.make_engine(url)
    try:
        with db.transaction(engine) as session:
            service.load_case(session, number)  # everyone reads the case before anyone writes
            barrier.wait(timeout=30)
            service.file_case(session, CLOCK, Actor(None, Role.DISPATCHER), number)
        results.put("won")
    except Conflict as e:
        results.put(type(e).__name__)
    finally:
        engine.dispose()


def test_of_concurrent_actions_exactly_one_wins(cli_env):
    db.migrate(cli_env)
    engine = db.make_engine(cli_env)
    new = service.NewCase("井盖缺失", "人行道井盖缺失", RequestType.REPORT, Channel.HOTLINE)
    with db.transaction(engine) as session:
        number = service.register_case(session, CLOCK, Actor(None, Role.OPERATOR), new).number
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    procs = [
        ctx.Process(target=_file, args=(cli_env, number, barrier, results)) for _ in range(WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert outcomes.count("won") == 1, outcomes
    assert all(o in ("won", "Conflict", "InvalidTransition") for o in outcomes), outcomes
    with db.transaction(engine) as session:
        files = session.scalar(select(func.count()).where(CaseEvent.action == "file"))
    assert files == 1
    engine.dispose()
