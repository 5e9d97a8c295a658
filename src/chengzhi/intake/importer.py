"""Bulk import of a city's historical orders (历史工单导入): a CSV file (UTF-8 or GB18030) or an
Excel workbook, one order a row, its columns mapped onto intake's `Appeal` (`--map 诉求内容=text`)
and taken through `intake.service.submit` — the same checks and triage as any channel (classify,
locate, deduplicate, route), so history and live appeals are one set of cases.

- **Batches, each row in a savepoint.** One transaction per batch (500 rows by default) keeps the
  import fast; a row a check refuses (empty text, coordinates outside the city, an unknown
  category, a value that is not a number or a time) is rolled back to its savepoint and becomes
  one line of the rejected report — its row number and the reason, never its content, which is
  personal data — while the rest of the batch lands. Nothing of a refused row is stored.
- **Idempotent and resumable.** Each row is submitted under the key `import:<source>` + its
  order number (`source_ref`; a hash of the row's mapped cells when the file has none), so a
  re-run skips what is already there. A crash loses at most the batch in flight; running the
  same command again imports the rest and duplicates nothing.
- **Historical time.** A mapped `time` column becomes the case's registration time: each row is
  submitted with a clock frozen at it (a time without a zone is the city's local time).
- **Who.** An import is run by an administrator on the command line, not by an operator taking
  calls, so it is recorded as the platform's own intake: `service.PLATFORM`, the operator role
  (受理, the role the workflow lets register a case) without a person, as `service.AUTO` is the
  platform's own dispatcher; the channel is `import` (历史导入).
- **No dispatch by default.** History was handled in the system it comes from; dispatching it
  again would start stage clocks in the past, so every case would be overdue at once and the
  clock sweep would escalate years-old orders. `dispatch=True` is for moving a backlog of open
  orders from an old system (without `time`, or with recent times).

Files are streamed: a CSV is read twice (once to find its encoding and count its lines, once to
import), never held in memory whole; a workbook is read in openpyxl's read-only mode."""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any
from zipfile import BadZipFile
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock, SystemClock
from chengzhi.config import get_settings
from chengzhi.db import transaction
from chengzhi.errors import DomainError, InvalidInput
from chengzhi.intake.service import PLATFORM, Appeal, Item, Key, submit_many
from chengzhi.models import Category, Channel, IntakeKey, RequestType, Urgency
from chengzhi.progress import OnProgress, quiet
from chengzhi.readers import ENCODINGS

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
SCOPE_LIMIT = 64  # intake_keys.scope
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
CHUNK = 1 << 20
Ref = tuple[str, str]  # (kind, code) of a category


def _labels(enum: Iterable[Any]) -> dict[str, Any]:
    """A member by its value, Chinese label or English label (case-insensitive)."""
    return {name.lower(): m for m in enum for name in (m.value, m.zh, m.en)}


REQUEST_TYPES = _labels(RequestType)
URGENCIES = _labels(Urgency)


@dataclass
class ImportReport:
    """What one run did. `rejected` holds (row number, reason): the row as a spreadsheet shows
    it, the header being row 1."""

    source: str
    encoding: str | None = None
    rows: int = 0
    imported: int = 0
    skipped: int = 0  # already imported (an earlier run, or the same order earlier in the file)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    merged: int = 0  # imported, then merged into an earlier case as its sure duplicate
    dispatched: int = 0
    holds: Counter[str] = field(default_factory=Counter)  # left for a person, by reason
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "encoding": self.encoding,
            "rows": self.rows,
            "imported": self.imported,
            "skipped": self.skipped,
            "rejected": [{"row": n, "reason": r} for n, r in self.rejected],
            "merged": self.merged,
            "dispatched": self.dispatched,
            "holds": dict(self.holds),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rate, 1),
        }


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
    return _checked(out)


def _checked(fields: Mapping[str, str]) -> dict[str, str]:
    unknown = [name for name in fields if name not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"未知字段 {', '.join(unknown)} (unknown field; one of {', '.join(FIELDS)})"
        )
    if "text" not in fields:
        raise InvalidInput("必须映射诉求内容 text (map a column to text, e.g. 诉求内容=text)")
    return dict(fields)


