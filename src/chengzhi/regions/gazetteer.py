"""The city's gazetteer (地名库): address text → region, with a confidence.

An appeal often arrives with words instead of coordinates ("渝中区解放碑街道青年路社区3号楼门口",
"观音桥步行街附近"). `resolve` finds the place names in the text and weighs them:

- the names are every region's full name, its common short forms (解放碑街道 → 解放碑,
  花园路社区居委会 → 花园路社区 → 花园路, 秀山土家族苗族自治县 → 秀山县 → 秀山,
  七星岗社区第3网格 → 七星岗第3网格) and the admin's entries (roads, landmarks, other
  names: `GazetteerEntry`);
- a name found inside a longer one gives way to it (解放碑 inside 解放碑街道);
- names that agree (a district, a street of it, a community of that street) raise the
  confidence; a name several regions share divides it unless another name picks one; a name
  pointing elsewhere lowers it. docs/gazetteer.md gives the formula.

`ambiguous` tells intake when to ask the operator rather than take the best match.

The index lives in memory, built once per process like the locator's, and rebuilt when the
structure stamp changes; the admin's entries are a small overlay rebuilt when they change
(their count and newest row). Each transaction reads both once (`db.memo`).

Name folding and short forms: `place_names`; the admin's entries: `gazetteer_entries`.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.errors import InvalidInput
from chengzhi.models import GazetteerEntry, Level, Region, StructureState
from chengzhi.regions import locator
from chengzhi.regions.gazetteer_entries import ENTRIES, entries_fingerprint
from chengzhi.regions.place_names import MIN_NAME, fold, normalise, short_forms

CONFIDENT = 0.6  # below this the operator is asked (待确认)
MARGIN = 0.1  # a runner-up this close to the best is a real alternative
Q_FULL = 0.7  # weight of a full region name or an admin entry
Q_SHORT = {2: 0.5, 3: 0.55}  # short forms by length; longer ones weigh Q_SHORT_LONG
Q_SHORT_LONG = 0.6
CONTRADICTION = 0.5  # how much of its weight a name pointing elsewhere takes off
COMMON = 20  # a name shared by more regions only counts where another name picks one
MAX_TEXT, MAX_LIMIT = 2000, 20
_DEPTH = {level.value: level.depth for level in Level}


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    region_code: str
    name: str  # the chain below the city: "渝中区 解放碑街道 青年路社区"
    level: str
    confidence: float  # 0..1
    matched: str  # the names found in the text, in text order
    lon: float | None  # the entry's point, else the region's label point
    lat: float | None


# ---------------------------------------------------------------------------------------------
# The index

Point = tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    hits: dict[int, tuple[float, int]]  # region position → (weight, target)


class Structure:
    """The regions of one structure version as parallel lists, parents first, and every name
    (full and short) → targets: `position * 2` for a full name, `position * 2 + 1` a short one."""

    def __init__(self, stamp: str, rows: Iterable[Any]) -> None:
        self.stamp = stamp
        self.codes: list[str] = []
        self.names: list[str] = []
        self.levels: list[str] = []
        self.parents: list[int] = []
        self.points: list[Point] = []
        self.by_code: dict[str, int] = {}
        keys: dict[str, list[int]] = {}
        by_id: dict[int, int] = {}
        inherited: dict[int, frozenset[str]] = {}  # names of a region and its ancestors
        forms: dict[int, tuple[str, list[str]]] = {}  # folded full name and short forms
        for row in sorted(rows, key=lambda r: len(r.code)):
            i = by_id[row.id] = self.by_code[row.code] = len(self.codes)
            parent = by_id.get(row.parent_id, -1)
            self.codes.append(row.code)
            self.names.append(row.name)
            self.levels.append(sys.intern(row.level))
            self.parents.append(parent)
            has_point = row.label_lon is not None and row.label_lat is not None
            self.points.append((row.label_lon, row.label_lat) if has_point else None)
            full = fold(row.name)
            if row.level == Level.GRID.value:
                shorts = _grid_forms(full, forms.get(parent))
            else:
                shorts = forms.setdefault(i, (full, short_forms(full, row.level)))[1]
            above = inherited.get(parent, frozenset())
            keys.setdefault(full, []).append(i * 2)
            for form in shorts:
                if form not in above and form != full:
                    keys.setdefault(form, []).append(i * 2 + 1)
            if row.level != Level.GRID.value:
                inherited[i] = above | {full, *shorts}
        self.keys = {k: tuple(dict.fromkeys(v)) for k, v in keys.items()}
        self.lengths = _lengths(self.keys)

    def chain(self, i: int) -> str:
        """The names below the city, district first (the city's own name for the city)."""
        out: list[str] = []
        while i >= 0 and self.levels[i] != Level.CITY.value:
            out.append(self.names[i])
            i = self.parents[i]
        return " ".join(reversed(out)) if out else self.names[i]


def _grid_forms(full: str, community: tuple[str, list[str]] | None) -> list[str]:
    """A grid named after its community (青年路社区第3网格 in 青年路社区居委会) also answers to
    the community's other short forms with the same tail (青年路第3网格)."""
    if community is None:
        return []
    names = [community[0], *community[1]]
    stem = next((n for n in names if full.startswith(n) and len(full) > len(n)), None)
    if stem is None:
        return []
    return [form + full[len(stem) :] for form in community[1] if len(form) < len(stem)]


def _lengths(
    keys: Iterable[str], into: dict[str, tuple[int, ...]] | None = None
) -> dict[str, tuple[int, ...]]:
    """First two characters → the lengths of the names starting with them, longest first."""
    sizes: dict[str, set[int]] = {}
    for key in keys:
        sizes.setdefault(key[:2], set()).add(len(key))
    out = dict(into or {})
    for start, found in sizes.items():
        out[start] = tuple(sorted(found.union(out.get(start, ())), reverse=True))
    return out


class Gazetteer:
    """A structure with the admin's entries over it (targets `~j` for entry j), ready to scan."""

    def __init__(
        self, structure: Structure, fingerprint: tuple[Any, ...], entries: Iterable[Any]
    ) -> None:
        self.structure, self.fingerprint = structure, fingerprint
        self.entries: list[tuple[int, Point]] = []  # region position, point
        extra: dict[str, list[int]] = {}
        for row in entries:
            i = structure.by_code.get(row.region_code)
            key = fold(row.name.strip())
            if i is None or len(key) < MIN_NAME:
                continue
            point = (row.lon, row.lat) if row.lon is not None and row.lat is not None else None
            extra.setdefault(key, []).append(~len(self.entries))
            self.entries.append((i, point))
        self.extra = {k: tuple(v) for k, v in extra.items()}
        self.lengths = _lengths(self.extra, structure.lengths) if extra else structure.lengths

    def match(self, text: str, limit: int = 3) -> list[PlaceMatch]:
        folded, origin = normalise(text)
        spans = self._spans(folded)
        scored = self._weigh(spans)
        s = self.structure
        for r, (conf, _, _) in list(scored.items()):  # an ancestor gives way to a surer child
            a = s.parents[r]
            while a >= 0:
                if a in scored and scored[a][0] <= conf:
                    del scored[a]
                a = s.parents[a]
        ranked = sorted(
            scored.items(), key=lambda x: (-x[1][0], -_DEPTH[s.levels[x[0]]], s.codes[x[0]])
        )
        return [self._place(r, *found, spans, text, origin) for r, found in ranked[:limit]]

    def _spans(self, text: str) -> list[_Span]:
        keys, extra, lengths = self.structure.keys, self.extra, self.lengths
        found: list[tuple[int, int, tuple[int, ...]]] = []
        n = len(text)
        for i in range(n - 1):
            sizes = lengths.get(text[i : i + 2])
            if sizes is None:
                continue
            for size in sizes:
                if i + size > n:
                    continue
                word = text[i : i + size]
                targets = keys.get(word, ()) + extra.get(word, ()) if extra else keys.get(word)
                if targets:
                    found.append((i, i + size, targets))
        found.sort(key=lambda f: (f[0], -f[1]))
        spans: list[_Span] = []
        reach = -1
        for start, end, targets in found:
            if end <= reach:  # inside a longer name found earlier
                continue
            reach = end
            spans.append(_Span(start, end, self._hits(targets, end - start)))
        return spans

    def _hits(self, targets: tuple[int, ...], size: int) -> dict[int, tuple[float, int]]:
        hits: dict[int, tuple[float, int]] = {}
        for t in targets:
            if t < 0:
                r, q = self.entries[~t][0], Q_FULL
            else:
                r, q = t >> 1, Q_SHORT.get(size, Q_SHORT_LONG) if t & 1 else Q_FULL
            if r not in hits or hits[r][0] < q:
                hits[r] = (q, t)
        return hits

    def _weigh(self, spans: list[_Span]) -> dict[int, tuple[float, int, tuple[int, ...]]]:
        """Region position → (confidence, its span, the spans that agree), the best per region.
        Linear in the names found: a name pointing elsewhere is accounted for as the product
        over all names divided by the product over the names related to the candidate."""
        named: dict[int, list[int]] = {}  # region → the spans naming it
        below: dict[int, set[int]] = {}  # region → the spans naming one of its descendants
        against: list[float] = []  # per span: log of the share it leaves an unrelated region
        for k, span in enumerate(spans):
            for r in span.hits:
                named.setdefault(r, []).append(k)
            if len(span.hits) > COMMON:  # too common a name to speak against anything
                against.append(0.0)
                continue
            weight = max(q for q, _ in span.hits.values()) / len(span.hits)
            against.append(math.log(1 - CONTRADICTION * weight))
            for r in span.hits:
                for a in self._line(r)[1:]:
                    below.setdefault(a, set()).add(k)
        total = math.fsum(against)
        best: dict[int, tuple[float, int, tuple[int, ...]]] = {}
        for k, span in enumerate(spans):
            near = _near(spans, k)
            raw = [(*self._agree(spans, named, k, near, r), r) for r in span.hits]
            if len(raw) > COMMON:  # too common a name to mean anything on its own
                raw = [x for x in raw if x[1]]
            for conf, agreeing, r in raw:
                # itself and the regions elsewhere this name fits at least as well
                shared = 1 + sum(1 for c, _, r2 in raw if c >= conf and not self._related(r, r2))
                line = (j for a in self._line(r) for j in named.get(a, ()))
                related = near.union(below.get(r, ()), line)
                elsewhere = math.exp(total - math.fsum(against[j] for j in related))
                conf = conf / shared * elsewhere
                if r not in best or best[r][0] < conf:
                    best[r] = (conf, k, agreeing)
        return best

    def _agree(
        self, spans: list[_Span], named: dict[int, list[int]], k: int, near: set[int], r: int
    ) -> tuple[float, tuple[int, ...]]:
        """Noisy-OR of this name and, once per ancestor of r, the strongest name of it found
        elsewhere in the text (not overlapping this one)."""
        doubt = 1 - spans[k].hits[r][0]
        agreeing: list[int] = []
        for a in self._line(r)[1:]:
            others = [j for j in named.get(a, ()) if j not in near and j not in agreeing]
            if others:
                j = max(others, key=lambda j: spans[j].hits[a][0])
                agreeing.append(j)
                doubt *= 1 - spans[j].hits[a][0]
        return 1 - doubt, tuple(agreeing)

    def _line(self, r: int) -> list[int]:
        """r and its ancestors, finest first."""
        out = [r]
        while (r := self.structure.parents[r]) >= 0:
            out.append(r)
        return out

    def _related(self, a: int, b: int) -> bool:
        ca, cb = self.structure.codes[a], self.structure.codes[b]
        return ca.startswith(cb) or cb.startswith(ca)

    def _place(
        self,
        r: int,
        conf: float,
        k: int,
        agreeing: tuple[int, ...],
        spans: list[_Span],
        text: str,
        origin: list[tuple[int, int]] | None,
    ) -> PlaceMatch:
        s = self.structure
        target = spans[k].hits[r][1]
        point = self.entries[~target][1] if target < 0 else None
        point = point or s.points[r]
        words = []
        for j in sorted((k, *agreeing), key=lambda j: spans[j].start):
            start, end = spans[j].start, spans[j].end
            if origin is not None:
                start, end = origin[start][0], origin[end - 1][1]
            words.append(text[start:end])
        lon, lat = point if point else (None, None)
        return PlaceMatch(
            s.codes[r], s.chain(r), s.levels[r], round(conf, 3), " ".join(words), lon, lat
        )


def _near(spans: list[_Span], k: int) -> set[int]:
    """Span k and the spans overlapping it: its neighbours, as no span lies inside another
    (so their ends grow with their starts)."""
    out = {k}
    j = k - 1
    while j >= 0 and spans[j].end > spans[k].start:
        out.add(j)
        j -= 1
    j = k + 1
    while j < len(spans) and spans[j].start < spans[k].end:
        out.add(j)
        j += 1
    return out


_cache: dict[str, Gazetteer] = {}
_lock = threading.Lock()


def index(session: Session) -> Gazetteer:
    """The current gazetteer for this database, rebuilt if the structure or entries changed."""
    # The same memo key and value as the locator's: one read per transaction serves both.
    stamp = db.memo(session, locator.STAMP, lambda: session.scalar(_STAMP) or "")
    fingerprint = db.memo(session, ENTRIES, lambda: entries_fingerprint(session))
    key = str(session.get_bind().engine.url)
    cached = _cache.get(key)
    if cached is not None and (cached.structure.stamp, cached.fingerprint) == (stamp, fingerprint):
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached.structure.stamp != stamp:
            structure = Structure(stamp, session.execute(_REGIONS))
        elif cached.fingerprint != fingerprint:
            structure = cached.structure
        else:
            return cached
        entries = session.execute(_ENTRY_ROWS)
        cached = _cache[key] = Gazetteer(structure, fingerprint, entries)
    return cached


_REGIONS = select(
    Region.id,
    Region.code,
    Region.name,
    Region.level,
    Region.parent_id,
    Region.label_lon,
    Region.label_lat,
)
_ENTRY_ROWS = select(
    GazetteerEntry.name, GazetteerEntry.region_code, GazetteerEntry.lon, GazetteerEntry.lat
)
_STAMP = select(StructureState.stamp)


# ---------------------------------------------------------------------------------------------
# Reads


def resolve(session: Session, text: str, limit: int = 3) -> list[PlaceMatch]:
    """The regions an address text names, best first ([] when it names none)."""
    if not text or not text.strip():
        raise InvalidInput("地址文本不能为空 (the address text is empty)")
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"地址文本不能超过 {MAX_TEXT} 个字 (the text is longer than {MAX_TEXT} characters)"
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"条数应在 1 到 {MAX_LIMIT} 之间 (limit must be 1 to {MAX_LIMIT})")
    return index(session).match(text, limit)


def ambiguous(matches: list[PlaceMatch]) -> bool:
    """Whether to ask the operator: nothing found, the best is unsure, or a runner-up close to
    it is somewhere else (not a region that contains the best)."""
    if not matches:
        return True
    best = matches[0]
    if best.confidence < CONFIDENT:
        return True
    if len(matches) < 2:
        return False
    runner = matches[1]
    elsewhere = not best.region_code.startswith(runner.region_code)
    return elsewhere and best.confidence - runner.confidence < MARGIN
