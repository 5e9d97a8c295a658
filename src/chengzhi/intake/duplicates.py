"""Duplicate detection (重复件): is a new appeal the same problem as a case already open nearby?

A burst pipe gets thirty calls. Intake asks `find` for the open cases (not ended, not merged)
registered in the same community — or street, when only the street is known — within `WINDOW`
before the appeal, scores each on distance, time, category and text, and `verdict` says whether
the best one is a sure duplicate (intake merges the new case into it) or a likely one (a person
decides: 疑似重复). No place, no candidates: a city-wide text match is not a duplicate.

The read is one index range scan: `ix_cases_status_region_registered` is (status, region_code,
registered_at), so each open status × the place's code range is a seek and the window is checked
on the index entries before a row is read; closed history and other places are never touched.

The score is place × (text, category and time evidence): the same words 300 m away are another
spot, so place gates everything, and a case at another spot is not read further. The category
weighs most, because different callers word the same spot differently. Text similarity is the
Jaccard index of character bigrams (字符二元组) of the cleaned texts (`triage.classifier.clean`:
personal data removed, so it never enters the comparison). Weights and thresholds are module
constants, chosen by precision/recall on the labelled set of bench/bench_duplicates.py (see
docs/intake.md). Nothing here logs a text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.cases.workflow import ENDED, Status
from chengzhi.geo.index import METRES_PER_DEGREE
from chengzhi.models import Case, Category
from chengzhi.triage.classifier import clean

WINDOW = timedelta(hours=72)  # a re-report comes within days; later it is a new occurrence
NEAR_M = 50.0  # closer than this is the same spot (GPS and geocoding noise)
FAR_M = 300.0  # farther than this is another spot: the place factor is zero
# Score = place × (text, category and time evidence); see `score`.
W_TEXT, W_CATEGORY, W_TIME = 0.30, 0.50, 0.20
# The place factor when a side has no coordinates, the same grid or only the same community:
# below `SURE`, so that such a case is never merged without a person.
SAME_GRID, SAME_AREA = 0.55, 0.50
SAME_PARENT, UNKNOWN_CATEGORY = 0.5, 0.5  # category closeness besides 1 (same) and 0
SURE = 0.60  # attach to the existing case at once (合并)
LIKELY = 0.45  # a person decides (疑似重复)
FLOOR = 0.30  # below this a case is not worth showing to an operator
# Cases not yet ended: anything else is history, or already folded into another case.
LIVE = tuple(s.value for s in Status if s not in ENDED)
COMMUNITY, STREET = 12, 9  # region code lengths (社区, 街道); a grid's code starts with both
NOT_WORD = re.compile(r"[\W_]+")

Verdict = Literal["sure", "likely"]
CategoryKey = tuple[str, str, str | None]  # kind, code, parent code


@dataclass(frozen=True, slots=True)
class Candidate:
    """An open case the appeal may repeat. `same_category` is the same matter (kind and code,
    whatever the catalogue version); a sibling under the same parent only raises the score."""

    case_id: int
    number: str
    score: float  # 0..1
    distance_m: float | None  # None when either side has no coordinates
    hours: float  # since the case was registered
    same_category: bool
    text_similarity: float  # 0..1


@dataclass(frozen=True, slots=True)
class _Probe:
    grams: frozenset[str]
    category: CategoryKey | None
    region_code: str
    lon: float | None
    lat: float | None
    at: datetime


def find(
    session: Session,
    *,
    text: str,
    category_id: int | None,
    region_code: str | None,
    lon: float | None,
    lat: float | None,
    at: datetime,
    exclude_case_id: int | None = None,
    limit: int = 5,
) -> list[Candidate]:
    """Open cases in the appeal's community (or street) registered within `WINDOW` before `at`,
    scored, best first, at most `limit`, none below `FLOOR`. `lon`/`lat` are WGS-84."""
    bounds = place_range(region_code)
    if bounds is None or region_code is None or limit <= 0:
        return []
    probe = _Probe(grams(text), _category(session, category_id), region_code, lon, lat, at)
    return _best(probe, session.execute(NEARBY, nearby_params(bounds, at, exclude_case_id)), limit)


def _best(probe: _Probe, rows: Iterable[Row[tuple]], limit: int) -> list[Candidate]:
    found = [c for row in rows if (c := _assess(probe, row)) is not None]
    found.sort(key=lambda c: (-c.score, c.hours, c.case_id))
    return found[:limit]


class Batch:
    """`find` for the appeals of one batch (bulk import): each place's open cases are read once,
    for the window of the whole batch, and every appeal is scored against those inside its own
    window — one read per community instead of one per appeal. Cases the batch itself registers
    are not seen (it is stored at its commit)."""

    def __init__(self, session: Session, since: datetime, until: datetime) -> None:
        self.session, self.since, self.until = session, since, until
        self.rows: dict[tuple[str, str], list[Row[tuple]]] = {}

    def find(
        self,
        *,
        text: str,
        category_id: int | None,
        region_code: str | None,
        lon: float | None,
        lat: float | None,
        at: datetime,
        limit: int = 5,
    ) -> list[Candidate]:
        bounds = place_range(region_code)
        if bounds is None or region_code is None or limit <= 0:
            return []
        if bounds not in self.rows:
            params = nearby_params(bounds, self.until, None) | {"since": self.since - WINDOW}
            self.rows[bounds] = self.session.execute(NEARBY, params).all()
        probe = _Probe(grams(text), _category(self.session, category_id), region_code, lon, lat, at)
        since = at - WINDOW
        window = (row for row in self.rows[bounds] if since <= row.registered_at <= at)
        return _best(probe, window, limit)


def verdict(candidates: Sequence[Candidate]) -> tuple[Verdict | None, Candidate | None]:
    """The best candidate (the first: `find` sorts) and whether it is "sure", "likely" or
    neither (None)."""
    best = candidates[0] if candidates else None
    if best is None:
        return None, None
    if best.score >= SURE:
        return "sure", best
    if best.score >= LIKELY:
        return "likely", best
    return None, best


def place_range(region_code: str | None) -> tuple[str, str] | None:
    """The region-code range to search: the community of a grid or community code, the street
    of a street code, else None (a district is too wide to call anything a duplicate)."""
    if not region_code:
        return None
    if len(region_code) >= COMMUNITY:
        prefix = region_code[:COMMUNITY]
    elif len(region_code) == STREET:
        prefix = region_code
    else:
        return None
    return prefix, prefix + ":"  # ':' follows the digits: the same range form as data scope


# ---------------------------------------------------------------------------------------------
# Scoring (pure)


def grams(text: str) -> frozenset[str]:
    """Character bigrams of the cleaned text, punctuation and spaces dropped; a one-character
    text is its own gram."""
    chars = NOT_WORD.sub("", clean(text))
    if len(chars) < 2:
        return frozenset(chars)
    return frozenset(chars[i : i + 2] for i in range(len(chars) - 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard index of two gram sets: shared / all."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def closeness(a: CategoryKey | None, b: CategoryKey | None) -> float:
    """1 for the same matter, `SAME_PARENT` for siblings (or parent and child), 0 for unrelated
    matters, `UNKNOWN_CATEGORY` when either side is not classified yet."""
    if a is None or b is None:
        return UNKNOWN_CATEGORY
    (kind_a, code_a, parent_a), (kind_b, code_b, parent_b) = a, b
    if kind_a != kind_b:
        return 0.0
    if code_a == code_b:
        return 1.0
    if (parent_a and parent_a == parent_b) or code_a == parent_b or code_b == parent_a:
        return SAME_PARENT
    return 0.0


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between two nearby WGS-84 points (equirectangular: exact enough within a city)."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, lat2 - lat1) * METRES_PER_DEGREE


def place_factor(metres: float | None, same_grid: bool) -> float:
    """1 within `NEAR_M`, falling linearly to 0 at `FAR_M`; without coordinates a fixed, lower
    value, so that a case without coordinates is never merged automatically."""
    if metres is None:
        return SAME_GRID if same_grid else SAME_AREA
    if metres <= NEAR_M:
        return 1.0
    return max(0.0, (FAR_M - metres) / (FAR_M - NEAR_M))


def score(*, place: float, text: float, category: float, hours: float) -> float:
    """Place gates the evidence: the same words at another spot are another problem."""
    recent = max(0.0, 1.0 - hours / (WINDOW.total_seconds() / 3600))
    return place * (W_TEXT * text + W_CATEGORY * category + W_TIME * recent)


# ---------------------------------------------------------------------------------------------
# Database


# Built once: `find` only binds the place, the window and the case to leave out.
NEARBY = (
    select(
        Case.id,
        Case.number,
        Case.title,
        Case.description,
        Case.lon,
        Case.lat,
        Case.region_code,
        Case.registered_at,
        Category.kind,
        Category.code,
        Category.parent_code,
    )
    .outerjoin(Category, Category.id == Case.category_id)
    .where(
        Case.status.in_(LIVE),
        Case.region_code >= bindparam("low"),
        Case.region_code < bindparam("high"),
        Case.registered_at >= bindparam("since"),
        Case.registered_at <= bindparam("until"),
        Case.merged_into_id.is_(None),
        Case.id != bindparam("exclude"),
    )
)


def nearby_params(bounds: tuple[str, str], at: datetime, exclude: int | None) -> dict[str, Any]:
    """The values of `NEARBY`'s parameters; no case has id 0, so 0 leaves none out."""
    low, high = bounds
    return {"low": low, "high": high, "since": at - WINDOW, "until": at, "exclude": exclude or 0}


