"""Rows of a historical import → appeals (列映射): the `column=field` mapping checked against
the fields an appeal has and the file's header, and each row's cells read into an `Order` — the
appeal, its idempotency key and its historical time. A cell that cannot be read refuses its row,
naming the field, never the cell's content. Pure: no database (`intake/importer.py` runs it)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chengzhi.config import get_settings
from chengzhi.errors import InvalidInput
from chengzhi.intake.importer_files import cell_text
from chengzhi.intake.service import Appeal, Key
from chengzhi.models import Channel, RequestType, Urgency

# The Appeal fields a column may fill, and `time` (the order's registration time).
FIELDS = (
    "text",
    "title",
    "request_type",
    "category",
    "urgency",
    "lon",
    "lat",
    "crs",
    "address",
    "reporter_name",
    "reporter_phone",
    "source_ref",
    "time",
)
# Column widths of the case row: a longer value is refused here rather than by the database.
LIMITS = {"reporter_name": 64, "reporter_phone": 20, "source_ref": 100}
FIELD_ZH = {"reporter_name": "姓名", "reporter_phone": "电话", "source_ref": "工单编号"}
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H时%M分%S秒",
    "%Y年%m月%d日%H时%M分",
    "%Y年%m月%d日",
    "%Y%m%d%H%M%S",
)
Ref = tuple[str, str]  # (kind, code) of a category


def _labels(enum: Iterable[Any]) -> dict[str, Any]:
    """A member by its value, Chinese label or English label (case-insensitive)."""
    return {name.lower(): m for m in enum for name in (m.value, m.zh, m.en)}


REQUEST_TYPES = _labels(RequestType)
URGENCIES = _labels(Urgency)


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """`column=field` pairs → {field: column}. Unknown fields, a field mapped twice, or no `text`
    are refused before anything is read."""
    out: dict[str, str] = {}
    for pair in pairs:
        column, sep, name = pair.rpartition("=")
        column, name = column.strip(), name.strip()
        if not sep or not column:
            raise InvalidInput(f"映射应为 列名=字段 (a mapping is column=field, got {pair!r})")
        if name in out:
            raise InvalidInput(f"字段 {name} 映射了两次 (field {name} is mapped twice)")
        out[name] = column
    return checked_mapping(out)


def checked_mapping(fields: Mapping[str, str]) -> dict[str, str]:
    unknown = [name for name in fields if name not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"未知字段 {', '.join(unknown)} (unknown field; one of {', '.join(FIELDS)})"
        )
    if "text" not in fields:
        raise InvalidInput("必须映射诉求内容 text (map a column to text, e.g. 诉求内容=text)")
    return dict(fields)


def columns(path: Path, header: list[str], fields: Mapping[str, str]) -> dict[str, int]:
    """field → its column's index; a mapped column missing from the header (or there twice) is
    refused before anything is stored."""
    missing = [c for c in fields.values() if c not in header]
    if missing:
        raise InvalidInput(
            f"{path.name}: 表头中没有列 {', '.join(missing)} "
            f"(columns not in the header; found: {', '.join(header)})"
        )
    twice = [c for c in fields.values() if header.count(c) > 1]
    if twice:
        raise InvalidInput(f"{path.name}: 列名重复 {', '.join(twice)} (column named twice)")
    return {name: header.index(column) for name, column in fields.items()}


@dataclass(frozen=True, slots=True)
class Order:
    """One row, read: the appeal, its idempotency key and its historical time."""

    row: int
    appeal: Appeal
    key: str
    at: datetime | None


class RowReader:
    """Turns a row's cells into an `Order`; a cell it cannot read refuses the row (InvalidInput,
    naming the field and what it accepts, never the cell's content)."""

    def __init__(
        self, indexes: dict[str, int], categories: dict[str, Ref | None], now: datetime
    ) -> None:
        self.indexes = indexes
        self.categories = categories
        self.tz = ZoneInfo(get_settings().timezone)
        self.now = now

    def order(self, number: int, cells: tuple[Any, ...], scope: str) -> Order:
        raw = {f: cells[i] if i < len(cells) else None for f, i in self.indexes.items()}
        values = {f: cell_text(v) for f, v in raw.items() if f != "time"}
        ref = values.get("source_ref") or None
        for name, limit in LIMITS.items():
            if len(values.get(name) or "") > limit:
                raise InvalidInput(f"{FIELD_ZH[name]}过长 ({name} longer than {limit} characters)")
        appeal = Appeal(
            text=values["text"],
            channel=Channel.IMPORT,
            title=values.get("title") or None,
            request_type=_choice(values.get("request_type"), REQUEST_TYPES, "诉求类型", RT_HELP),
            category=self._category(values.get("category")),
            urgency=_choice(values.get("urgency"), URGENCIES, "紧急程度", URGENCY_HELP),
            lon=_number(values.get("lon"), "经度 lon"),
            lat=_number(values.get("lat"), "纬度 lat"),
            crs=_crs(values.get("crs")),
            address=values.get("address") or None,
            reporter_name=values.get("reporter_name") or None,
            reporter_phone=values.get("reporter_phone") or None,
            source_ref=ref,
        )
        key = ref or _row_hash(values, raw.get("time"))
        Key(scope, key)  # refuses an order number that cannot be a key (control characters)
        at = self._time(raw["time"]) if "time" in raw else None
        return Order(number, appeal, key, at)

    def _category(self, value: str | None) -> Ref | None:
        if not value:
            return None
        kind, sep, code = value.partition(":")
        if sep and kind.strip() in ("component", "matter", "topic"):
            return kind.strip(), code.strip()
        if value not in self.categories:
            raise InvalidInput(
                "事项不在现行清单中 (category not in the current catalogue; "
                "give kind:code or a category name)"
            )
        ref = self.categories[value]
        if ref is None:
            raise InvalidInput("事项名称不唯一 (ambiguous category name; give kind:code)")
        return ref

    def _time(self, value: Any) -> datetime:
        if not cell_text(value):
            raise InvalidInput("时间为空 (no time)")
        at = _parse_time(value)
        if at is None:
            raise InvalidInput(f"时间无法识别 (time not understood; {TIME_HELP})")
        at = (at if at.tzinfo else at.replace(tzinfo=self.tz)).astimezone(self.tz)
        if at > self.now:
            raise InvalidInput("时间晚于当前时间 (the time is in the future)")
        return at


RT_HELP = "咨询/求助/投诉/举报/建议/表扬 or inquiry/help/complaint/report/suggestion/praise"
URGENCY_HELP = "一般/紧急/特急 or normal/urgent/critical"
TIME_HELP = "e.g. 2024-03-05 08:30, 2024/3/5 8:30, 2024年3月5日 8:30"


def _choice(value: str | None, choices: dict[str, Any], what: str, help: str) -> Any:
    if not value:
        return None
    found = choices.get(value.lower())
    if found is None:
        raise InvalidInput(f"{what}无法识别 (unknown value; expected {help})")
    return found


def _number(value: str | None, what: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidInput(f"{what} 不是数字 (not a number)")
    return number


def _crs(value: str | None) -> str:
    crs = (value or "wgs84").lower().replace("-", "")
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput("坐标系应为 wgs84 或 gcj02 (crs must be wgs84 or gcj02)")
    return crs


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = cell_text(value)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _row_hash(values: dict[str, str], at: Any) -> str:
    """The key of a row without an order number: its mapped cells, so the same row is the same
    order on every run (and two identical rows are one order)."""
    blob = json.dumps([values, cell_text(at)], ensure_ascii=False, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()
