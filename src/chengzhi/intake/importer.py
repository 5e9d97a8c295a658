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
import), never held in memory whole; a workbook is read in openpyxl's read-only mode.

Reading the file: `importer_files`; the mapping and rows → appeals: `importer_rows`."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock, SystemClock
from chengzhi.db import transaction
from chengzhi.errors import DomainError, InvalidInput
from chengzhi.intake.importer_files import open_table
from chengzhi.intake.importer_rows import (
    Order,
    Ref,
    RowReader,
    checked_mapping,
    columns,
    parse_mapping,
)
from chengzhi.intake.service import PLATFORM, Item, Key, submit_many
from chengzhi.models import Category, IntakeKey
from chengzhi.progress import OnProgress, quiet

SCOPE_LIMIT = 64  # intake_keys.scope


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
    fields = checked_mapping(mapping) if isinstance(mapping, Mapping) else parse_mapping(mapping)
    if batch < 1:
        raise InvalidInput("每批行数至少为 1 (batch must be at least 1)")
    run_clock = clock or SystemClock()
    scope = _scope(source or path.name)
    with open_table(path) as table:
        indexes = columns(path, table.header, fields)
        report = ImportReport(source or path.name, table.encoding)
        names = _category_names(engine) if "category" in fields else {}
        reader = RowReader(indexes, names, run_clock.now())
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


def _import_batch(
    session: Session,
    clock: Clock,
    scope: str,
    chunk: list[tuple[int, tuple[Any, ...]]],
    reader: RowReader,
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
