"""/open311/v2: the Open311 GeoReport v2 endpoint, so an existing Open311 client (FixMyStreet, a
city app) works against chengzhi unchanged. Documents and privacy masking: `open311_format`.

Every method answers in `.xml` or `.json` by its path's extension, as the spec does. Reading is
public (no key); POST Service Request needs an `api_key` of an API client (`chengzhi clients
create`) and goes through `intake.service.submit` like every other channel (channel open311).
Errors always take the spec's form — `<errors><error><code/><description/></error></errors>` —
with HTTP 403 for a missing or bad key, 404 for what does not exist and 400 for everything else,
never FastAPI's 422: parameters arrive as plain strings and are checked here.

The public sees only classified requests (with a service code), with free text masked, the place
as the region chain and coordinates rounded to about 100 m; never a name, phone or home address.
`jurisdiction_id` is optional (one city per endpoint); when given it must be the code of the
city's root region (e.g. `12` for Tianjin). See docs/open311.md."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from chengzhi.auth import clients
from chengzhi.cases.workflow import ENDED, Status
from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.deps import ClockDep, SessionDep
from chengzhi.errors import DomainError, InvalidInput, NotFound
from chengzhi.intake import open311_format as o311
from chengzhi.intake import service as intake
from chengzhi.models import Case, CaseEvent, Category, Channel, Level, Region

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])
WINDOW = timedelta(days=90)  # the spec's default range and longest start–end span
LIMIT = 1000  # the spec's default volume
MAX_BODY = 64 * 1024
MAX_FIELDS = 200
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
Arg = Annotated[str | None, Query()]
FORM_FIELDS = (
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
)
# The form is read by hand (`posted_form`), so /docs learns its fields from here.
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {name: {"type": "string"} for name in FORM_FIELDS},
                }
            }
        },
    }
}


@dataclass(slots=True)
class Posted:
    """A POST's fields (empty ones dropped: the spec treats them as absent), or why the body
    could not be read."""

    fields: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


async def posted_form(request: Request) -> Posted:
    """The form body (application/x-www-form-urlencoded, UTF-8, as the spec says) over the query
    string (some clients put api_key in the URL). Read here rather than by FastAPI so that a bad
    body is a spec error, never a 422."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return Posted(problem="请求过大 (request body too large)")
    if body and kind not in ("", "application/x-www-form-urlencoded"):
        return Posted(
            problem="请以 application/x-www-form-urlencoded 提交 "
            "(send the form as application/x-www-form-urlencoded)"
        )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except ValueError:  # includes UnicodeDecodeError
        return Posted(problem="表单须为 UTF-8 的 URL 编码 (the form must be UTF-8 url-encoded)")
    merged = {**dict(request.query_params.items()), **dict(pairs)}
    return Posted({k: v.strip() for k, v in merged.items() if v.strip()})


PostedDep = Annotated[Posted, Depends(posted_form)]


# --- routes -----------------------------------------------------------------------------------


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    url = str(request.base_url).rstrip("/") + router.prefix
    return _answer(fmt, "discovery", lambda: _discovery(session, clock, url))


@router.get("/services.{fmt}")
def services(fmt: str, session: SessionDep, jurisdiction_id: Arg = None) -> Response:
    return _answer(fmt, "services", lambda: _services(session, jurisdiction_id))


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    service_code: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None
) -> Response:
    return _answer(
        fmt, "service_definition", lambda: _definition(session, service_code, jurisdiction_id)
    )


@router.post("/requests.{fmt}", openapi_extra=FORM_BODY)
def create_request(fmt: str, session: SessionDep, clock: ClockDep, posted: PostedDep) -> Response:
    """POST Service Request: form-encoded, with api_key (see the module docstring)."""
    return _answer(fmt, "service_requests", lambda: _create(session, clock, posted))


@router.get("/requests.{fmt}")
def list_requests(
    fmt: str,
    session: SessionDep,
    clock: ClockDep,
    jurisdiction_id: Arg = None,
    service_request_id: Arg = None,
    service_code: Arg = None,
    start_date: Arg = None,
    end_date: Arg = None,
    status: Arg = None,
) -> Response:
    """GET Service Requests: the most recent 90 days and at most 1,000 unless narrowed."""
    search = Search(service_request_id, service_code, start_date, end_date, status)
    return _answer(fmt, "service_requests", lambda: _list(session, clock, jurisdiction_id, search))


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(
    service_request_id: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None
) -> Response:
    return _answer(
        fmt, "service_requests", lambda: _one(session, service_request_id, jurisdiction_id)
    )


