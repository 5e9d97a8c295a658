"""Versions of the topic classifier (分类模型版本), and the suggestions the active one makes.

A city trains the classifier on its own history — a CSV or Excel export of past appeals, or the
cases in this database — and stores each fit as the next version. The administrator activates
one (启用); the others stay for comparison and roll-back. `classify` answers with the active
model's most likely labels, each mapped to a category of the current catalogue, so that intake
can file the case under it.

A stored model is unpickled once per process. Every call asks the database for the active row's
id and version — and the blob's size, which both databases know without reading the blob, so that
a restored database reusing ids is not mistaken for the old one — and loads the blob only when
they changed: the administrator's switch is seen by the next call in every web process and
worker.

Training holds a share of each class out, scores a model fitted on the rest against it, then
fits the stored model on every row: the hold-out figures estimate the stored model's quality (a
little pessimistically). Texts pass through `classifier.clean`, which removes phone, ID and card
numbers before they become features; nothing here logs a text.
"""

from __future__ import annotations

import csv
import io
import threading
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
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import DESK, Case, Category, Role, TriageModel
from chengzhi.readers import decode
from chengzhi.triage import classifier
from chengzhi.triage import requests as request_types
from chengzhi.triage import urgency as urgency_rules
from chengzhi.triage.classifier import Evaluation, Model

HOLDOUT = 0.2  # share of each class held out to score a new version
MIN_COUNT = 2  # a class needs two examples to be learnt (and calibrated) at all
TOP_CONFUSIONS = 20
EXCEL = (".xlsx", ".xlsm")
# Cases that are not an appeal of their own (cases.workflow.Status; cases sits above triage).
NOT_HISTORY = ("cancelled", "merged")
# A label naming a category is matched to a topic (诉求分类) first, then to a matter (事项).
NAME_ORDER = {"topic": 0, "matter": 1}
MANAGERS = frozenset({Role.ADMIN})
CLASSIFIERS = DESK


def authorise_manage(role: Role | None) -> None:
    """Only an administrator lists and activates model versions over the API (the CLI is
    trusted)."""
    if role not in MANAGERS:
        raise Forbidden("只有系统管理员可以管理分类模型 (only an administrator may manage models)")


def authorise_classify(role: Role | None) -> None:
    if role not in CLASSIFIERS:
        raise Forbidden("只有受理和派单人员可以使用分类建议 (only intake staff may classify)")


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


# ---------------------------------------------------------------------------------------------
# Versions


def save(
    session: Session, clock: Clock, model: Model, name: str, metrics: dict[str, Any]
) -> TriageModel:
    """A fitted model as the next version, not yet active."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("模型名称须为 1–100 个字 (a model name has 1 to 100 characters)")
    number = (session.scalar(select(func.max(TriageModel.version))) or 0) + 1
    row = TriageModel(
        version=number,
        name=name,
        active=False,
        labels=list(model.labels),
        metrics=metrics,
        trained_rows=int(model.meta["n_samples"]),
        blob=model.to_bytes(),
        created_at=clock.now(),
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as e:  # another version took the number first
        raise Conflict("刚有其他模型保存，请重试 (another model was saved meanwhile; retry)") from e
    return row


def activate(session: Session, version: int) -> TriageModel:
    """Make `version` the one active model. Every version row is locked first (they are few), so
    two administrators activating at once leave exactly one active."""
    session.execute(select(TriageModel.id).with_for_update()).all()
    row = session.scalar(
        select(TriageModel).options(defer(TriageModel.blob)).where(TriageModel.version == version)
    )
    if row is None:
        raise NotFound(f"没有第 {version} 版分类模型 (no model version {version})")
    session.execute(
        update(TriageModel)
        .where(TriageModel.active.is_(True), TriageModel.id != row.id)
        .values(active=False)
    )
    row.active = True
    session.flush()
    return row


def list_models(session: Session) -> list[TriageModel]:
    """Every version, newest first, without the blobs."""
    query = select(TriageModel).options(defer(TriageModel.blob))
    return list(session.scalars(query.order_by(TriageModel.version.desc())))


# ---------------------------------------------------------------------------------------------
# The active model, once per process


@dataclass(frozen=True)
class Suggestion:
    """One likely label with the model's confidence, and the current catalogue's category for
    it ((kind, code) and name) when there is one."""

    label: str
    confidence: float
    category: tuple[str, str] | None
    name: str | None


CategoryRef = tuple[str, str, str]  # kind, code, name


class _Loaded:
    """The active model as unpickled, and its labels' categories per catalogue version."""

    def __init__(self, key: tuple[int, int, int], model: Model) -> None:
        self.key = key  # row id, version, blob size
        self.model = model
        self.categories: dict[int, dict[str, CategoryRef | None]] = {}


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded: _Loaded | None = None

    def get(self, session: Session, key: tuple[int, int, int]) -> _Loaded:
        with self.lock:  # concurrent requests wait for one unpickling
            if self.loaded is None or self.loaded.key != key:
                blob = session.scalar(select(TriageModel.blob).where(TriageModel.id == key[0]))
                try:
                    model = Model.from_bytes(blob or b"")
                except ValueError as e:
                    raise Conflict(f"第 {key[1]} 版分类模型无法加载：{e}") from e
                self.loaded = _Loaded(key, model)
            return self.loaded


