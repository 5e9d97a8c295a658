"""Test harness: a real database built by the migrations, one rolled-back transaction per test.
SQLite by default; PostgreSQL when CHENGZHI_TEST_DATABASE_URL is set (CI runs both)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from chengzhi import config, db, deps
from chengzhi.clock import FrozenClock
from chengzhi.web.app import create_app

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# A PostgreSQL server URL; the suite makes throw-away databases on it and drops them after.
PG_URL = os.environ.get("CHENGZHI_TEST_DATABASE_URL")


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data file {name} not available (../shared/data)")
    return path


@contextmanager
def throwaway_pg_database(prefix: str) -> Iterator[str]:
    assert PG_URL
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        with throwaway_pg_database("chengzhi_test") as url:
            db.migrate(url)
            yield url
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    db.migrate(url)
    yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = db.make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; code under test may
    flush freely (its commits become savepoints)."""
    with engine.connect() as conn:
        outer = conn.begin()
        s = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield s
        finally:
            s.close()
            outer.rollback()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def client(session: Session) -> Iterator[TestClient]:
    app = create_app()

    def request_session() -> Iterator[Session]:
        """Each request in a savepoint, rolled back on error as a real request's transaction is."""
        nested = session.begin_nested()
        try:
            yield session
        except Exception:
            nested.rollback()
            raise
        if nested.is_active:
            nested.commit()

    app.dependency_overrides[deps.get_session] = request_session
    with TestClient(app) as c:
        yield c


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of its own for CLI runs, which commit: a fresh SQLite file, or a throw-away
    PostgreSQL database."""
    with ExitStack() as stack:
        if PG_URL:
            url = stack.enter_context(throwaway_pg_database("chengzhi_cli"))
        else:
            url = f"sqlite:///{tmp_path / 'cli.db'}"
        monkeypatch.setenv("CHENGZHI_DATABASE_URL", url)
        monkeypatch.setenv("CHENGZHI_DATA_DIR", str(tmp_path / "var"))
        _reset_caches()
        yield url
        db.engine().dispose()
        _reset_caches()


def _reset_caches() -> None:
    config.get_settings.cache_clear()
    db.engine.cache_clear()


class QueryCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.engine = engine

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args: object) -> None:
        self.count += 1


@pytest.fixture
def count_queries(engine: Engine) -> Callable[[], QueryCounter]:
    """`with count_queries() as q: …` then `q.count`: statements sent to the database."""
    return lambda: QueryCounter(engine)