@router.get("/tokens/{token}.{fmt}")
def get_token(token: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None) -> Response:
    """Ids are immediate, so a token is the case number itself."""
    return _answer(fmt, "service_requests", lambda: _token(session, token, jurisdiction_id))


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def unknown(rest: str) -> Response:
    fmt = "json" if rest.endswith(".json") else "xml"
    return _answer(fmt, "errors", _no_such_method)


# --- answering --------------------------------------------------------------------------------


def _answer(fmt: str, root: str, build: Callable[[], Any]) -> Response:
    """The document `build` makes, in the path's format; a domain error in the spec's error
    form (an unknown format is answered in XML, the spec's required one)."""
    shown = fmt if fmt in o311.FORMATS else "xml"
    try:
        if fmt not in o311.FORMATS:
            raise NotFound(f"不支持的格式 .{fmt[:10]}，请用 .xml 或 .json (use .xml or .json)")
        body = build()
    except DomainError as e:
        code = 403 if e.status in (401, 403) else 404 if e.status == 404 else 400
        return _document(shown, "errors", o311.errors(code, e.message), code)
    return _document(shown, root, body, 200)


def _document(fmt: str, root: str, body: Any, status: int) -> Response:
    return Response(o311.render(fmt, root, body), status, media_type=o311.CONTENT_TYPE[fmt])


def _no_such_method() -> None:
    raise NotFound("没有这个 Open311 方法 (no such Open311 method)")


def _tz() -> tzinfo:
    return ZoneInfo(get_settings().timezone)


def _check_jurisdiction(session: Session, jurisdiction_id: str | None) -> None:
    """Optional (one city per endpoint); when given, the code of the city's root region."""
    if not jurisdiction_id or not jurisdiction_id.strip():
        return
    root = session.scalar(select(Region.code).where(Region.level == Level.CITY.value).limit(1))
    if jurisdiction_id.strip() != root:
        raise NotFound(
            f"jurisdiction_id 不存在，本接口服务 {root or '-'} (jurisdiction_id not found)"
        )


# --- discovery and services -------------------------------------------------------------------


def _discovery(session: Session, clock: Clock, url: str) -> dict[str, Any]:
    """The changeset moves with the catalogue: a new version is a new service list."""
    version = catalog.current_version(session)
    changed = version.created_at if version else clock.now()
    return o311.discovery(url, o311.w3c(changed, _tz()) or "", CONTACT, KEY_SERVICE)


def _services(session: Session, jurisdiction_id: str | None) -> list[dict[str, Any]]:
    _check_jurisdiction(session, jurisdiction_id)
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


def _definition(session: Session, code: str, jurisdiction_id: str | None) -> dict[str, Any]:
    _check_jurisdiction(session, jurisdiction_id)
    return o311.service_definition(o311.service_code(*_leaf(session, code).ref))


@dataclass(frozen=True, slots=True)
class _Leaf:
    ref: tuple[str, str]
    name: str


def _leaf(session: Session, code: str | None) -> _Leaf:
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
    return _Leaf((row.kind, row.code), row.name)


def _current_categories(session: Session) -> list[Category]:
    version = catalog.current_version(session)
    if version is None:
        return []
    query = select(Category).where(Category.version_id == version.id).order_by(Category.id)
    return list(session.scalars(query))


# --- POST Service Request ---------------------------------------------------------------------


def _create(session: Session, clock: Clock, posted: Posted) -> list[dict[str, Any]]:
    if posted.problem:
        raise InvalidInput(posted.problem)
    form = posted.fields
    actor = clients.actor_for_key(session, clock, form.get("api_key"))
    _check_jurisdiction(session, form.get("jurisdiction_id"))
    leaf = _leaf(session, form.get("service_code"))
    appeal = _appeal(session, form, leaf)
    with session.begin_nested():  # a refused appeal leaves nothing behind
        receipt = intake.submit(session, clock, actor, appeal)
    return [o311.created(receipt.case.number, _notice(receipt))]


