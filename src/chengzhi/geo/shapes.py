"""Polygons in and out of storage: validation with a reason, WKB, bbox, label point and area."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from chengzhi.geo import coords

KM_PER_DEGREE = 111.32


@dataclass(frozen=True, slots=True)
class Footprint:
    """What a region row stores about its polygon."""

    wkb: bytes
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    label_lon: float
    label_lat: float
    area_km2: float

    def columns(self) -> dict[str, Any]:
        return {
            "geometry": self.wkb,
            "min_lon": self.min_lon,
            "min_lat": self.min_lat,
            "max_lon": self.max_lon,
            "max_lat": self.max_lat,
            "label_lon": self.label_lon,
            "label_lat": self.label_lat,
            "area_km2": self.area_km2,
        }


@dataclass(frozen=True, slots=True)
class Parsed:
    geom: BaseGeometry | None
    reason: str | None = None  # why it was refused
    repaired: str | None = None  # what was wrong with it before `repair` fixed it


def parse_polygon(geometry: Any, crs: str = "wgs84", repair: bool = False) -> Parsed:
    """A valid WGS-84 (Multi)Polygon from a GeoJSON geometry, or the reason it is refused.
    With `repair`, an invalid polygon (a self-touching ring, a bow-tie) is rebuilt with GEOS
    make_valid(structure) when that leaves a polygon of about the same area."""
    geom, reason = _read(geometry)
    if geom is None:
        return Parsed(None, reason)
    repaired = None
    if not geom.is_valid:
        problem = shapely.is_valid_reason(geom)
        fixed = (
            shapely.make_valid(geom, method="structure", keep_collapsed=False) if repair else None
        )
        if fixed is None or fixed.is_empty or abs(fixed.area - geom.area) > 0.01 * geom.area:
            hint = "" if repair else "; --repair may fix it"
            return Parsed(None, f"几何无效 (invalid geometry: {problem}{hint})")
        geom, repaired = fixed, problem
    if crs == "gcj02":
        geom = shapely.transform(geom, _gcj_to_wgs)
    return Parsed(geom, None, repaired)


def _read(geometry: Any) -> tuple[BaseGeometry | None, str | None]:
    if not isinstance(geometry, dict):
        return None, "缺少几何 (feature has no geometry)"
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return (
            None,
            f"几何类型应为面 (expected Polygon or MultiPolygon, got {geometry.get('type')})",
        )
    try:
        geom = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException) as e:
        return None, f"几何坐标无法解析 (malformed coordinates: {e})"
    if geom.is_empty:
        return None, "几何为空 (empty geometry)"
    lon_lat = shapely.get_coordinates(geom)
    if not np.isfinite(lon_lat).all() or (np.abs(lon_lat) > [180, 90]).any():
        return None, "坐标超出经纬度范围 (coordinates are not lon/lat degrees)"
    return geom, None


def _gcj_to_wgs(xy: np.ndarray) -> np.ndarray:
    lon, lat = coords.gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def footprint(geom: BaseGeometry) -> Footprint:
    return footprints(np.array([geom], dtype=object))[0]


def footprints(geoms: np.ndarray) -> list[Footprint]:
    """Footprints of many polygons at once (the demo city stores 120,000 in one go)."""
    wkb = shapely.to_wkb(geoms)
    bounds = shapely.bounds(geoms)
    labels = shapely.get_coordinates(shapely.point_on_surface(geoms))
    centre_lat = shapely.get_coordinates(shapely.centroid(geoms))[:, 1]
    areas = shapely.area(geoms) * KM_PER_DEGREE**2 * np.cos(np.radians(centre_lat))
    return [
        Footprint(w, *map(float, b), float(p[0]), float(p[1]), float(a))
        for w, b, p, a in zip(wkb, bounds, labels, areas, strict=True)
    ]


def load(wkb: bytes) -> BaseGeometry:
    return shapely.from_wkb(wkb)
