"""The read side of the Open311 endpoint (`intake/open311.py`): service discovery, the service
list and definitions from the current catalogue, and GET Service Request(s) — what the public may
see, masked by `open311_format`. Also the checks POST shares: the jurisdiction, a service code's
leaf category, and region names by code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from chengzhi.cases.workflow import ENDED, Status
from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.errors import InvalidInput, NotFound
from chengzhi.intake import open311_format as o311
from chengzhi.models import Case, CaseEvent, Category, Level, Region

WINDOW = timedelta(days=90)  # the spec's default range and longest start–end span
LIMIT = 1000  # the spec's default volume
CLOSED = frozenset(s.value for s in ENDED)
CODE_LENGTHS = (2, 4, 6, 9, 12, 15)  # region code lengths, city → grid
KIND_NAMES = {"component": "管理部件", "matter": "管理事项", "topic": "诉求分类"}
CONTACT = (
    "12345 政务服务便民热线；接口事宜请联系本市系统管理员 "
    "(the 12345 hotline; for the API, the city's administrator)"
)
KEY_SERVICE = (
    "api_key 由本市系统管理员签发 "
    "(keys are issued by the city's administrator: chengzhi clients create)"
)


def _tz() -> tzinfo:
    return ZoneInfo(get_settings().timezone)


def check_jurisdiction(session: Session, jurisdiction_id: str | None) -> None:
    """Optional (one city per endpoint); when given, the code of the city's root region."""
    if not jurisdiction_id or not jurisdiction_id.strip():
        return
    root = session.scalar(select(Region.code).where(Region.level == Level.CITY.value).limit(1))
    if jurisdiction_id.strip() != root:
        raise NotFound(
            f"jurisdiction_id 不存在，本接口服务 {root or '-'} (jurisdiction_id not found)"
        )


# --- discovery and services -------------------------------------------------------------------


def discovery(session: Session, clock: Clock, url: str) -> dict[str, Any]:
    """The changeset moves with the catalogue: a new version is a new service list."""
    version = catalog.current_version(session)
    changed = version.created_at if version else clock.now()
    return o311.discovery(url, o311.w3c(changed, _tz()) or "", CONTACT, KEY_SERVICE)


def services(session: Session, jurisdiction_id: str | None) -> list[dict[str, Any]]:
    check_jurisdiction(session, jurisdiction_id)
    rows = _current_categories(session)
    names = {(c.kind, c.code): c.name for c in rows}
    return [
        o311.service(
            o311.service_code(c.kind, c.code),
            c.name,
            f"{c.name_en} ({KIND_NAMES.get(c.kind, c.kind)} {c.code})",
            list(c.keywords or []),
            names.get((c.kind, c.parent_code or ""), KIND_NAMES.get(c.kind, c.kind)),
        )
        for c in rows
        if c.is_leaf
    ]


def definition(session: Session, code: str, jurisdiction_id: str | None) -> dict[str, Any]:
    check_jurisdiction(session, jurisdiction_id)
    return o311.service_definition(o311.service_code(*find_leaf(session, code).ref))


@dataclass(frozen=True, slots=True)
class Leaf:
    ref: tuple[str, str]
    name: str


def find_leaf(session: Session, code: str | None) -> Leaf:
    """A leaf category of the current catalogue by its service code (400 absent, 404 unknown)."""
    if not code:
        raise InvalidInput("缺少 service_code (service_code was not provided)")
    ref = o311.parse_service_code(code)
    version = catalog.current_version(session)
    row = None
    if ref is not None and version is not None:
        row = session.scalar(
            select(Category).where(
                Category.version_id == version.id,
                Category.kind == ref[0],
                Category.code == ref[1],
                Category.is_leaf.is_(True),
            )
        )
    if row is None:
        raise NotFound(f"service_code {code[:40]} 不存在 (service_code not found)")
    return Leaf((row.kind, row.code), row.name)


def _current_categories(session: Session) -> list[Category]:
    version = catalog.current_version(session)
    if version is None:
        return []
    query = select(Category).where(Category.version_id == version.id).order_by(Category.id)
    return list(session.scalars(query))


# --- GET Service Request(s) and tokens --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Search:
    """GET Service Requests' query, as sent (all optional)."""

    ids: str | None = None
    codes: str | None = None
    start: str | None = None
    end: str | None = None
    status: str | None = None


def _public() -> Select[tuple[Case]]:
    """What the public may list: classified requests (they have a service code)."""
    return (
        select(Case)
        .where(Case.category_id.is_not(None))
        .options(selectinload(Case.category), selectinload(Case.unit))
    )


def search_requests(
    session: Session, clock: Clock, jurisdiction_id: str | None, search: Search
) -> list[dict[str, Any]]:
    check_jurisdiction(session, jurisdiction_id)
    query = _public()
    if ids := _split(search.ids):  # overrides every other argument, per the spec
        query = query.where(Case.number.in_(ids[:LIMIT]))
    else:
        start, end = _window(search.start, search.end, clock.now())
        query = query.where(Case.registered_at >= start, Case.registered_at <= end)
        query = _by_status(_by_codes(query, _split(search.codes)), _split(search.status))
    query = query.order_by(Case.registered_at.desc(), Case.id.desc()).limit(LIMIT)
    return _views(session, list(session.scalars(query)))


