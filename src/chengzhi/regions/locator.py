"""Locate (定位): (lon, lat) → grid → community → street → district → city.

The index covers the finest polygons the city has (grids, or communities where a community has
no grids yet), lives in memory, and is rebuilt when the structure version changes. A point in no
polygon resolves to the nearest one with status `nearest` (within the configured tolerance) or
`outside`, never silently to a wrong region."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.geo import coords
from chengzhi.geo.index import GridIndex
from chengzhi.models import Level, Region, StructureState

Status = Literal["inside", "nearest", "outside"]


@dataclass(frozen=True, slots=True)
class RegionRef:
    id: int
    code: str
    name: str
    level: str


@dataclass(frozen=True, slots=True)
class Location:
    lon: float
    lat: float
    status: Status
    distance_m: float
    chain: tuple[RegionRef, ...]  # finest first: grid, community, street, district, city

    def at(self, level: Level) -> RegionRef | None:
        return next((r for r in self.chain if r.level == level.value), None)


@dataclass(frozen=True, slots=True)
class Located:
    """A batch answer as arrays: the leaf region id per point (-1 for none), its status and the
    distance to it in metres (0 inside)."""

    region_id: np.ndarray
    status: np.ndarray
    distance_m: np.ndarray


class Locator:
    def __init__(
        self,
        stamp: str,
        index: GridIndex | None,
        refs: dict[int, RegionRef],
        parents: dict[int, int | None],
    ) -> None:
        self.stamp, self.index, self.refs, self.parents = stamp, index, refs, parents

    @classmethod
    def load(cls, session: Session, stamp: str) -> Locator:
        rows = session.execute(
            select(Region.id, Region.code, Region.name, Region.level, Region.parent_id)
        ).all()
        refs = {r.id: RegionRef(r.id, r.code, r.name, r.level) for r in rows}
        parents = {r.id: r.parent_id for r in rows}
        shaped = session.execute(
            select(Region.id, Region.parent_id, Region.geometry).where(Region.geometry.is_not(None))
        ).all()
        with_children = {r.parent_id for r in shaped}
        leaves = [r for r in shaped if r.id not in with_children]
        if not leaves:
            return cls(stamp, None, refs, parents)
        polygons = shapely.from_wkb(np.array([r.geometry for r in leaves], dtype=object))
        ids = np.array([r.id for r in leaves], dtype=np.int64)
        return cls(stamp, GridIndex.build(polygons, ids), refs, parents)

    def locate(self, lon: np.ndarray, lat: np.ndarray, tolerance_m: float) -> Located:
        n = len(lon)
        if self.index is None:
            return Located(np.full(n, -1), np.full(n, "outside"), np.full(n, np.inf))
        ids = self.index.locate(lon, lat)
        status = np.where(ids >= 0, "inside", "outside").astype("<U7")
        distance = np.zeros(n)
        miss = np.flatnonzero(ids < 0)
        if len(miss):
            near, dist = self.index.nearest(lon[miss], lat[miss])
            close = dist <= tolerance_m
            ids[miss[close]] = near[close]
            status[miss[close]] = "nearest"
            distance[miss] = dist
        return Located(ids, status, distance)

    def chain(self, region_id: int) -> tuple[RegionRef, ...]:
        out: list[RegionRef] = []
        current: int | None = region_id
        while current is not None and current in self.refs:
            out.append(self.refs[current])
            current = self.parents[current]
        return tuple(out)

    def describe(self, lon: float, lat: float, located: Located, i: int) -> Location:
        rid = int(located.region_id[i])
        chain = self.chain(rid) if located.status[i] != "outside" else ()
        return Location(lon, lat, located.status[i], float(located.distance_m[i]), chain)


STAMP = "structure.stamp"
_cache: dict[str, Locator] = {}
_lock = threading.Lock()


def locator(session: Session) -> Locator:
    """The current locator for this database, rebuilt if the structure changed since."""
    stamp = db.memo(
        session, STAMP, lambda: session.scalar(select(StructureState.stamp)) or "", lasting=True
    )
    key = str(session.get_bind().engine.url)
    cached = _cache.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None or cached.stamp != stamp:
            cached = _cache[key] = Locator.load(session, stamp)
    return cached


def to_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    if crs == "gcj02":
        return coords.gcj02_to_wgs84(lon, lat)
    return lon, lat


def locate_points(
    session: Session, lon: list[float], lat: list[float], crs: str, tolerance_m: float
) -> list[Location]:
    x, y = to_wgs84(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), crs)
    loc = locator(session)
    located = loc.locate(x, y, tolerance_m)
    return [loc.describe(float(x[i]), float(y[i]), located, i) for i in range(len(x))]
