"""Read side of the structure: lists, details, counts, GeoJSON."""

from __future__ import annotations

import json
from typing import Any

import shapely
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload, undefer

from chengzhi.db import page
from chengzhi.errors import NotFound
from chengzhi.models import GridAssignment, Level, Region


def region_query(
    level: str | None = None,
    parent: str | None = None,
    under: str | None = None,
    q: str | None = None,
) -> Select[tuple[Region]]:
    query = select(Region).options(selectinload(Region.parent))
    if level:
        query = query.where(Region.level == level)
    if parent:
        query = query.where(
            Region.parent_id == select(Region.id).where(Region.code == parent).scalar_subquery()
        )
    if under:
        query = query.where(Region.under(under))
    if q:
        query = query.where(Region.name.contains(q, autoescape=True))
    return query


def list_regions(
    session: Session, limit: int, offset: int, **filters: str | None
) -> tuple[int, list[Region]]:
    query = region_query(**filters)
    return page(session, query.order_by(Region.code), limit, offset)


def get_region(session: Session, code: str, with_geometry: bool = False) -> Region:
    query = select(Region).where(Region.code == code).options(selectinload(Region.parent))
    if with_geometry:
        query = query.options(undefer(Region.geometry))
    region = session.scalar(query)
    if region is None:
        raise NotFound(f"区划 {code} 不存在 (no such region)")
    return region


def ancestors(session: Session, region: Region) -> list[Region]:
    """The chain above a region, city first. Codes are prefixes, so one query finds them all."""
    prefixes = [region.code[:n] for n in (2, 4, 6, 9, 12) if n < len(region.code)]
    query = select(Region).where(Region.code.in_(prefixes)).options(selectinload(Region.parent))
    rows = session.scalars(query.order_by(Region.code))
    return list(rows)


def child_counts(session: Session, ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(Region.parent_id, func.count())
        .where(Region.parent_id.in_(ids))
        .group_by(Region.parent_id)
    )
    return {parent: count for parent, count in rows}


def grid_assignments(session: Session, grid_ids: list[int]) -> dict[int, list[GridAssignment]]:
    rows = session.scalars(
        select(GridAssignment)
        .where(GridAssignment.grid_id.in_(grid_ids))
        .options(selectinload(GridAssignment.person))
        .order_by(GridAssignment.id)
    )
    out: dict[int, list[GridAssignment]] = {}
    for row in rows:
        out.setdefault(row.grid_id, []).append(row)
    return out


def stats(session: Session, under: str | None = None) -> dict[str, Any]:
    """Counts per level, with population, households and how many have a boundary."""
    query = select(
        Region.level,
        func.count(),
        func.count(Region.min_lon),
        func.coalesce(func.sum(Region.population), 0),
        func.coalesce(func.sum(Region.households), 0),
    ).group_by(Region.level)
    if under:
        query = query.where(Region.under(under))
    rows = {r[0]: r[1:] for r in session.execute(query)}
    return {
        level.value: {
            "label": level.zh,
            "count": rows.get(level.value, (0,))[0],
            "with_boundary": rows.get(level.value, (0, 0))[1],
            "population": rows.get(level.value, (0, 0, 0))[2],
            "households": rows.get(level.value, (0, 0, 0, 0))[3],
        }
        for level in Level
    }


def geojson(session: Session, level: str, under: str | None, limit: int) -> dict[str, Any]:
    """A FeatureCollection of the regions of one level (optionally under a code) that have a
    boundary, for maps."""
    query = region_query(level=level, under=under).where(Region.geometry.is_not(None))
    query = query.options(undefer(Region.geometry)).order_by(Region.code).limit(limit)
    regions = session.scalars(query).all()
    geoms = shapely.from_wkb([r.geometry for r in regions]) if regions else []
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "properties": {"code": r.code, "name": r.name, "level": r.level},
                "geometry": json.loads(shapely.to_geojson(g)),
            }
            for r, g in zip(regions, geoms, strict=True)
        ],
    }


def get_grid(session: Session, code: str) -> Region:
    region = get_region(session, code)
    if region.level != Level.GRID.value:
        raise NotFound(f"网格 {code} 不存在 (no such grid)")
    return region
