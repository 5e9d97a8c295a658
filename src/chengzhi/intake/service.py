"""Intake (受理): every channel's appeal goes through `submit`, which does the first minutes of a
dispatcher's work — what is it, how urgent, where, have we seen it already, who owns it — and
registers the case through the case service's one write path.

A confident appeal is filed and dispatched at once by the platform (智能分拨, recorded on the
timeline as a dispatcher without a person). Anything a person must decide stays registered with a
`triage_hold` — the human triage queue — and the suggestions in `case.triage`:

    low_confidence  the classifier is not sure of the category (or no model is active)
    unlocated       no coordinates and no place found in the text
    ambiguous_place the address matches several places
    duplicate       it may repeat an open case (a sure repeat is merged at once)
    inquiry         a question for the operator, with knowledge-base answers (直接办结)
    unroutable      the responsibility list names no unit for this matter here

Retries are safe: a request sent again with the same idempotency key returns the same case."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.cases import service as cases
from chengzhi.cases.workflow import ENDED, Action
from chengzhi.clock import Clock, FrozenClock
from chengzhi.config import get_settings
from chengzhi.errors import Conflict, DomainError, InvalidInput
from chengzhi.intake import duplicates, photos
from chengzhi.kb import match as kb
from chengzhi.models import Case, Channel, IntakeKey, RequestType, Role, Urgency
from chengzhi.orgs.queries import Actor
from chengzhi.regions import gazetteer, locator
from chengzhi.triage import requests as request_types
from chengzhi.triage import store as models
from chengzhi.triage import urgency as urgency_rules

# 智能分拨: the platform's own dispatching, a dispatcher role without a person.
AUTO = Actor(None, Role.DISPATCHER)
# 平台受理: the platform registering what no person enters (sensor alarms, imported history).
PLATFORM = Actor(None, Role.OPERATOR)
# Stored widths of the free fields (the case columns).
WIDTHS = {"address": 500, "reporter_name": 64, "reporter_phone": 20, "source_ref": 100}
TEXT_LIMIT = 10_000
# Control characters other than tab and line breaks make a text unreadable downstream.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TITLE_END = re.compile(r"[。！？!?\n；;]")
SEVERITY = {u.value: i for i, u in enumerate(Urgency)}


@dataclass(frozen=True, slots=True)
class Appeal:
    """What arrives on any channel. Only `text` is required; what is missing is worked out.
    Personal data: reporter name and phone, and the address when it is a home."""

    text: str
    channel: Channel
    title: str | None = None
    request_type: RequestType | None = None
    category: tuple[str, str] | None = None  # (kind, code) in the current catalogue
    urgency: Urgency | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    source_ref: str | None = None
    photos: tuple[bytes, ...] = ()  # JPEG, PNG or WebP, checked by content

    def fingerprint(self) -> str:
        """Tells a genuine retry (same request) from a key reused for a different request."""
        raw = [getattr(v, "value", v) for v in (getattr(self, f.name) for f in FIELDS[:-1])]
        raw.append([hashlib.sha256(p).hexdigest() for p in self.photos])
        blob = json.dumps(raw, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


FIELDS = fields(Appeal)


@dataclass(frozen=True, slots=True)
class Key:
    """An idempotency key: `scope` names the client (person:7, client:3, import:name)."""

    scope: str
    key: str

    def __post_init__(self) -> None:
        if not self.key.strip() or len(self.key) > 200 or CONTROL.search(self.key):
            raise InvalidInput("幂等键应为 1–200 个可见字符 (idempotency key: 1–200 visible chars)")


@dataclass(slots=True)
class Receipt:
    """The case an appeal became, and what intake did with it."""

    case: Case
    created: bool = True  # False: a retry of a request already taken, or a folded repeat
    folded: bool = False  # a repeat of an open case from the same source (sensor alarms)
    merged_into: str | None = None  # a sure duplicate, attached to this case
    dispatched: bool = False
    hold: str | None = None
    triage: dict[str, Any] = field(default_factory=dict)


def submit(
    session: Session,
    clock: Clock,
    actor: Actor,
    appeal: Appeal,
    *,
    key: Key | None = None,
    fold_within: timedelta | None = None,
    auto_dispatch: bool = True,
) -> Receipt:
    """Take one appeal: check it, triage it, register it, and dispatch it when sure."""
    fingerprint = appeal.fingerprint()
    if key is not None and (done := _taken(session, key, fingerprint)) is not None:
        return Receipt(done, created=False, hold=done.triage_hold, triage=done.triage or {})
    text = _text(appeal.text)
    _check_widths(appeal)
    checked_photos = photos.check(list(appeal.photos))
    now = clock.now()
    if fold_within is not None and appeal.source_ref:
        repeat = _open_from_source(session, appeal, now - fold_within)
        if repeat is not None:
            cases.record_action(
                session, clock, AUTO, repeat, Action.REPEAT, data={"source": appeal.source_ref}
            )
            _remember(session, key, fingerprint, repeat, now)
            return Receipt(repeat, created=False, folded=True, hold=repeat.triage_hold)
    found = triage(session, appeal, text, now)
    receipt = _store(session, clock, actor, appeal, text, found, key, fingerprint, auto_dispatch)
    photos.store(session, receipt.case, checked_photos, now)
    return receipt


@dataclass(frozen=True, slots=True)
class Item:
    """One appeal of a batch, with its idempotency key and (imports) its historical time."""

    appeal: Appeal
    key: Key | None = None
    at: datetime | None = None


def submit_many(
    session: Session,
    clock: Clock,
    actor: Actor,
    items: Sequence[Item],
    *,
    auto_dispatch: bool = False,
) -> list[Receipt | DomainError]:
    """Many appeals in one transaction (bulk import): the same checks and triage as `submit`,
    with the classifier and the locator run once for the whole batch and the case writes
    batched (one flush at the caller's commit). A refused appeal gets its error in the answer
    and stores nothing. The caller drops what it already took (one look-up of its keys for the
    batch) and repeats within the batch. Duplicates are looked for among the cases stored before
    the batch (a batch is not flushed half-way)."""
    results: list[Receipt | DomainError | None] = [None] * len(items)
    texts: dict[int, str] = {}
    for i, item in enumerate(items):
        try:
            texts[i] = _text(item.appeal.text)
            _check_widths(item.appeal)
        except DomainError as e:
            results[i] = e
    unsorted = [i for i in texts if items[i].appeal.category is None]
    predicted = models.classify_many(session, [_full(items[i].appeal, texts[i]) for i in unsorted])
    suggestions = dict(zip(unsorted, predicted or [[] for _ in unsorted], strict=True))
    located = _locate_many(session, items, texts)
    times = [item.at or clock.now() for item in items]
    nearby = duplicates.Batch(session, min(times), max(times)) if items else None
    with cases.batch(session), session.no_autoflush:
        for i, text in texts.items():
            appeal, key = items[i].appeal, items[i].key
            at = FrozenClock(items[i].at) if items[i].at else clock
            try:
                found = triage(
                    session,
                    appeal,
                    text,
                    at.now(),
                    classify=lambda _, i=i: suggestions.get(i),  # type: ignore[misc]
                    location=located.get(i),
                    nearby=nearby.find if nearby else None,
                )
                results[i] = _store(
                    session, at, actor, appeal, text, found, key, appeal.fingerprint(),
                    auto_dispatch,
                )  # fmt: skip
            except DomainError as e:
                results[i] = e
    return results  # type: ignore[return-value]


def _locate_many(
    session: Session, items: Sequence[Item], texts: dict[int, str]
) -> dict[int, locator.Location]:
    """The place of every appeal with coordinates, one locator call per coordinate system."""
    placed: dict[int, locator.Location] = {}
    for crs in {items[i].appeal.crs for i in texts}:
        rows = [
            i
            for i in texts
            if items[i].appeal.crs == crs
            and items[i].appeal.lon is not None
            and items[i].appeal.lat is not None
        ]
        if rows:
            found = locator.locate_points(
                session,
                [items[i].appeal.lon for i in rows],  # type: ignore[misc]
                [items[i].appeal.lat for i in rows],  # type: ignore[misc]
                crs,
                get_settings().outside_tolerance_m,
            )
            placed.update(zip(rows, found, strict=True))
    return placed


def _store(
    session: Session,
    clock: Clock,
    actor: Actor,
    appeal: Appeal,
    text: str,
    found: Triage,
    key: Key | None,
    fingerprint: str,
    auto_dispatch: bool,
) -> Receipt:
    """Register the triaged appeal, then merge it into a sure duplicate or dispatch it when
    nothing is left for a person. Nothing after the registration can refuse."""
    now = clock.now()
    case = cases.register_case(
        session,
        clock,
        actor,
        cases.NewCase(
            title=_title(appeal.title, text),
            description=text,
            request_type=RequestType(found.request_type),
            channel=appeal.channel,
            urgency=Urgency(found.urgency),
            category=found.category,
            lon=found.lon,
            lat=found.lat,
            address=appeal.address,
            reporter_name=appeal.reporter_name,
            reporter_phone=appeal.reporter_phone,
            region_code=found.region_code,
            source_ref=appeal.source_ref,
            triage=found.record,
            hold=found.hold,
        ),
    )
    _remember(session, key, fingerprint, case, now)
    receipt = Receipt(case, hold=found.hold, triage=found.record)
    if found.duplicate_of is not None:
        score = f"{found.duplicate_score:.2f}"
        reason = f"重复件，相似度 {score} (duplicate, similarity {score})"
        cases.merge_case(session, clock, AUTO, case.number, found.duplicate_of, reason)
        receipt.merged_into, receipt.hold = found.duplicate_of, None
    elif auto_dispatch and found.hold is None:
        receipt.dispatched, receipt.hold = _dispatch(session, clock, case)
    return receipt


@dataclass(slots=True)
class Triage:
    request_type: str
    urgency: str
    category: tuple[str, str] | None
    lon: float | None
    lat: float | None
    region_code: str | None
    hold: str | None
    duplicate_of: str | None
    duplicate_score: float
    record: dict[str, Any]


def triage(
    session: Session,
    appeal: Appeal,
    text: str,
    now: datetime,
    *,
    classify: Callable[[str], list[models.Suggestion] | None] | None = None,
    location: locator.Location | None = None,
    nearby: Callable[..., list[duplicates.Candidate]] | None = None,
) -> Triage:
    """The suggestions for one appeal and whether a person must decide (the hold reason).
    `classify`, `location` and `nearby` (the duplicate look-up): answers worked out for a whole
    batch at once."""
    settings = get_settings()
    record: dict[str, Any] = {}
    holds: list[str] = []
    full = _full(appeal, text)

    assessed = urgency_rules.assess(full)
    urgency = max(
        (appeal.urgency.value if appeal.urgency else "normal", assessed.level),
        key=SEVERITY.__getitem__,
    )
    if assessed.reasons:
        record["urgency"] = {"level": assessed.level, "reasons": list(assessed.reasons)}

    if appeal.request_type is not None:
        rtype = appeal.request_type.value
    else:
        rtype, confidence = request_types.guess_request_type(full)
        record["request_type"] = {"value": rtype, "confidence": confidence}

    category = appeal.category
    if category is None:
        predict = classify or (lambda t: models.classify(session, t))
        suggestions = predict(full) or []
        record["category"] = [
            {"label": s.label, "confidence": round(s.confidence, 3), "category": s.category}
            for s in suggestions
        ]
        best = suggestions[0] if suggestions else None
        if best and best.category and best.confidence >= settings.triage_min_confidence:
            category = best.category
        else:
            holds.append("low_confidence")

    lon, lat, region_code = _place(session, appeal, record, holds, location)

    duplicate_of, duplicate_score = None, 0.0
    category_id = cases.find_category(session, category).id if category else None
    if region_code is not None:
        candidates = (nearby or partial(duplicates.find, session))(
            text=full,
            category_id=category_id,
            region_code=region_code,
            lon=lon,
            lat=lat,
            at=now,
        )
        verdict, best_match = duplicates.verdict(candidates)
        if candidates:
            record["duplicates"] = [
                {"number": c.number, "score": round(c.score, 3)} for c in candidates[:3]
            ]
        if verdict == "sure" and best_match is not None:
            duplicate_of, duplicate_score = best_match.number, best_match.score
        elif verdict == "likely":
            holds.append("duplicate")

    if rtype == RequestType.INQUIRY.value:
        answers = kb.suggest(session, full)
        if answers:
            record["answers"] = [
                {"article": a.article_id, "title": a.title, "score": round(a.score, 3)}
                for a in answers
            ]
        holds.insert(0, "inquiry")  # answered by a person whatever else is unsure

    hold = holds[0] if holds else None
    return Triage(
        rtype, urgency, category, lon, lat, region_code, hold, duplicate_of, duplicate_score, record
    )


def _full(appeal: Appeal, text: str) -> str:
    return f"{appeal.title}。{text}" if appeal.title else text


def _place(
    session: Session,
    appeal: Appeal,
    record: dict[str, Any],
    holds: list[str],
    found: locator.Location | None = None,
) -> tuple[float | None, float | None, str | None]:
    """Coordinates → the grid they fall in (refused outside the city); else the address (or the
    text) against the gazetteer."""
    if appeal.lon is not None and appeal.lat is not None:
        if found is None:
            [found] = locator.locate_points(
                session, [appeal.lon], [appeal.lat], appeal.crs, get_settings().outside_tolerance_m
            )
        if found.status == "outside" or not found.chain:
            raise InvalidInput("坐标不在本市范围内 (the coordinates are outside the city)")
        record["place"] = {"source": "coordinates", "status": found.status}
        return found.lon, found.lat, found.chain[0].code
    if appeal.lon is not None or appeal.lat is not None:
        raise InvalidInput("经纬度须同时给出 (give both lon and lat)")
    matches = gazetteer.resolve(session, appeal.address or appeal.text)
    if not matches:
        holds.append("unlocated")
        return None, None, None
    record["place"] = {
        "source": "gazetteer",
        "matches": [
            {"region": m.region_code, "name": m.name, "confidence": round(m.confidence, 3)}
            for m in matches
        ],
    }
    if gazetteer.ambiguous(matches):
        holds.append("ambiguous_place")
        return None, None, None
    best = matches[0]
    return best.lon, best.lat, best.region_code


def _dispatch(session: Session, clock: Clock, case: Case) -> tuple[bool, str | None]:
    """File and dispatch by the responsibility list; a place it names no unit for waits for a
    dispatcher, with the reason."""
    cases.file_case(session, clock, AUTO, case.number)
    try:  # refused before anything changes: the case stays filed
        cases.dispatch_case(session, clock, AUTO, case.number)
    except Conflict as e:
        case.triage = {**(case.triage or {}), "route": str(e)}
        case.triage_hold = "unroutable"
        return False, "unroutable"
    return True, None


def _taken(session: Session, key: Key, fingerprint: str) -> Case | None:
    row = session.scalar(
        select(IntakeKey).where(IntakeKey.scope == key.scope, IntakeKey.key == key.key)
    )
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise Conflict(
            "幂等键已用于另一请求 (this Idempotency-Key was used for a different request)"
        )
    return session.get(Case, row.case_id)


def _remember(
    session: Session, key: Key | None, fingerprint: str, case: Case, now: datetime
) -> None:
    if key is None:
        return
    row = IntakeKey(
        scope=key.scope, key=key.key, request_hash=fingerprint, case=case, created_at=now
    )
    session.add(row)
    if cases.in_batch(session):  # stored at the batch's commit; the caller checked its keys
        return
    try:
        session.flush()
    except IntegrityError as e:  # the same request, sent twice at once: one of them wins
        raise Conflict("同一请求正在处理，请稍后重试 (the same request is in progress)") from e


def _open_from_source(session: Session, appeal: Appeal, since: datetime) -> Case | None:
    return session.scalar(
        select(Case)
        .where(
            Case.source_ref == appeal.source_ref,
            Case.channel == appeal.channel.value,
            Case.registered_at >= since,
            Case.status.not_in([s.value for s in ENDED]),
        )
        .order_by(Case.registered_at.desc())
        .limit(1)
    )


def _text(value: str) -> str:
    text = (value or "").strip()
    if CONTROL.search(text):
        raise InvalidInput("内容含有控制字符 (the text contains control characters)")
    return cases.checked_text(text, "内容 text", TEXT_LIMIT)


def _check_widths(appeal: Appeal) -> None:
    for name, width in WIDTHS.items():
        value = getattr(appeal, name)
        if value is not None and (len(value) > width or CONTROL.search(value)):
            raise InvalidInput(
                f"{name} 过长或含控制字符 ({name}: at most {width} visible characters)"
            )


def _title(title: str | None, text: str) -> str:
    """The caller's title, else the first sentence of the text (at most 40 characters)."""
    if title and title.strip():
        if CONTROL.search(title):
            raise InvalidInput("标题含有控制字符 (the title contains control characters)")
        return cases.checked_text(title, "标题 title", 200)
    return TITLE_END.split(text, maxsplit=1)[0][:40].strip() or text[:40]