def one_request(session: Session, number: str, jurisdiction_id: str | None) -> list[dict[str, Any]]:
    check_jurisdiction(session, jurisdiction_id)
    return _views(session, [_public_case(session, number)])


def from_token(
    session: Session, token_id: str, jurisdiction_id: str | None
) -> list[dict[str, Any]]:
    check_jurisdiction(session, jurisdiction_id)
    case = _public_case(session, token_id)
    return [o311.token(case.number, token_id)]


def _public_case(session: Session, number: str) -> Case:
    case = session.scalar(_public().where(Case.number == number))
    if case is None:
        raise NotFound(f"诉求 {number[:20]} 不存在 (service request not found)")
    return case


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """requested_datetime between start and end; 90 days back from the one given (or from
    now), and never a span of more than 90 days."""
    tz = _tz()
    try:
        since = o311.parse_w3c(start, tz) if start else None
        until = o311.parse_w3c(end, tz) if end else None
    except ValueError as e:
        raise InvalidInput(f"start_date/end_date: {e}") from e
    if since is None:
        until = until or now
        since = until - WINDOW
    until = until or since + WINDOW
    if until < since:
        raise InvalidInput("end_date 早于 start_date (end_date is before start_date)")
    if until - since > WINDOW:
        raise InvalidInput("日期范围不能超过 90 天 (the date range may not span more than 90 days)")
    return since, until


def _by_codes(query: Select[tuple[Case]], codes: list[str]) -> Select[tuple[Case]]:
    if not codes:
        return query
    refs = [r for r in map(o311.parse_service_code, codes) if r is not None]
    wanted = select(Category.id).where(
        or_(*(and_(Category.kind == kind, Category.code == code) for kind, code in refs))
        if refs
        else Category.id.is_(None)
    )
    return query.where(Case.category_id.in_(wanted))


def _by_status(query: Select[tuple[Case]], statuses: list[str]) -> Select[tuple[Case]]:
    wanted = {s.lower() for s in statuses}
    if wanted - {"open", "closed"}:
        raise InvalidInput("status 只能是 open 或 closed (status: open or closed)")
    if wanted == {"open"}:
        return query.where(Case.status.not_in(CLOSED))
    if wanted == {"closed"}:
        return query.where(Case.status.in_(CLOSED))
    return query


def _views(session: Session, cases: list[Case]) -> list[dict[str, Any]]:
    """The spec's request records, with a fixed number of queries however many cases."""
    tz = _tz()
    names = region_names(session, {c.region_code for c in cases if c.region_code})
    last = _last_changes(session, [c.id for c in cases])
    merged = _numbers(session, {c.merged_into_id for c in cases if c.merged_into_id})
    return [
        o311.service_request(
            service_request_id=c.number,
            status="closed" if c.status in CLOSED else "open",
            status_notes=_status_notes(c, merged),
            service_name=c.category.name if c.category else "",
            service_code=o311.service_code(c.category.kind, c.category.code) if c.category else "",
            description=o311.public_text(c.description, c.reporter_name, c.reporter_phone),
            agency_responsible=c.unit.name if c.unit else None,
            requested=c.registered_at,
            updated=_updated(c, last.get(c.id)),
            expected=c.due_at,
            address=_chain(c.region_code, names),
            address_id=c.region_code,
            lat=c.lat,
            lon=c.lon,
            tz=tz,
        )
        for c in cases
    ]


def _status_notes(case: Case, merged: dict[int, str]) -> str:
    status = Status(case.status)
    if status is Status.MERGED and case.merged_into_id in merged:
        n = merged[case.merged_into_id]
        return f"已并入诉求 {n} 办理 (merged into request {n})"
    return f"{status.zh} ({status.en})"


def _updated(case: Case, last_event: datetime | None) -> datetime:
    """Last change; for a closed request the time it was closed, as the spec says."""
    if case.status in CLOSED and case.closed_at is not None:
        return case.closed_at
    return last_event or case.registered_at


def _last_changes(session: Session, ids: list[int]) -> dict[int, datetime]:
    if not ids:
        return {}
    rows = session.execute(
        select(CaseEvent.case_id, func.max(CaseEvent.at))
        .where(CaseEvent.case_id.in_(ids))
        .group_by(CaseEvent.case_id)
    )
    return {case_id: at for case_id, at in rows}


def _numbers(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Case.id, Case.number).where(Case.id.in_(ids)))
    return {case_id: number for case_id, number in rows}


def region_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Names of these regions and every region above them, by code (codes are prefixes)."""
    wanted = {code[:n] for code in codes for n in CODE_LENGTHS if n <= len(code)}
    if not wanted:
        return {}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(wanted)))
    return {code: name for code, name in rows}


def _chain(code: str | None, names: dict[str, str]) -> str | None:
    """The region chain, most specific first as the spec asks: 网格, 社区, 街道, 区, 市."""
    if not code:
        return None
    chain = [
        names[code[:n]] for n in reversed(CODE_LENGTHS) if n <= len(code) and code[:n] in names
    ]
    return ", ".join(chain) or None
