"""POST Service Request (`intake/open311.py`): the form read by hand — so that a bad body is a
spec error, never FastAPI's 422 — checked, and submitted through `intake.service.submit` with
channel open311 under the API client's key."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from chengzhi.auth import clients
from chengzhi.clock import Clock
from chengzhi.errors import InvalidInput
from chengzhi.intake import open311_format as o311
from chengzhi.intake import service as intake
from chengzhi.intake.open311_query import (
    CODE_LENGTHS,
    Leaf,
    check_jurisdiction,
    find_leaf,
    region_names,
)
from chengzhi.models import Channel

MAX_BODY = 64 * 1024
MAX_FIELDS = 200
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


def create(session: Session, clock: Clock, posted: Posted) -> list[dict[str, Any]]:
    if posted.problem:
        raise InvalidInput(posted.problem)
    form = posted.fields
    actor = clients.actor_for_key(session, clock, form.get("api_key"))
    check_jurisdiction(session, form.get("jurisdiction_id"))
    leaf = find_leaf(session, form.get("service_code"))
    appeal = _appeal(session, form, leaf)
    with session.begin_nested():  # a refused appeal leaves nothing behind
        receipt = intake.submit(session, clock, actor, appeal)
    return [o311.created(receipt.case.number, _notice(receipt))]


def _appeal(session: Session, form: dict[str, str], leaf: Leaf) -> intake.Appeal:
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
    names = region_names(session, {code})
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
