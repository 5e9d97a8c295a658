"""Open311 GeoReport v2 documents, exactly as the spec writes them (http://wiki.open311.org/
GeoReport_v2; summarised in ../shared/docs/reference/anchors-civic.md §3). Pure: no database, no
web framework — the endpoint (`open311_query`, `open311_submit`) hands it plain values.

XML is the spec's required format, JSON its "Spark convention" mapping: a list becomes repeated
child elements under the list's name (`<services><service>…`, `<service_requests><request>…`,
`<errors><error>…`), a null an empty element. Every XML document starts with the declaration
`encoding="UTF-8"`. Dates are W3C (ISO 8601) with the city's UTC offset.

Service codes are `<kind>-<code>` of a leaf category of the matter catalogue: `matter-06010`
(数字城管事项), `component-01001` (部件), `topic-A0101` (12345 诉求分类).

Privacy (个人信息保护): what these documents publish is masked here — `public_text` hides phone,
ID and card numbers, e-mail addresses, house numbers and the reporter's name inside free text;
`rounded` coarsens coordinates to three decimals (about 100 m)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, tzinfo
from typing import Any

from chengzhi.privacy import mask_id_number, mask_name, mask_phone

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
FORMATS = ("xml", "json")
MIME = {"xml": "text/xml", "json": "application/json"}
CONTENT_TYPE = {f: f"{MIME[f]}; charset=utf-8" for f in FORMATS}
# The element each list's items take in XML.
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
KINDS = ("component", "matter", "topic")
CODE = re.compile(r"^(component|matter|topic)-([0-9A-Z]{1,20})$")
DESCRIPTION_LIMIT = 4000
PLACE_DECIMALS = 3  # 0.001° ≈ 111 m north–south, ≈ 95 m east–west at 30°N
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry at all; dropped so every document stays well-formed.
NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
W3C_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# A '+' of an unencoded offset arrives as a space: 2026-11-02T09:00:00 08:00.
SPACED_OFFSET = re.compile(r"(T[\d:.]+) (\d{2}:?\d{2})$")
CJK = re.compile(r"[\u3400-\u9fff]")


# --- service codes, dates, places -------------------------------------------------------------


def service_code(kind: str, code: str) -> str:
    return f"{kind}-{code}"


def parse_service_code(value: str) -> tuple[str, str] | None:
    """`matter-06010` → ("matter", "06010"); anything else → None."""
    found = CODE.fullmatch(value.strip())
    return (found.group(1), found.group(2)) if found else None


def w3c(at: datetime | None, tz: tzinfo) -> str | None:
    """2026-11-02T17:00:00+08:00: seconds, with the offset the spec requires."""
    return at.astimezone(tz).replace(microsecond=0).isoformat() if at else None


def parse_w3c(value: str, tz: tzinfo) -> datetime:
    """A W3C datetime with its zone (`2010-01-01T00:00:00Z`, `…+08:00`), or a date (`2010-01-01`,
    `2010-01`, `2010`: midnight in the city's zone). Raises ValueError with a bilingual reason."""
    text = SPACED_OFFSET.sub(r"\1+\2", value.strip())
    at: datetime | None = None
    try:
        if day := W3C_DATE.fullmatch(text):
            year, month, dom = (int(g) if g else 1 for g in day.groups())
            return datetime(year, month, dom, tzinfo=tz)
        if "T" in text.upper():
            at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None:
        raise ValueError("日期格式应为 W3C，如 2010-01-01T00:00:00Z (not a W3C datetime)")
    if at.tzinfo is None:
        raise ValueError("日期须带时区，如 Z 或 +08:00 (a datetime needs its zone)")
    return at


def rounded(value: float | None) -> float | None:
    """A coordinate to three decimals (about 100 m): where a request is, never whose door."""
    return round(value, PLACE_DECIMALS) if value is not None else None


def full_name(first: str | None, last: str | None) -> str | None:
    """The reporter's name from the spec's first_name and last_name: Chinese names surname first
    without a space (张 + 三 → 张三), others `first last`."""
    if first and last and CJK.search(first + last):
        return last + first
    return " ".join(p for p in (first, last) if p) or None


# --- privacy in free text ---------------------------------------------------------------------

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
# Any other run of seven or more digits (landlines, card and account numbers, QQ numbers).
LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[- ]?\d){6,}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
# House, building, unit and room numbers (幸福路12号3栋2单元501室): the digits go.
HOUSE = re.compile(r"\d+(?=\s*(?:号楼|号院|号|栋|幢|座|单元|室|户))")
SELF_NAMED = re.compile(r"(我叫|姓名[:：]?|联系人[:：]?)\s*([\u4e00-\u9fff]{2,3})")


