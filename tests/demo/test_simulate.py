"""The activity simulator drives the small demo city through the case verbs, committing."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from chengzhi import db
from chengzhi.cases import timeline
from chengzhi.catalog import service as catalog
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.demo.simulate import simulate
from chengzhi.models import Case, CaseEvent

START = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # Monday 00:00 in Asia/Shanghai


def small_city(url: str):
    db.migrate(url)
    engine = db.make_engine(url)
    clock = FrozenClock(START)
    with db.transaction(engine) as session:
        build.store_city(session, plan.plan_city("small", 11), clock)
        catalog.install_defaults(session, clock)
    return engine


@pytest.fixture
def simulated(cli_env):
    engine = small_city(cli_env)
    report = simulate(engine, 2, seed=5, start=START)
    yield engine, report
    engine.dispose()


def test_appeals_travel_the_loop_through_the_verbs(simulated):
    engine, report = simulated
    assert report.appeals > 100  # ≈ 75 a day for 300,000 people
    with db.transaction(engine) as session:
        ids = session.scalars(select(Case.id)).all()
        assert len(ids) == report.appeals
        checked, broken = timeline.verify(session, ids)
        assert broken == [] and checked == report.total_actions
        statuses = dict(
            session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
        )
        # every status change has exactly one event, and each case's last event is its status
        last = (
            select(CaseEvent.case_id, func.max(CaseEvent.seq).label("seq"))
            .group_by(CaseEvent.case_id)
            .subquery()
        )
        rows = session.execute(
            select(Case.status, CaseEvent.to_status, CaseEvent.from_status)
            .join(CaseEvent, CaseEvent.case_id == Case.id)
            .join(last, (last.c.case_id == CaseEvent.case_id) & (last.c.seq == CaseEvent.seq))
        ).all()
        assert all(status == to for status, to, _ in rows)
        events = session.execute(
            select(
                CaseEvent.case_id, CaseEvent.seq, CaseEvent.from_status, CaseEvent.to_status
            ).order_by(CaseEvent.case_id, CaseEvent.seq)
        ).all()
    previous: dict[int, tuple[int, str]] = {}
    for case_id, seq, before, after in events:
        if case_id in previous:
            last_seq, last_status = previous[case_id]
            assert seq == last_seq + 1 and before == last_status  # no change without its event
        else:
            assert seq == 1 and before is None
        previous[case_id] = (seq, after)
    assert statuses == report.statuses
    assert statuses.get("archived", 0) > 0 and statuses.get("closed", 0) > 0
    assert statuses.get("in_progress", 0) > 0 and statuses.get("dispatched", 0) > 0
    assert {"register", "file", "dispatch", "sign", "handle", "verify_pass", "revisit"} <= set(
        report.actions
    )
    assert not report.refused


def test_the_same_seed_gives_the_same_counts(simulated, tmp_path):
    _, first = simulated
    engine = small_city(f"sqlite:///{tmp_path / 'again.db'}")
    again = simulate(engine, 2, seed=5, start=START)
    engine.dispose()
    assert again.appeals == first.appeals
    assert again.statuses == first.statuses and again.actions == first.actions
    assert again.satisfaction == first.satisfaction