def import_appeals(
    engine: Engine,
    path: Path,
    mapping: Mapping[str, str] | Sequence[str],
    *,
    source: str | None = None,
    batch: int = 500,
    dispatch: bool = False,
    limit: int | None = None,
    clock: Clock | None = None,
    on_progress: OnProgress = quiet,
) -> ImportReport:
    """Import the orders of a CSV or Excel file, committing every `batch` rows. `mapping` is
    {field: column} or `column=field` pairs; `source` names the import for its idempotency keys
    (default: the file's name); `limit` stops after that many data rows. Progress counts rows."""
    started = time.perf_counter()
    fields = _checked(mapping) if isinstance(mapping, Mapping) else parse_mapping(mapping)
    if batch < 1:
        raise InvalidInput("每批行数至少为 1 (batch must be at least 1)")
    run_clock = clock or SystemClock()
    scope = _scope(source or path.name)
    with _table(path) as table:
        indexes = _columns(path, table.header, fields)
        report = ImportReport(source or path.name, table.encoding)
        names = _category_names(engine) if "category" in fields else {}
        reader = _RowReader(indexes, names, run_clock.now())
        rows = table.rows if limit is None else islice(table.rows, limit)
        total = table.total if limit is None else min(limit, table.total)
        on_progress(0, total)
        while chunk := list(islice(rows, batch)):
            with transaction(engine) as session:
                _import_batch(session, run_clock, scope, chunk, reader, dispatch, report)
            on_progress(report.rows, max(total, report.rows))
    report.rejected.sort()  # refused on reading, then by intake: back in the file's order
    report.seconds = time.perf_counter() - started
    return report


# ---------------------------------------------------------------------------------------------
# One batch


@dataclass(frozen=True, slots=True)
class Order:
    """One row, read: the appeal, its idempotency key and its historical time."""

    row: int
    appeal: Appeal
    key: str
    at: datetime | None


def _import_batch(
    session: Session,
    clock: Clock,
    scope: str,
    chunk: list[tuple[int, tuple[Any, ...]]],
    reader: _RowReader,
    dispatch: bool,
    report: ImportReport,
) -> None:
    """Read the rows, skip those already imported (one query for the batch) or repeated in it,
    and submit the rest together: intake classifies and locates the batch at once and stores it
    with one flush at the commit."""
    orders: list[Order] = []
    for number, cells in chunk:
        report.rows += 1
        try:
            orders.append(reader.order(number, cells, scope))
        except InvalidInput as e:
            report.rejected.append((number, e.message))
    taken = _taken(session, scope, [o.key for o in orders])
    first: dict[str, Order] = {}  # in this batch: the same order twice in the file
    todo: list[Order] = []
    for order in orders:
        if order.key in first:
            same = first[order.key].appeal == order.appeal
        elif order.key in taken:
            same = taken[order.key] == order.appeal.fingerprint()
        else:
            first[order.key] = order
            todo.append(order)
            continue
        if same:
            report.skipped += 1
        else:
            report.rejected.append((order.row, CHANGED))
    items = [Item(o.appeal, Key(scope, o.key), o.at) for o in todo]
    results = submit_many(session, clock, PLATFORM, items, auto_dispatch=dispatch)
    for order, result in zip(todo, results, strict=True):
        if isinstance(result, DomainError):
            report.rejected.append((order.row, result.message))
            continue
        report.imported += 1
        report.merged += result.merged_into is not None
        report.dispatched += result.dispatched
        if result.hold:
            report.holds[result.hold] += 1


CHANGED = "工单编号已导入，但内容不同 (this order number was imported with different content)"
KEYS_PER_QUERY = 1000  # well under SQLite's limit of bound parameters


def _taken(session: Session, scope: str, keys: list[str]) -> dict[str, str]:
    """key → request hash of the keys already taken in this import's scope."""
    taken: dict[str, str] = {}
    for i in range(0, len(keys), KEYS_PER_QUERY):
        part = keys[i : i + KEYS_PER_QUERY]
        query = select(IntakeKey.key, IntakeKey.request_hash).where(
            IntakeKey.scope == scope, IntakeKey.key.in_(part)
        )
        taken.update({key: digest for key, digest in session.execute(query)})
    return taken


# ---------------------------------------------------------------------------------------------
# Rows → appeals


class _RowReader:
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
        values = {f: _text(v) for f, v in raw.items() if f != "time"}
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
        if not _text(value):
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


