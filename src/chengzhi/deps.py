"""Request-scoped dependencies. The request owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.clock import Clock, SystemClock
from chengzhi.config import Settings, get_settings


def get_session() -> Iterator[Session]:
    with db.transaction() as session:
        yield session


def get_clock() -> Clock:
    return SystemClock()


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (at most 1000)")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
