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

Training and scoring: `triage/training.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import DESK, Category, Role, TriageModel
from chengzhi.triage import classifier
from chengzhi.triage import requests as request_types
from chengzhi.triage import urgency as urgency_rules
from chengzhi.triage.classifier import Model

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