def _appeal(session: Session, form: dict[str, str], leaf: _Leaf) -> intake.Appeal:
    lat, lon = _coordinates(form.get("lat"), form.get("long"))
    address = form.get("address_string")
    if form.get("address_id"):
        address = address or _region_address(session, form["address_id"])
    if lat is None and not address:
        raise InvalidInput(
            "须给出位置：lat 与 long、address_string 或 address_id "
            "(a location is required: lat & long, address_string or address_id)"
        )
    description = form.get("description")
    if description and len(description) > o311.DESCRIPTION_LIMIT:
        raise InvalidInput("description 超过 4000 字 (description longer than 4,000 characters)")
    return intake.Appeal(
        text=description or leaf.name,
        channel=Channel.OPEN311,
        title=None if description else leaf.name,
        category=leaf.ref,
        lon=lon,
        lat=lat,
        crs="wgs84",
        address=_limited(address, 500, "address_string"),
        reporter_name=_limited(
            o311.full_name(form.get("first_name"), form.get("last_name")),
            64,
            "first_name/last_name",
        ),
        reporter_phone=_phone(form.get("phone")),
        source_ref=_limited(form.get("device_id"), 100, "device_id"),
    )


def _coordinates(lat: str | None, lon: str | None) -> tuple[float | None, float | None]:
    if lat is None and lon is None:
        return None, None
    if lat is None or lon is None:
        raise InvalidInput("lat 与 long 须同时给出 (send both lat and long)")
    try:
        y, x = float(lat), float(lon)
    except ValueError:
        y = x = math.nan
    if not (math.isfinite(y) and math.isfinite(x) and -90 <= y <= 90 and -180 <= x <= 180):
        raise InvalidInput("lat/long 须为 WGS-84 经纬度 (lat/long must be WGS-84 degrees)")
    return y, x


def _region_address(session: Session, code: str) -> str:
    """address_id is a region code of this city (grid, community, street…): the request is
    placed by the region's full name, city first, as a resident would write it."""
    names = _region_names(session, {code})
    if code not in names:
        raise InvalidInput(
            f"address_id {code[:20]} 不是本市的区划代码 (address_id is not a region code here)"
        )
    return "".join(names[code[:n]] for n in CODE_LENGTHS if code[:n] in names and n <= len(code))


def _limited(value: str | None, limit: int, what: str) -> str | None:
    if value is not None and (len(value) > limit or intake.CONTROL.search(value)):
        raise InvalidInput(f"{what} 过长或含控制字符 ({what}: too long or control characters)")
    return value


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    digits = sum(ch.isdigit() for ch in value)
    if len(value) > 20 or digits < 3 or any(not (ch.isdigit() or ch in "+-() ") for ch in value):
        raise InvalidInput("phone 不是电话号码 (phone is not a phone number)")
    return value


def _notice(receipt: intake.Receipt) -> str:
    case = receipt.case
    if receipt.merged_into:
        n = receipt.merged_into
        return f"与诉求 {n} 相同，已并入办理 (the same as request {n}; handled together)"
    if receipt.dispatched and case.unit is not None:
        return f"已派遣至{case.unit.name}办理 (dispatched to {case.unit.name})"
    if receipt.hold:
        return "已受理，等待人工分拨 (received; a dispatcher will route it)"
    return "已受理 (received)"


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


def _list(
    session: Session, clock: Clock, jurisdiction_id: str | None, search: Search
) -> list[dict[str, Any]]:
    _check_jurisdiction(session, jurisdiction_id)
    query = _public()
    if ids := _split(search.ids):  # overrides every other argument, per the spec
        query = query.where(Case.number.in_(ids[:LIMIT]))
    else:
        start, end = _window(search.start, search.end, clock.now())
        query = query.where(Case.registered_at >= start, Case.registered_at <= end)
        query = _by_status(_by_codes(query, _split(search.codes)), _split(search.status))
    query = query.order_by(Case.registered_at.desc(), Case.id.desc()).limit(LIMIT)
    return _views(session, list(session.scalars(query)))


def _one(session: Session, number: str, jurisdiction_id: str | None) -> list[dict[str, Any]]:
    _check_jurisdiction(session, jurisdiction_id)
    return _views(session, [_public_case(session, number)])


def _token(session: Session, token_id: str, jurisdiction_id: str | None) -> list[dict[str, Any]]:
    _check_jurisdiction(session, jurisdiction_id)
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
    names = _region_names(session, {c.region_code for c in cases if c.region_code})
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


def _region_names(session: Session, codes: set[str]) -> dict[str, str]:
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
