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
report no personal data; logs name the topic, the device and the reason, never the payload."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from paho.mqtt.client import topic_matches_sub
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from chengzhi.cases import service as cases
from chengzhi.clock import Clock
from chengzhi.config import get_settings
from chengzhi.errors import Conflict, DomainError, InvalidInput
from chengzhi.intake import service as intake
from chengzhi.models import Channel, RequestType, Urgency

log = logging.getLogger(__name__)

DATA_FILE = Path(__file__).with_name("data") / "sensors.yaml"
PAYLOAD_LIMIT = 64 * 1024
MESSAGE_LIMIT = 500
# Device ids end up in the idempotency scope ("sensor:" + id, 64 characters at most) and logs.
DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,55}")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,100}")
CATEGORY = re.compile(r"(component|matter|topic):([0-9A-Z]{1,20})")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PLACEHOLDERS = ("device", "code", "value", "at", "message", "topic")
CRS = ("wgs84", "gcj02")
MISSING = "—"
FILE_KEYS = {"subscribe", "request_type", "alarms"}
ALARM_KEYS = {
    "name",
    "topic",
    "code",
    "category",
    "urgency",
    "request_type",
    "title",
    "description",
}

Result = Literal["opened", "folded", "again", "rejected"]


@dataclass(frozen=True, slots=True)
class Alarm:
    """One line of the map: what a matching message becomes."""

    name: str
    topic: str | None  # an MQTT topic filter; None: any topic
    code: str | None  # the payload's alarm code; None: any code
    category: tuple[str, str]
    urgency: Urgency
    request_type: RequestType
    title: str
    description: str

    def matches(self, topic: str, code: str | None) -> bool:
        if self.code is not None and self.code != code:
            return False
        return self.topic is None or topic_matches_sub(self.topic, topic)


@dataclass(frozen=True, slots=True)
class Mapping:
    """The alarms in order (the first match wins) and the topic filters to subscribe to."""

    alarms: tuple[Alarm, ...]
    subscribe: tuple[str, ...]
    source: str

    def find(self, topic: str, code: str | None) -> Alarm | None:
        return next((a for a in self.alarms if a.matches(topic, code)), None)


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


# -- the map ------------------------------------------------------------------------------------


def load_mapping(path: Path | None = None) -> Mapping:
    """The alarm map in a YAML file (default: the shipped one), checked whole: every problem is
    named at once. Categories are checked against the catalogue by `check_categories`."""
    source = path or DATA_FILE
    try:
        doc = yaml.safe_load(source.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InvalidInput(
            f"无法读取传感器映射 {source} (cannot read the sensor map): {_short(e)}"
        ) from e
    return parse_mapping(doc, source.name)


def parse_mapping(doc: Any, source: str = "sensors.yaml") -> Mapping:
    problems: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("alarms"), list) or not doc["alarms"]:
        problems.append("须为含 alarms 列表的映射 (must be a mapping with a list of alarms)")
        raise _invalid(source, problems)
    if unknown := sorted(set(doc) - FILE_KEYS, key=str):
        problems.append(f"未知字段 unknown keys: {', '.join(map(str, unknown))}")
    default_type = _request_type(doc.get("request_type", "help"), "request_type", problems)
    alarms: list[Alarm] = []
    names: set[str] = set()
    for i, raw in enumerate(doc["alarms"], 1):
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str):
            if name in names:
                problems.append(f"alarms[{i}]: 名称重复 duplicate name {name!r}")
            names.add(name)
        alarm = _alarm(raw, f"alarms[{i}]", default_type, problems)
        if alarm is not None:
            alarms.append(alarm)
    subscribe = doc.get("subscribe")
    if subscribe is None:
        subscribe = list(dict.fromkeys(a.topic for a in alarms if a.topic))
    elif not isinstance(subscribe, list) or not subscribe:
        problems.append("subscribe: 须为主题列表 (must be a list of topic filters)")
        subscribe = []
    for t in subscribe:
        if (why := topic_problem(t)) is not None:
            problems.append(f"subscribe: {why}")
    if problems:
        raise _invalid(source, problems)
    return Mapping(tuple(alarms), tuple(subscribe), source)


