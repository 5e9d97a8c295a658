"""Training the topic classifier (分类模型训练) on a city's own history — a CSV or Excel export of
past appeals, or the cases in this database — and scoring it. `triage/store.py` stores the fitted
model as the next version.

Training holds a share of each class out, scores a model fitted on the rest against it, then
fits the stored model on every row: the hold-out figures estimate the stored model's quality (a
little pessimistically). Texts pass through `classifier.clean`, which removes phone, ID and card
numbers before they become features; nothing here logs a text.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.errors import InvalidInput
from chengzhi.models import Case, Category
from chengzhi.readers import decode
from chengzhi.triage import classifier
from chengzhi.triage.classifier import Evaluation, Model

HOLDOUT = 0.2  # share of each class held out to score a new version
MIN_COUNT = 2  # a class needs two examples to be learnt (and calibrated) at all
TOP_CONFUSIONS = 20
EXCEL = (".xlsx", ".xlsm")
# Cases that are not an appeal of their own (cases.workflow.Status; cases sits above triage).
NOT_HISTORY = ("cancelled", "merged")


# ---------------------------------------------------------------------------------------------
# Training data


@dataclass(frozen=True)
class Dataset:
    """Training data: texts as `classifier.prepare` makes them, their labels, and what was left
    out — rows without text or label (`skipped`), classes too rare to learn (`dropped`)."""

    source: str
    texts: list[str]
    labels: list[str]
    read: int  # rows read, before anything was left out
    skipped: dict[str, int] = field(default_factory=dict)  # reason → rows
    dropped: dict[str, int] = field(default_factory=dict)  # label → rows

    def without_rare(self, minimum: int) -> Dataset:
        """The rows of classes with at least `minimum` examples; the others in `dropped`."""
        counts = Counter(self.labels)
        rare = {label: n for label, n in sorted(counts.items()) if n < minimum}
        if not rare:
            return self
        keep = [i for i, label in enumerate(self.labels) if label not in rare]
        return replace(
            self,
            texts=[self.texts[i] for i in keep],
            labels=[self.labels[i] for i in keep],
            dropped={**self.dropped, **rare},
        )


def read_file(path: Path, text_columns: Sequence[str], label_column: str) -> Dataset:
    """Labelled appeals from a CSV (UTF-8 or GB18030) or .xlsx file with a header row. Several
    text columns are joined as `classifier.prepare` joins title and body; rows with an empty
    text or label are skipped and counted."""
    wanted = [c.strip() for c in text_columns if c.strip()]
    if not wanted or not label_column.strip():
        raise InvalidInput("请指定文本列和标签列 (name the text columns and the label column)")
    if path.suffix.lower() == ".xls":
        raise InvalidInput(f"{path}: 请另存为 .xlsx 或 .csv (save old .xls files as .xlsx or .csv)")
    header, rows = _excel(path) if path.suffix.lower() in EXCEL else _csv(path)
    *text_at, label_at = (_column(path, header, name) for name in (*wanted, label_column))
    texts, labels, skipped, read = [], [], Counter[str](), 0
    for row in rows:
        read += 1
        text = joined(_cell(row, i) for i in text_at)
        label = _cell(row, label_at).strip()
        if not text or not label:
            skipped["empty_text" if not text else "empty_label"] += 1
            continue
        texts.append(text)
        labels.append(label)
    return Dataset(path.name, texts, labels, read, dict(skipped))


def read_cases(session: Session, since: datetime | None = None) -> Dataset:
    """The city's own history: cases with a category, except cancelled and merged ones, each
    labelled "kind:code" (e.g. "matter:06010"), registered at or after `since`."""
    query = (
        select(Case.title, Case.description, Category.kind, Category.code)
        .join(Category, Case.category_id == Category.id)
        .where(Case.status.not_in(NOT_HISTORY))
        .order_by(Case.id)
        .execution_options(yield_per=2000)
    )
    if since is not None:
        query = query.where(Case.registered_at >= since)
    texts, labels, skipped, read = [], [], Counter[str](), 0
    for title, description, kind, code in session.execute(query):
        read += 1
        text = classifier.prepare(title, description)
        if not text:
            skipped["empty_text"] += 1
            continue
        texts.append(text)
        labels.append(f"{kind}:{code}")
    return Dataset("cases", texts, labels, read, dict(skipped))


def joined(parts: Iterable[str]) -> str:
    """Text columns as one text, joined the way `classifier.prepare` joins title and body."""
    first, *rest = [p.strip() for p in parts if p and p.strip()] or [""]
    return classifier.prepare(first, "。".join(rest))


def _csv(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    text, _ = decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = _checked(path, reader)
    header = next(rows, None)
    if header is None:
        raise InvalidInput(f"{path}: 文件为空 (empty file)")
    return header, rows


def _checked(path: Path, reader: Any) -> Iterator[list[str]]:
    """The non-blank rows; a malformed one is an error naming its line."""
    try:
        yield from (row for row in reader if any(map(str.strip, row)))
    except csv.Error as e:
        raise InvalidInput(f"{path}:{reader.line_num}: CSV 格式有误 (malformed CSV: {e})") from e


def _excel(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    """The first sheet's rows as text; the first non-empty row is the header."""
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: 文件不存在 (no such file)") from e
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as e:
        raise InvalidInput(f"{path}: 无法读取 Excel 文件 (not a readable .xlsx file)") from e
    try:
        sheet = book.worksheets[0]
        rows = [
            ["" if v is None else str(v) for v in values]
            for values in sheet.iter_rows(values_only=True)
            if any(v is not None and str(v).strip() for v in values)
        ]
    finally:
        book.close()
    if not rows:
        raise InvalidInput(f"{path}: 文件为空 (empty file)")
    return rows[0], iter(rows[1:])


