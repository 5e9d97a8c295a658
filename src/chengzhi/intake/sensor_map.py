"""The alarm map (报警映射) of sensor intake (`intake/sensors.py`): which MQTT topic pattern and/or
payload alarm code becomes which catalogue category, urgency, request type, title and
description. Read from YAML (`data/sensors.yaml` or a city's own file) and checked whole — every
problem named at once — and its categories against the current catalogue at start-up."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from paho.mqtt.client import topic_matches_sub
from sqlalchemy.orm import Session

from chengzhi.cases import service as cases
from chengzhi.errors import InvalidInput
from chengzhi.models import RequestType, Urgency

DATA_FILE = Path(__file__).with_name("data") / "sensors.yaml"
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
CATEGORY = re.compile(r"(component|matter|topic):([0-9A-Z]{1,20})")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PLACEHOLDERS = ("device", "code", "value", "at", "message", "topic")
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


def load_mapping(path: Path | None = None) -> Mapping:
    """The alarm map in a YAML file (default: the shipped one), checked whole: every problem is
    named at once. Categories are checked against the catalogue by `check_categories`."""
    source = path or DATA_FILE
    try:
        doc = yaml.safe_load(source.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InvalidInput(
            f"无法读取传感器映射 {source} (cannot read the sensor map): {shorten(e)}"
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


def shorten(value: object, limit: int = 200) -> str:
    """A value cut short for a log line or an error message."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
