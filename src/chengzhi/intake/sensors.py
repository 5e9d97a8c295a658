"""物联感知 (sensor alarms): one MQTT message from a field device — a manhole cover that tilts,
water over its line, smoke, a full bin — becomes an appeal through intake's one door (`submit`).

What an alarm means is data, not code: `data/sensors.yaml` (or a city's own file) maps a topic
pattern with MQTT wildcards and/or the alarm code in the payload to a catalogue category, an
urgency and the case's title and description. The same device alarming again while its case is
open folds into that case (a REPEAT on its timeline, within `sensor_fold_minutes`) instead of
a flood of cases, and a message the broker delivers twice (QoS 1) is taken once: its
idempotency key is the device and the message id, else a hash of the message.

The payload is a JSON object in UTF-8; only `device` is required (and `code` where the map
matches on it):

    {"device": "MH-0001", "code": "tilt", "lon": 106.5, "lat": 29.5, "crs": "wgs84",
     "value": 12.5, "at": "2026-11-02T08:00:00+08:00", "message": "…", "id": "42"}

A malformed message (not JSON, no device, bad coordinates, an alarm the map does not know, a
place outside the city) is rejected with a logged reason and leaves nothing behind. Devices
report no personal data; logs name the topic, the device and the reason, never the payload.

The alarm map (topic/code → category, urgency, texts) is `sensor_map`."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.errors import Conflict, DomainError, InvalidInput
from chengzhi.intake import service as intake
from chengzhi.intake.sensor_map import CODE, CONTROL, Alarm, Mapping, shorten
from chengzhi.models import Channel

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 64 * 1024
MESSAGE_LIMIT = 500
# Device ids end up in the idempotency scope ("sensor:" + id, 64 characters at most) and logs.
DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,55}")
MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,100}")
CRS = ("wgs84", "gcj02")
MISSING = "—"

Result = Literal["opened", "folded", "again", "rejected"]


@dataclass(frozen=True, slots=True)
class Reading:
    """A payload, checked."""

    device: str
    code: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    value: float | None = None
    at: datetime | None = None
    message: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message did: opened a case, folded into an open one, was taken before (a
    redelivery), or was rejected (with the reason)."""

    result: Result
    case: str | None = None  # the case number
    device: str | None = None
    alarm: str | None = None
    reason: str | None = None
    dispatched: bool = False
    hold: str | None = None
    merged_into: str | None = None


def parse_payload(payload: bytes) -> Reading:
    """The payload checked; InvalidInput names what is wrong without repeating the payload."""
    if len(payload) > PAYLOAD_LIMIT:
        raise InvalidInput(f"报文超过 {PAYLOAD_LIMIT} 字节 (payload over {PAYLOAD_LIMIT} bytes)")
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidInput("报文不是 UTF-8 JSON (the payload is not UTF-8 JSON)") from e
    if not isinstance(doc, dict):
        raise InvalidInput("报文须为 JSON 对象 (the payload must be a JSON object)")
    device = doc.get("device")
    if not isinstance(device, str) or not DEVICE.fullmatch(device):
        raise InvalidInput("缺少或无效的设备编号 (device: 1–56 letters, digits, . _ : -, required)")
    code = doc.get("code")
    if code is not None and not (isinstance(code, str) and CODE.fullmatch(code)):
        raise InvalidInput("报警代码无效 (code: letters, digits, . _ -, at most 40)")
    lon, lat = _number(doc, "lon"), _number(doc, "lat")
    if (lon is None) != (lat is None):
        raise InvalidInput("经纬度须同时给出 (give both lon and lat)")
    if lon is not None and lat is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("经纬度超出范围 (lon or lat out of range)")
    crs = doc.get("crs", "wgs84")
    if crs not in CRS:
        raise InvalidInput(f"坐标系须为 {' 或 '.join(CRS)} (crs: {' or '.join(CRS)})")
    return Reading(
        device, code, lon, lat, crs, _number(doc, "value"), _at(doc), _message(doc), _id(doc)
    )


def _number(doc: dict[str, Any], name: str) -> float | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{name} 须为有限数值 ({name} must be a finite number)")
    return float(value)


