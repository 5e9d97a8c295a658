"""The activity simulator drives the small demo city through the case verbs, committing."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.cases import timeline
from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.demo import simulate as simulator
from chengzhi.demo.simulate import simulate
from chengzhi.models import Case, CaseEvent, CaseTask, OrgUnit

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


# Shares raised so that a short run of the small city has every task beside the handling.
BUSY = {"WHISTLE_SHARE": 1.0, "SPLIT_SHARE": 0.3, "SUPERVISE_SHARE": 1.0}
TASK_ACTIONS = {
    "whistle",
    "report_in",
    "rate_report_in",
    "split",
    "assist_reply",
    "supervise",
    "reply_supervision",
    "flag_overdue",
}


def busy_run(url: str, monkeypatch):
    for name, share in BUSY.items():
        monkeypatch.setattr(simulator, name, share)
    engine = small_city(url)
    return engine, simulate(engine, 3, seed=5, start=START)


def task_rows(engine) -> list[tuple]:
    """Every task with its case, unit and issuing unit, in a database-independent order."""
    unit, issuer = aliased(OrgUnit), aliased(OrgUnit)
    with db.transaction(engine) as session:
        return [
            tuple(r)
            for r in session.execute(
                select(
                    Case.number,
                    CaseTask.kind,
                    unit.code,
                    unit.kind,
                    issuer.kind,
                    CaseTask.state,
                    CaseTask.late,
                    CaseTask.rating,
                    CaseTask.due_at,
                )
                .join(Case, Case.id == CaseTask.case_id)
                .join(unit, unit.id == CaseTask.unit_id)
                .join(issuer, issuer.id == CaseTask.issuer_unit_id)
                .order_by(Case.number, CaseTask.kind, unit.code)
            )
        ]


def test_the_default_shares_stay_realistic():
    assert 0 < simulator.WHISTLE_SHARE <= 0.1 and 0 < simulator.SPLIT_SHARE <= 0.05
    assert 0 < simulator.SUPERVISE_SHARE <= 0.3


def test_streets_whistle_centres_supervise_and_dispatchers_split(cli_env, tmp_path, monkeypatch):
    engine, report = busy_run(cli_env, monkeypatch)
    try:
        check_tasks(engine, report)
        # the same seed gives the same tasks, on another database
        again_engine, again = busy_run(f"sqlite:///{tmp_path / 'again.db'}", monkeypatch)
        try:
            assert again.actions == report.actions and again.statuses == report.statuses
            assert task_rows(again_engine) == task_rows(engine)
        finally:
            again_engine.dispose()
    finally:
        engine.dispose()


def check_tasks(engine, report) -> None:
    assert not report.refused
    assert all(report.actions[a] > 0 for a in TASK_ACTIONS), report.actions
    rows = task_rows(engine)
    kinds = {r[1] for r in rows}
    assert kinds == {"report_in", "assist", "supervision"}
    report_ins = [r for r in rows if r[1] == "report_in"]
    # 吹哨: streets or communities summon departments, which report in, mostly in time
    assert {r[3] for r in report_ins} == {"department"}
    assert {r[4] for r in report_ins} <= {"street_office", "community_committee"}
    assert any(r[5] == "done" and not r[6] for r in report_ins)
    assert sum(r[5] == "done" for r in report_ins) == report.actions["report_in"]
    assert sum(r[7] is not None for r in report_ins) == report.actions["rate_report_in"]
    # 督办 by an operations centre; 协办 by other units than the lead
    assert {r[4] for r in rows if r[1] == "supervision"} == {"operations_centre"}
    assert sum(r[1] == "supervision" for r in rows) == report.actions["supervise"]
    assert any(r[1] == "assist" and r[5] == "done" for r in rows)
    assert sum(r[5] == "done" for r in rows) == sum(
        report.actions[a] for a in ("report_in", "assist_reply", "reply_supervision")
    )
    assert sum(r[6] for r in rows) >= report.actions["flag_overdue"]
    with db.transaction(engine) as session:
        events = dict(
            session.execute(
                select(CaseEvent.action, func.count())
                .where(CaseEvent.action.in_(TASK_ACTIONS))
                .group_by(CaseEvent.action)
            ).all()
        )
        assert events == {a: report.actions[a] for a in TASK_ACTIONS}
        ids = session.scalars(select(Case.id)).all()
        checked, broken = timeline.verify(session, ids)
    assert broken == [] and checked == report.total_actions
    # `chengzhi audit verify` on the same database (cli_env points the CLI at it)
    result = CliRunner().invoke(app, ["audit", "verify"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