def _alarm(raw: Any, where: str, default_type: RequestType, problems: list[str]) -> Alarm | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: 须为映射 (must be a mapping)")
        return None
    count = len(problems)
    name = raw.get("name")
    where = f"{where} {name}" if isinstance(name, str) else where
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        problems.append(f"{where}: name 须为 1–40 个字符 (name: 1–40 characters)")
    if unknown := sorted(set(raw) - ALARM_KEYS, key=str):
        problems.append(f"{where}: 未知字段 unknown keys: {', '.join(map(str, unknown))}")
    topic, code = raw.get("topic"), raw.get("code")
    if topic is None and code is None:
        problems.append(f"{where}: 须给出 topic 或 code (give a topic, a code or both)")
    if topic is not None and (why := topic_problem(topic)) is not None:
        problems.append(f"{where}: {why}")
    if code is not None and not (isinstance(code, str) and CODE.fullmatch(code)):
        problems.append(f"{where}: code 无效 (code: letters, digits, . _ -; got {code!r})")
    found = CATEGORY.fullmatch(str(raw.get("category", "")))
    if found is None:
        problems.append(f"{where}: category 须为 kind:code (category: component|matter|topic:CODE)")
    urgency = _urgency(raw.get("urgency", "normal"), where, problems)
    rtype = _request_type(raw.get("request_type", default_type.value), where, problems)
    title = _template(raw.get("title"), f"{where}: title", problems)
    description = _template(raw.get("description"), f"{where}: description", problems)
    if len(problems) > count or found is None:
        return None
    return Alarm(name, topic, code, (found[1], found[2]), urgency, rtype, title, description)


def topic_problem(pattern: Any) -> str | None:
    """Why this is not a valid MQTT topic filter (None when it is)."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > 200:
        return f"主题须为 1–200 个字符 (a topic filter: 1–200 characters, got {pattern!r})"
    levels = pattern.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return f"'#' 只能单独作为最后一级 ('#' must be the whole last level): {pattern}"
        if "+" in level and level != "+":
            return f"'+' 须单独占一级 ('+' must be a whole level): {pattern}"
    if CONTROL.search(pattern):
        return f"主题含控制字符 (control characters in the topic filter): {pattern!r}"
    return None


def _urgency(value: Any, where: str, problems: list[str]) -> Urgency:
    try:
        return Urgency(value)
    except ValueError:
        allowed = ", ".join(u.value for u in Urgency)
        problems.append(f"{where}: urgency 须为 {allowed} (got {value!r})")
        return Urgency.NORMAL


def _request_type(value: Any, where: str, problems: list[str]) -> RequestType:
    try:
        return RequestType(value)
    except ValueError:
        allowed = ", ".join(t.value for t in RequestType)
        problems.append(f"{where}: request_type 须为 {allowed} (got {value!r})")
        return RequestType.HELP


def _template(value: Any, where: str, problems: list[str]) -> str:
    """A str.format template using only the known placeholders, without format specs."""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: 须为非空文本 (must be non-empty text)")
        return ""
    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as e:
        problems.append(f"{where}: 模板无效 (bad template: {e})")
        return ""
    for _, field, spec, conversion in parts:
        if field is not None and (field not in PLACEHOLDERS or spec or conversion):
            allowed = " ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            problems.append(f"{where}: 未知占位符 {{{field}}} (placeholders: {allowed})")
    return value.strip()


def _invalid(source: str, problems: list[str]) -> InvalidInput:
    listed = "\n  ".join(problems)
    return InvalidInput(f"传感器映射 {source} 有误 (the sensor map is invalid):\n  {listed}")


def check_categories(session: Session, mapping: Mapping) -> None:
    """Every category the map names exists in the current catalogue (checked at start-up, so a
    typo is found before the first alarm rather than at it)."""
    problems = []
    for alarm in mapping.alarms:
        try:
            cases.find_category(session, alarm.category)
        except InvalidInput as e:
            problems.append(f"{alarm.name}: {e.message}")
    if problems:
        raise _invalid(mapping.source, problems)


# -- one message --------------------------------------------------------------------------------


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
            _short(topic),
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


def _short(value: object, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