def _at(doc: dict[str, Any]) -> datetime | None:
    value = doc.get("at")
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput("at 须为带时区的 ISO 8601 时间 (at: ISO 8601 with a UTC offset)")
    return at


def _message(doc: dict[str, Any]) -> str | None:
    value = doc.get("message")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("message 须为文本 (message must be text)")
    # A device's free text: kept readable and short, never a reason to lose the alarm.
    return CONTROL.sub(" ", value).strip()[:MESSAGE_LIMIT] or None


def _id(doc: dict[str, Any]) -> str | None:
    value = doc.get("id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not MESSAGE_ID.fullmatch(value):
        raise InvalidInput("id 须为 1–100 个可见字符 (id: 1–100 visible ASCII characters)")
    return value


def to_appeal(alarm: Alarm, reading: Reading, topic: str) -> intake.Appeal:
    """The appeal an alarm becomes: the map's category, urgency and texts; the device is the
    source (what folds repeats together)."""
    fields = {
        "device": reading.device,
        "code": reading.code or MISSING,
        "value": MISSING if reading.value is None else f"{reading.value:g}",
        "at": _local(reading.at),
        "message": reading.message or "",
        "topic": topic,
    }
    return intake.Appeal(
        text=alarm.description.format_map(fields).strip(),
        channel=Channel.SENSOR,
        title=alarm.title.format_map(fields).strip(),
        request_type=alarm.request_type,
        category=alarm.category,
        urgency=alarm.urgency,
        lon=reading.lon,
        lat=reading.lat,
        crs=reading.crs,
        source_ref=reading.device,
    )


def _local(at: datetime | None) -> str:
    if at is None:
        return MISSING
    return f"{at.astimezone(ZoneInfo(get_settings().timezone)):%Y-%m-%d %H:%M:%S}"


def message_key(reading: Reading, topic: str, payload: bytes) -> intake.Key:
    """Per device: the message id it sends, else a hash of the topic and payload (a device
    without ids that sends the very same bytes twice is taken once)."""
    digest = hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()
    return intake.Key(f"sensor:{reading.device}", reading.id or digest)


def fold_window() -> timedelta | None:
    minutes = get_settings().sensor_fold_minutes
    return timedelta(minutes=minutes) if minutes else None


def handle(session: Session, clock: Clock, mapping: Mapping, topic: str, payload: bytes) -> Outcome:
    """One message through intake, inside a savepoint: a rejected message leaves nothing
    behind. Database trouble (and a concurrent change to the same case) is raised, not
    rejected: the caller rolls back and the broker delivers the message again."""
    device = name = None
    try:
        reading = parse_payload(payload)
        device = reading.device
        alarm = mapping.find(topic, reading.code)
        if alarm is None:
            raise InvalidInput(
                f"映射中没有此报警 (no alarm in the map for this topic and code {reading.code!r})"
            )
        name = alarm.name
        with session.begin_nested():
            receipt = intake.submit(
                session,
                clock,
                intake.PLATFORM,
                to_appeal(alarm, reading, topic),
                key=message_key(reading, topic, payload),
                fold_within=fold_window(),
            )
    except DomainError as e:
        if isinstance(e, Conflict) and isinstance(e.__cause__, SQLAlchemyError):
            raise  # the same case changed meanwhile: worth another try, not a bad message
        log.warning(
            "传感器报警被拒 (sensor alarm rejected) topic=%s device=%s: %s",
            shorten(topic),
            device or "?",
            e.message,
        )
        return Outcome("rejected", device=device, alarm=name, reason=e.message)
    result: Result = "opened" if receipt.created else "folded" if receipt.folded else "again"
    log.info(
        "传感器报警 (sensor alarm) device=%s alarm=%s → %s %s",
        device,
        alarm.name,
        receipt.case.number,
        result,
    )
    return Outcome(
        result,
        receipt.case.number,
        device,
        alarm.name,
        dispatched=receipt.dispatched,
        hold=receipt.hold,
        merged_into=receipt.merged_into,
    )
