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
"""

from __future__ import annotations

import math
import re
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.labels import LabelledEnum
from chengzhi.models import NOT_STAFF, GazetteerEntry, Level, Region, Role, StructureState
from chengzhi.regions import locator

CONFIDENT = 0.6  # below this the operator is asked (待确认)
MARGIN = 0.1  # a runner-up this close to the best is a real alternative
Q_FULL = 0.7  # weight of a full region name or an admin entry
Q_SHORT = {2: 0.5, 3: 0.55}  # short forms by length; longer ones weigh Q_SHORT_LONG
Q_SHORT_LONG = 0.6
CONTRADICTION = 0.5  # how much of its weight a name pointing elsewhere takes off
COMMON = 20  # a name shared by more regions only counts where another name picks one
MIN_NAME, MAX_NAME = 2, 100
MAX_TEXT, MAX_LIMIT = 2000, 20
ENTRIES = "gazetteer.entries"  # memo key
_DEPTH = {level.value: level.depth for level in Level}


class EntryKind(LabelledEnum):
    ROAD = ("road", "道路", "road")
    LANDMARK = ("landmark", "地标", "landmark")
    ALIAS = ("alias", "别名", "other name")


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
# Names: folding and short forms

# Full-width ASCII (ＡＢＣ１２３（）) and the ideographic space as plain ASCII: one for one.
_FOLD = str.maketrans({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20})
_CN_GRID = re.compile(r"第([一二两三四五六七八九十百〇零]+)(?=号?网格)")
_CN_DIGITS = {"〇": 0, "零": 0, "两": 2} | {c: i for i, c in enumerate("一二三四五六七八九", 1)}
# Suffixes stripped again and again while a stem of 2+ characters stays, and what they become
# unless the stem ends so already (增兴窑村委会 → 增兴窑村, 河头村村民委员会 → 河头村).
_TAILS: dict[str, tuple[tuple[str, str], ...]] = {
    "city": (("市", ""),),
    "district": (("新区", ""), ("区", ""), ("县", ""), ("市", ""), ("旗", "")),
    "street": (("街道办事处", ""), ("办事处", ""), ("街道", ""), ("镇", ""), ("乡", "")),
    "community": (
        ("居民委员会", "社区"),
        ("村民委员会", "村"),
        ("委员会", ""),
        ("居委会", "社区"),
        ("村委会", "村"),
        ("筹备组", ""),
        ("社区", ""),
        ("村", ""),
    ),
}
_ETHNIC = re.compile(r"^(.{2,}?)(?:[^族]{1,4}族)+(自治县|自治旗|乡|镇)$")  # 秀山土家族苗族自治县
_JUNK = re.compile(r"^第?\d+$")  # 第3 (from 第3街道) names nothing


def fold(text: str) -> str:
    return text.translate(_FOLD)


def short_forms(name: str, level: str) -> list[str]:
    """The shorter names a region answers to, longest first: 解放碑街道 → [解放碑]. Never one of
    fewer than 2 characters, nor a bare number."""
    out: list[str] = []
    current = fold(name)
    ethnic = _ETHNIC.match(current)
    if ethnic:
        current = ethnic[1] + ethnic[2][-1]
        out.append(current)
    tails = _TAILS.get(level, ())
    while True:
        tail = next((t for t in tails if current.endswith(t[0])), None)
        if tail is None or len(current) - len(tail[0]) < MIN_NAME:
            break
        stem = current[: -len(tail[0])]
        current = stem if stem.endswith(tail[1]) else stem + tail[1]
        out.append(current)
    return [f for f in out if len(f) >= MIN_NAME and not _JUNK.match(f)]


def _cn_number(numeral: str) -> int:
    """三 → 3, 十二 → 12, 二十 → 20, 一百零五 → 105."""
    total = digit = 0
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            total += (digit or 1) * (10 if ch == "十" else 100)
            digit = 0
    return total + digit


def _normalise(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """The folded text with 第三网格 written 第3网格, and (when that changed lengths) where each
    character came from in the original."""
    text = fold(text)
    if "网格" not in text or not _CN_GRID.search(text):
        return text, None
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    last = 0
    for m in _CN_GRID.finditer(text):
        pieces.append(text[last : m.start(1)])
        origin.extend((i, i + 1) for i in range(last, m.start(1)))
        digits = str(_cn_number(m[1]))
        pieces.append(digits)
        origin.extend([(m.start(1), m.end(1))] * len(digits))
        last = m.end(1)
    pieces.append(text[last:])
    origin.extend((i, i + 1) for i in range(last, len(text)))
    return "".join(pieces), origin


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
        folded, origin = _normalise(text)
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
    fingerprint = db.memo(session, ENTRIES, lambda: _entries_fingerprint(session))
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


def _entries_fingerprint(session: Session) -> tuple[Any, ...]:
    """How many entries there are and the newest of them, through the primary key (no scan):
    an add makes a new newest row, a remove changes the count, and a remove then an add differ
    in the newest row's time or content even when SQLite hands the freed id out again."""
    row = session.execute(_FINGERPRINT).one_or_none()
    return tuple(row) if row is not None else (0,)