def _column(path: Path, header: list[str], name: str) -> int:
    names = [h.strip().lstrip("\ufeff").casefold() for h in header]
    try:
        return names.index(name.strip().casefold())
    except ValueError:
        shown = ", ".join(h.strip().lstrip("\ufeff") for h in header)
        raise InvalidInput(
            f"{path}: 缺少列 {name}，表头为：{shown} (no column {name!r}; the header is: {shown})"
        ) from None


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


# ---------------------------------------------------------------------------------------------
# Training


def train_from_file(
    path: Path,
    text_columns: Sequence[str],
    label_column: str,
    *,
    holdout: float = HOLDOUT,
    min_count: int = MIN_COUNT,
    seed: int = 0,
) -> tuple[Model, dict[str, Any]]:
    """A model fitted on a file of labelled appeals, and its metrics (see `train_dataset`)."""
    data = read_file(path, text_columns, label_column)
    return train_dataset(data, holdout=holdout, min_count=min_count, seed=seed)


def train_from_cases(
    session: Session,
    since: datetime | None = None,
    *,
    holdout: float = HOLDOUT,
    min_count: int = MIN_COUNT,
    seed: int = 0,
) -> tuple[Model, dict[str, Any]]:
    """A model fitted on the city's own cases (`read_cases`), and its metrics."""
    data = read_cases(session, since)
    return train_dataset(data, holdout=holdout, min_count=min_count, seed=seed)


def train_dataset(
    data: Dataset, *, holdout: float = HOLDOUT, min_count: int = MIN_COUNT, seed: int = 0
) -> tuple[Model, dict[str, Any]]:
    """A model fitted on every row of the classes with at least `min_count` examples, and its
    metrics: what was read, skipped and dropped, and the scores on a held-out share of each
    class of a model fitted on the rest (None when `holdout` is 0 or every class is tiny)."""
    if not 0 <= holdout < 0.5:
        raise InvalidInput(f"留出比例应在 0 到 0.5 之间 (holdout must lie in [0, 0.5): {holdout})")
    started = time.perf_counter()
    data = data.without_rare(max(min_count, MIN_COUNT))
    try:
        classifier.check_training_data(data.texts, data.labels)
        figures = held_out_scores(data, holdout, seed) if holdout else None
        model = classifier.train(data.texts, data.labels, seed=seed)
    except ValueError as e:
        raise InvalidInput(f"{data.source}: {e}") from e
    metrics = {
        "source": data.source,
        "rows_read": data.read,
        "rows": len(data.texts),
        "skipped": data.skipped,
        "dropped_classes": data.dropped,
        "classes": len(model.labels),
        "class_counts": model.meta["classes"],
        "holdout": figures,
        "seconds": round(time.perf_counter() - started, 3),
        "model": {k: v for k, v in model.meta.items() if k not in ("classes", "n_samples")},
    }
    return model, metrics


def held_out_scores(data: Dataset, fraction: float, seed: int) -> dict[str, Any] | None:
    """Scores on `fraction` of each class of a model fitted on the rest."""
    fit, test = split(data.labels, fraction, seed)
    if not test:
        return None
    model = classifier.train([data.texts[i] for i in fit], [data.labels[i] for i in fit], seed=seed)
    started = time.perf_counter()
    ranked = model.predict([data.texts[i] for i in test], k=3)
    seconds = max(time.perf_counter() - started, 1e-9)
    truth = [data.labels[i] for i in test]
    found = classifier.score(
        truth, [[label for label, _ in top] for top in ranked], 1, 0.0, len(test) / seconds
    )
    return {
        "fraction": fraction,
        "rows": found.n_samples,
        "accuracy": round(found.accuracy, 4),
        "macro_f1": round(found.macro_f1, 4),
        "top3_accuracy": round(found.top3_accuracy, 4),
        "per_class": [
            {"label": c.label, "precision": round(c.precision, 4), "recall": round(c.recall, 4)}
            | {"f1": round(c.f1, 4), "support": c.support}
            for c in found.per_class
        ],
        "top_confusions": [
            {"label": t, "predicted": p, "count": n} for t, p, n in confusions(found)
        ],
        "predict_per_second": round(found.predict_per_second),
    }


def split(labels: Sequence[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(fit, test) row indices: `fraction` of each class, rounded down, in the test part, so
    every class keeps at least two examples to fit on."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    fit: list[int] = []
    test: list[int] = []
    for label in sorted(by_label):
        rows = rng.permutation(by_label[label]).tolist()
        cut = int(len(rows) * fraction)
        test += rows[:cut]
        fit += rows[cut:]
    return sorted(fit), sorted(test)


def confusions(evaluation: Evaluation, limit: int = TOP_CONFUSIONS) -> list[tuple[str, str, int]]:
    """The most frequent mistakes: (true label, predicted label, count), most frequent first."""
    labels, matrix = evaluation.labels, evaluation.confusion
    found = [
        (labels[i], labels[j], n)
        for i, row in enumerate(matrix)
        for j, n in enumerate(row)
        if i != j and n
    ]
    return sorted(found, key=lambda t: (-t[2], t[0], t[1]))[:limit]