_cache = _Cache()


def active(session: Session) -> tuple[TriageModel, Model] | None:
    """The active version and its model, unpickled once per process; None when no version is
    active. The row comes without its blob and with `created_at` deferred: SQLite keeps that
    column behind the blob in the record, and reaching it walks the blob's overflow pages."""
    loaded = _active(session)
    if loaded is None:
        return None
    row = session.get(
        TriageModel, loaded.key[0], options=[defer(TriageModel.blob), defer(TriageModel.created_at)]
    )
    assert row is not None  # read in this transaction just now
    return row, loaded.model


def _active(session: Session) -> _Loaded | None:
    """The active model through the cache, after one query of columns stored before the blob
    (and the blob's size, which both databases know without reading the blob)."""
    found = session.execute(
        select(TriageModel.id, TriageModel.version, func.length(TriageModel.blob))
        .where(TriageModel.active.is_(True))
        .order_by(TriageModel.version.desc())
        .limit(1)
    ).one_or_none()
    if found is None:
        return None
    return _cache.get(session, (found[0], found[1], int(found[2])))


def classify(session: Session, text: str, k: int = 3) -> list[Suggestion] | None:
    """The k most likely labels of one appeal text ("title。body", as `classifier.prepare`
    makes it), most likely first; None when no model is active."""
    found = classify_many(session, [text], k)
    return None if found is None else found[0]


def classify_many(
    session: Session, texts: Sequence[str], k: int = 3
) -> list[list[Suggestion]] | None:
    """`classify` for many texts in one prediction (bulk import); None when no model is
    active."""
    found = _predict(session, texts, k)
    return None if found is None else found[1]


@dataclass(frozen=True)
class Triage:
    """What triage suggests for one appeal: the active model's version and top labels (none
    without an active model), the request type guess and the urgency flags."""

    model_version: int | None
    suggestions: list[Suggestion]
    request_type: str
    request_confidence: float
    urgency: urgency_rules.Assessment


def suggest(session: Session, title: str | None, text: str, k: int = 3) -> Triage:
    """Topic, request type (诉求类型) and urgency (紧急程度) suggestions for one appeal."""
    found = _predict(session, [classifier.prepare(title, text)], k)
    full = f"{title.strip()}。{text}" if title and title.strip() else text
    request_type, confidence = request_types.guess_request_type(full)
    return Triage(
        found[0] if found else None,
        found[1][0] if found else [],
        request_type,
        confidence,
        urgency_rules.assess(full),
    )


def _predict(
    session: Session, texts: Sequence[str], k: int
) -> tuple[int, list[list[Suggestion]]] | None:
    """(active version, top-k suggestions per text), or None without an active model."""
    if k < 1:
        raise InvalidInput(f"k 至少为 1 (k must be at least 1, got {k})")
    loaded = _active(session)
    if loaded is None:
        return None
    refs = _categories(session, loaded)
    return loaded.key[1], [
        [_suggestion(label, p, refs.get(label)) for label, p in top]
        for top in loaded.model.predict(list(texts), k)
    ]


def _suggestion(label: str, confidence: float, ref: CategoryRef | None) -> Suggestion:
    if ref is None:
        return Suggestion(label, round(confidence, 4), None, None)
    return Suggestion(label, round(confidence, 4), (ref[0], ref[1]), ref[2])


def _categories(session: Session, loaded: _Loaded) -> dict[str, CategoryRef | None]:
    """The model's labels mapped to the current catalogue, computed once per catalogue version
    (catalogue versions are never edited)."""
    current = catalog.current_version(session)
    number = current.number if current else 0
    with _cache.lock:
        refs = loaded.categories.get(number)
    if refs is None:
        refs = label_categories(session, loaded.model.labels, current.id if current else None)
        with _cache.lock:
            loaded.categories[number] = refs
    return refs


def label_categories(
    session: Session, labels: Sequence[str], version_id: int | None
) -> dict[str, CategoryRef | None]:
    """Each label's category in a catalogue version: a "kind:code" label names it; any other
    label equal to a category's name names that category (a topic before a matter, the higher
    in the tree first); otherwise None."""
    rows = (
        session.execute(
            select(Category.kind, Category.code, Category.name, Category.path).where(
                Category.version_id == version_id
            )
        ).all()
        if version_id is not None
        else []
    )
    by_code = {f"{kind}:{code}": (kind, code, name) for kind, code, name, _ in rows}
    by_name: dict[str, CategoryRef] = {}
    named = [r for r in rows if r.kind in NAME_ORDER]
    for kind, code, name, _ in sorted(named, key=_name_order):
        by_name.setdefault(name, (kind, code, name))
    return {label: by_code.get(label) or by_name.get(label) for label in labels}


def _name_order(row: Any) -> tuple[int, int, str]:
    return NAME_ORDER[row.kind], len(row.path), row.code