_NEWEST = (
    select(
        GazetteerEntry.id,
        GazetteerEntry.created_at,
        GazetteerEntry.name,
        GazetteerEntry.region_code,
        GazetteerEntry.lon,
        GazetteerEntry.lat,
    )
    .order_by(GazetteerEntry.id.desc())
    .limit(1)
    .subquery()
)
_COUNT = select(func.count()).select_from(GazetteerEntry).scalar_subquery()
_FINGERPRINT = select(_COUNT, _NEWEST).select_from(_NEWEST)  # built once: it runs per transaction
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


def chain_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Code → "渝中区 解放碑街道 青年路社区" for the codes that exist, in one query (codes are
    prefixes of their descendants')."""
    above = {c: [c[:n] for n in (2, 4, 6, 9, 12, 15) if n <= len(c)] for c in set(codes)}
    prefixes = {p for chain in above.values() for p in chain}
    query = select(Region.code, Region.name, Region.level).where(Region.code.in_(prefixes))
    found = {r.code: r for r in session.execute(query)}
    out: dict[str, str] = {}
    for code in above.keys() & found.keys():
        chain = [found[p] for p in above[code] if p in found]
        below = [r.name for r in chain if r.level != Level.CITY.value]
        out[code] = " ".join(below) or found[code].name
    return out


def list_entries(
    session: Session, limit: int, offset: int, q: str | None = None
) -> tuple[int, list[GazetteerEntry]]:
    query = select(GazetteerEntry)
    if q:
        query = query.where(
            or_(
                GazetteerEntry.name.contains(q.strip(), autoescape=True),
                GazetteerEntry.region_code.startswith(q.strip(), autoescape=True),
            )
        )
    order = (GazetteerEntry.name, GazetteerEntry.region_code)
    return db.page(session, query.order_by(*order), limit, offset)


def authorise_read(role: Role | None) -> None:
    if role is None or role in NOT_STAFF:
        raise Forbidden("只有工作人员可以使用地名库 (only staff may use the gazetteer)")


def authorise_edit(role: Role | None) -> None:
    if role is not Role.ADMIN:
        raise Forbidden("只有系统管理员可以修改地名库 (only an administrator may edit it)")


# ---------------------------------------------------------------------------------------------
# Writes


def add_entry(
    session: Session,
    clock: Clock,
    name: str,
    region_code: str,
    kind: str,
    lon: float | None = None,
    lat: float | None = None,
) -> GazetteerEntry:
    """A road, landmark or other name pointing at the finest region it lies in."""
    name = _check_name(name)
    entry_kind = _check_kind(kind)
    _check_point(lon, lat)
    region_code = (region_code or "").strip()
    if session.scalar(select(Region.id).where(Region.code == region_code)) is None:
        raise InvalidInput(f"区划 {region_code} 不存在 (no such region)")
    duplicate = select(GazetteerEntry.id).where(
        GazetteerEntry.name == name, GazetteerEntry.region_code == region_code
    )
    if session.scalar(duplicate) is not None:
        raise Conflict(f"地名库中已有「{name}」→ {region_code} (already in the gazetteer)")
    entry = GazetteerEntry(
        name=name,
        kind=entry_kind.value,
        region_code=region_code,
        lon=lon,
        lat=lat,
        created_at=clock.now(),
    )
    session.add(entry)
    db.forget(session, ENTRIES)
    try:
        session.flush()
    except IntegrityError as e:  # another request added the same name meanwhile
        raise Conflict(f"地名库中已有「{name}」→ {region_code} (added meanwhile)") from e
    return entry


def remove_entry(session: Session, entry_id: int) -> None:
    entry = session.get(GazetteerEntry, entry_id)
    if entry is None:
        raise NotFound(f"地名库中没有条目 {entry_id} (no such gazetteer entry)")
    session.delete(entry)
    db.forget(session, ENTRIES)
    session.flush()


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("地名不能为空 (a name is required)")
    if len(name) < MIN_NAME:
        raise InvalidInput(
            f"地名至少 {MIN_NAME} 个字，更短的不参与匹配 "
            f"(a name needs {MIN_NAME} characters or more; shorter ones are never matched)"
        )
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"地名不能超过 {MAX_NAME} 个字 (the name is longer than {MAX_NAME} characters)"
        )
    return name


def _check_kind(kind: str) -> EntryKind:
    try:
        return EntryKind(kind)
    except ValueError:
        raise InvalidInput(
            "类别应为 road（道路）、landmark（地标）或 alias（别名） "
            "(kind must be road, landmark or alias)"
        ) from None


def _check_point(lon: float | None, lat: float | None) -> None:
    if (lon is None) != (lat is None):
        raise InvalidInput("经度和纬度须同时给出 (give both lon and lat, or neither)")
    if lon is None or lat is None:
        return
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("经纬度超出范围 (lon must be within -180..180 and lat within -90..90)")
