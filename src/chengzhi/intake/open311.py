"""/open311/v2: the Open311 GeoReport v2 endpoint, so an existing Open311 client (FixMyStreet, a
city app) works against chengzhi unchanged. Documents and privacy masking: `open311_format`.

Every method answers in `.xml` or `.json` by its path's extension, as the spec does. Reading is
public (no key); POST Service Request needs an `api_key` of an API client (`chengzhi clients
create`) and goes through `intake.service.submit` like every other channel (channel open311).
Errors always take the spec's form — `<errors><error><code/><description/></error></errors>` —
with HTTP 403 for a missing or bad key, 404 for what does not exist and 400 for everything else,
never FastAPI's 422: parameters arrive as plain strings and are checked by hand.

The public sees only classified requests (with a service code), with free text masked, the place
as the region chain and coordinates rounded to about 100 m; never a name, phone or home address.
`jurisdiction_id` is optional (one city per endpoint); when given it must be the code of the
city's root region (e.g. `12` for Tianjin). See docs/open311.md.

The read side is `open311_query`, POST Service Request `open311_submit`, the documents
`open311_format`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from chengzhi.deps import ClockDep, SessionDep
from chengzhi.errors import DomainError, NotFound
from chengzhi.intake import open311_format as o311
from chengzhi.intake import open311_query, open311_submit
from chengzhi.intake.open311_query import Search
from chengzhi.intake.open311_submit import FORM_BODY, PostedDep

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])
Arg = Annotated[str | None, Query()]


# --- routes -----------------------------------------------------------------------------------


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    url = str(request.base_url).rstrip("/") + router.prefix
    return _answer(fmt, "discovery", lambda: open311_query.discovery(session, clock, url))


@router.get("/services.{fmt}")
def services(fmt: str, session: SessionDep, jurisdiction_id: Arg = None) -> Response:
    return _answer(fmt, "services", lambda: open311_query.services(session, jurisdiction_id))


@router.get("/services/{service_code}.{fmt}")
def service_definition(
    service_code: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None
) -> Response:
    return _answer(
        fmt,
        "service_definition",
        lambda: open311_query.definition(session, service_code, jurisdiction_id),
    )


@router.post("/requests.{fmt}", openapi_extra=FORM_BODY)
def create_request(fmt: str, session: SessionDep, clock: ClockDep, posted: PostedDep) -> Response:
    """POST Service Request: form-encoded, with api_key (see the module docstring)."""
    return _answer(fmt, "service_requests", lambda: open311_submit.create(session, clock, posted))


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
    return _answer(
        fmt,
        "service_requests",
        lambda: open311_query.search_requests(session, clock, jurisdiction_id, search),
    )


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(
    service_request_id: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None
) -> Response:
    return _answer(
        fmt,
        "service_requests",
        lambda: open311_query.one_request(session, service_request_id, jurisdiction_id),
    )


@router.get("/tokens/{token}.{fmt}")
def get_token(token: str, fmt: str, session: SessionDep, jurisdiction_id: Arg = None) -> Response:
    """Ids are immediate, so a token is the case number itself."""
    return _answer(
        fmt, "service_requests", lambda: open311_query.from_token(session, token, jurisdiction_id)
    )


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