def _category(session: Session, category_id: int | None) -> CategoryKey | None:
    """(kind, code, parent) of a category, read once per transaction (the rows never change)."""
    if category_id is None:
        return None
    known: dict[int, CategoryKey | None] = db.memo(
        session, "duplicates.categories", dict, lasting=True
    )
    if category_id not in known:
        row = session.execute(
            select(Category.kind, Category.code, Category.parent_code).where(
                Category.id == category_id
            )
        ).first()
        known[category_id] = (row.kind, row.code, row.parent_code) if row else None
    return known[category_id]


def _assess(probe: _Probe, row: Row[tuple]) -> Candidate | None:
    """The candidate, or None when it cannot reach `FLOOR`: the score is at most the place
    factor, so a case at another spot is not read further (most of a community's cases)."""
    metres = None
    here, there = (probe.lon, probe.lat), (row.lon, row.lat)
    if None not in here and None not in there:
        metres = distance_m(*here, *there)
    place = place_factor(metres, row.region_code == probe.region_code)
    if place < FLOOR:
        return None
    text = similarity(probe.grams, grams(f"{row.title}。{row.description}"))
    category = (row.kind, row.code, row.parent_code) if row.kind is not None else None
    near = closeness(probe.category, category)
    hours = max(0.0, (probe.at - row.registered_at).total_seconds() / 3600)
    value = round(score(place=place, text=text, category=near, hours=hours), 4)
    if value < FLOOR:
        return None
    return Candidate(
        case_id=row.id,
        number=row.number,
        score=value,
        distance_m=None if metres is None else round(metres, 1),
        hours=round(hours, 2),
        same_category=None not in (probe.category, category) and near == 1.0,
        text_similarity=round(text, 4),
    )
