"""Engine and sessions. The boundary (request, CLI command, job) owns the transaction:
`with transaction() as session:` commits on success and rolls back on error; services never
commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from chengzhi.config import get_settings

T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling breaks SAVEPOINTs; emit BEGIN ourselves.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",
        "busy_timeout=30000",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


@lru_cache
def engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.url, settings.sql_echo)


def sessionmaker_for(bind: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def transaction(bind: Engine | None = None) -> Iterator[Session]:
    session = sessionmaker_for(bind or engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def page(session: Session, query: Select[Any], limit: int, offset: int) -> tuple[int, list[Any]]:
    """The total a filtered query matches, and one ordered slice of it (for paged lists)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return total, list(session.scalars(query.limit(limit).offset(offset)))


HELD = "memo.held"


def memo(session: Session, key: str, compute: Callable[[], T], *, lasting: bool = False) -> T:
    """`compute()` once per transaction: for answers that change rarely and are read on every
    write (the structure stamp, the current catalogue version). A write path that changes such an
    answer calls `forget` so the same transaction sees its own change. `lasting`: reference data
    (units, categories, routes) that a long run `hold`ing the session keeps across its commits."""
    values: dict[str, Any] | None = session.info.get(HELD) if lasting else None
    if values is None:
        tx = session.get_transaction()
        held = session.info.get("memo")
        if held is None or held[0] is not tx:
            held = session.info["memo"] = (tx, {})
        values = held[1]
    if key not in values:
        values[key] = compute()
    return values[key]  # type: ignore[no-any-return]


@contextmanager
def hold(session: Session) -> Iterator[Session]:
    """One caller owns the session for a long run of commits (the simulator, a bulk import):
    `lasting` answers are computed once for the run, not once per commit. Structure or catalogue
    changes made elsewhere meanwhile show from the next run."""
    session.info[HELD] = {}
    try:
        yield session
    finally:
        session.info.pop(HELD, None)


def forget(session: Session, key: str) -> None:
    for values in (session.info.get(HELD), (session.info.get("memo") or (None, None))[1]):
        if values is not None:
            values.pop(key, None)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url or get_settings().url), revision)