def _text(value: Any) -> str:
    """A cell as text: Excel hands numbers over as numbers (an order number 2024030500012 as an
    int, sometimes as a float)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


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
    text = _text(value)
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
    blob = json.dumps([values, _text(at)], ensure_ascii=False, sort_keys=True)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _scope(source: str) -> str:
    """`import:<source>`, shortened (stably) to fit the key's scope column."""
    scope = f"import:{source.strip()}"
    if not source.strip() or any(not c.isprintable() for c in source):
        raise InvalidInput("来源名称无效 (--source must be visible characters)")
    if len(scope) <= SCOPE_LIMIT:
        return scope
    digest = hashlib.sha256(source.encode()).hexdigest()[:10]
    return f"{scope[: SCOPE_LIMIT - 11]}~{digest}"


def _category_names(engine: Engine) -> dict[str, Ref | None]:
    """Name → (kind, code) in the current catalogue; None for a name several categories share."""
    with transaction(engine) as session:
        version = catalog.current_version(session)
        if version is None:
            return {}
        rows = session.execute(
            select(Category.name, Category.kind, Category.code).where(
                Category.version_id == version.id
            )
        ).all()
    names: dict[str, Ref | None] = {}
    for name, kind, code in rows:
        names[name] = None if name in names else (kind, code)
    return names


# ---------------------------------------------------------------------------------------------
# Files


@dataclass
class Table:
    """A file's header and its data rows as (row number, cells), read lazily."""

    header: list[str]
    rows: Iterator[tuple[int, tuple[Any, ...]]]
    total: int  # data rows, as far as can be told before reading them (for the progress bar)
    encoding: str | None = None


def _columns(path: Path, header: list[str], fields: Mapping[str, str]) -> dict[str, int]:
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


@contextmanager
def _table(path: Path) -> Iterator[Table]:
    if not path.is_file():
        raise InvalidInput(f"{path}: 文件不存在 (no such file)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with _csv(path) as table:
            yield table
    elif suffix == ".xlsx":
        with _xlsx(path) as table:
            yield table
    else:
        raise InvalidInput(f"{path}: 只支持 .csv 和 .xlsx (unsupported file type)")


@contextmanager
def _csv(path: Path) -> Iterator[Table]:
    encoding, lines = _sniff(path)
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        header = _header(path, next(reader, None))
        rows = _records(path, reader)
        yield Table(header, rows, max(lines - 1, 0), encoding.removesuffix("-sig"))


def _records(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(row number, cells) of the non-empty rows. A row the CSV reader cannot parse stops the
    import there, naming it: what follows cannot be read reliably. Batches before it are kept."""
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInput(
                f"{path.name}: 第 {number + 1} 行无法解析 (row {number + 1}: malformed CSV: {e})"
            ) from e
        number += 1
        if any(cells):
            yield number, tuple(cells)


def _sniff(path: Path) -> tuple[str, int]:
    """The file's encoding (UTF-8 first: GB18030 text is almost never valid UTF-8, while nearly
    any bytes are GB18030) and its number of lines, in one streaming pass."""
    decoders = {e: codecs.getincrementaldecoder(e)() for e in ENCODINGS}
    valid = dict.fromkeys(ENCODINGS, True)
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            for encoding, decoder in decoders.items():
                valid[encoding] = valid[encoding] and _decodes(decoder, chunk)
    for encoding in ENCODINGS:
        if valid[encoding] and _decodes(decoders[encoding], b"", final=True):
            return encoding, lines + (last != b"\n")
    raise InvalidInput(f"{path}: 无法识别的文件编码 (not UTF-8 or GB18030)")


def _decodes(decoder: codecs.IncrementalDecoder, chunk: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError:
        return False
    return True


@contextmanager
def _xlsx(path: Path) -> Iterator[Table]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as e:
        raise InvalidInput(f"{path}: 无法读取 Excel 文件 (cannot read the workbook)") from e
    try:
        sheet = book.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        first = next(cells, None)
        header = _header(path, [_text(c) for c in first] if first else None)
        rows = (
            (n, row)
            for n, row in enumerate(cells, start=2)
            if any(c is not None and _text(c) for c in row)
        )
        yield Table(header, rows, max((sheet.max_row or 1) - 1, 0))
    finally:
        book.close()


def _header(path: Path, cells: list[str] | None) -> list[str]:
    header = [c.strip().lstrip("\ufeff") for c in cells or []]
    if not any(header):
        raise InvalidInput(f"{path}: 文件为空或没有表头 (empty file or no header row)")
    return header