def public_text(text: str, reporter_name: str | None, reporter_phone: str | None) -> str:
    """Free text as the public may read it: the reporter's name and phone, other numbers that
    identify a person, e-mail addresses and house numbers masked; at most 4,000 characters."""
    if reporter_name and len(reporter_name) >= 2:
        text = text.replace(reporter_name, mask_name(reporter_name) or "")
    if reporter_phone and len(reporter_phone) >= 5:
        text = text.replace(reporter_phone, mask_phone(reporter_phone) or "")
    text = ID_NUMBER.sub(lambda m: mask_id_number(m.group()) or "", text)
    text = MOBILE.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group())[-11:]) or "", text)
    text = LONG_NUMBER.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], text)
    text = EMAIL.sub(r"***@\1", text)
    text = HOUSE.sub(lambda m: "*" * len(m.group()), text)
    text = SELF_NAMED.sub(lambda m: m.group(1) + (mask_name(m.group(2)) or ""), text)
    return text[:DESCRIPTION_LIMIT]


# --- the documents ----------------------------------------------------------------------------


def discovery(url: str, changeset: str, contact: str, key_service: str) -> dict[str, Any]:
    endpoint = {
        "specification": SPECIFICATION,
        "url": url,
        "changeset": changeset,
        "type": "production",
        "formats": [MIME[f] for f in FORMATS],
    }
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [endpoint],
    }


def service(
    code: str, name: str, description: str, keywords: list[str], group: str
) -> dict[str, Any]:
    """One service of GET Service List. No service asks extra attributes (metadata false), and
    every request gets its id at once (type realtime)."""
    return {
        "service_code": code,
        "service_name": name,
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": group,
    }


def service_definition(code: str) -> dict[str, Any]:
    return {"service_code": code, "attributes": []}


def created(service_request_id: str, notice: str) -> dict[str, Any]:
    """POST Service Request's answer: the id at once, so no token."""
    return {"service_request_id": service_request_id, "service_notice": notice, "account_id": None}


def token(service_request_id: str, token_id: str) -> dict[str, Any]:
    return {"service_request_id": service_request_id, "token": token_id}


def service_request(
    *,
    service_request_id: str,
    status: str,
    status_notes: str | None,
    service_name: str,
    service_code: str,
    description: str,
    agency_responsible: str | None,
    requested: datetime,
    updated: datetime,
    expected: datetime | None,
    address: str | None,
    address_id: str | None,
    lat: float | None,
    lon: float | None,
    tz: tzinfo,
) -> dict[str, Any]:
    """One request of GET Service Request(s), fields in the spec's order. The caller passes the
    description already made public (`public_text`) and only a region chain as the address."""
    return {
        "service_request_id": service_request_id,
        "status": status,
        "status_notes": status_notes,
        "service_name": service_name,
        "service_code": service_code,
        "description": description,
        "agency_responsible": agency_responsible,
        "service_notice": None,
        "requested_datetime": w3c(requested, tz),
        "updated_datetime": w3c(updated, tz),
        "expected_datetime": w3c(expected, tz),
        "address": address,
        "address_id": address_id,
        "zipcode": None,
        "lat": rounded(lat),
        "long": rounded(lon),
        "media_url": None,
    }


def errors(code: int, description: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": description}]


def render(fmt: str, root: str, body: list[Any] | dict[str, Any]) -> bytes:
    """The document in `fmt` (xml or json), UTF-8. `root` names the XML root element; JSON has
    no root (a list, or the object itself), as the spec's examples show."""
    if fmt == "json":
        # A lone surrogate cannot be UTF-8: it becomes '?' rather than a failed answer.
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "replace")
    element = ET.Element(root)
    _fill(element, root, body)
    return (XML_DECLARATION + ET.tostring(element, encoding="unicode")).encode("utf-8")


def _fill(element: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, list):
        item = ITEM[tag]
        for v in value:
            _fill(ET.SubElement(element, item), item, v)
    elif isinstance(value, dict):
        for key, v in value.items():
            _fill(ET.SubElement(element, key), key, v)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = NOT_XML.sub("", str(value))
