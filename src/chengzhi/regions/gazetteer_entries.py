"""The admin's gazetteer entries (地名库条目): roads, landmarks and other names pointing at a
region, listed, added and removed by an administrator; who may read or edit the gazetteer; and
the fingerprint by which `regions/gazetteer.py` notices the entries changed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.clock import Clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.labels import LabelledEnum
from chengzhi.models import NOT_STAFF, GazetteerEntry, Level, Region, Role
from chengzhi.regions.place_names import MIN_NAME

MAX_NAME = 100
ENTRIES = "gazetteer.entries"  # memo key


class EntryKind(LabelledEnum):
    ROAD = ("road", "道路", "road")
    LANDMARK = ("landmark", "地标", "landmark")
    ALIAS = ("alias", "别名", "other name")


def entries_fingerprint(session: Session) -> tuple[Any, ...]:
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


# ---------------------------------------------------------------------------------------------
# Reads


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
