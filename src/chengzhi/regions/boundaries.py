"""Boundary import (`chengzhi regions import-geojson`): polygons for regions that exist,
matched by code or by a name path (e.g. TOWNNAME,VILLAGENAM → a 里 named VILLAGENAM under an
ancestor named TOWNNAME)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.errors import ImportRejected, InvalidInput, Problem
from chengzhi.geo.shapes import footprint, parse_polygon
from chengzhi.models import Region
from chengzhi.progress import OnProgress, quiet
from chengzhi.readers import read_geojson
from chengzhi.regions import codes
from chengzhi.regions.service import ImportReport, bump_structure_version, set_footprints

# Suffixes that short forms of names drop: 和平区 ~ 和平, 士林區 ~ 士林, 三玉里 ~ 三玉.
SUFFIXES = (
    "街道办事处",
    "街道",
    "社区居委会",
    "居委会",
    "村委会",
    "社区",
    "区",
    "區",
    "县",
    "縣",
    "镇",
    "鎮",
    "乡",
    "鄉",
    "村",
    "里",
    "市",
)


@dataclass(frozen=True, slots=True)
class _Node:
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None


def import_boundaries(
    session: Session,
    path: Path,
    match_properties: list[str],
    crs: str = "wgs84",
    level: str | None = None,
    skip_bad: bool = False,
    repair: bool = False,
    on_progress: OnProgress = quiet,
) -> ImportReport:
    """Several features for one region are its parts (an exclave, a split polygon) and are
    joined, unless they overlap, which is a duplicate and refused."""
    if crs not in ("wgs84", "gcj02"):
        raise InvalidInput(f"未知坐标系 {crs} (unknown CRS; use wgs84 or gcj02)")
    report = ImportReport(str(path))
    matcher = _Matcher(session, level)
    found: dict[int, tuple[int, BaseGeometry]] = {}
    features = list(read_geojson(path))
    for index, props, geometry in features:
        on_progress(index + 1, len(features))
        where = f"feature {index}"
        region, reason = matcher.match([props.get(p) for p in match_properties])
        parsed = parse_polygon(geometry, crs, repair)
        reason = reason or parsed.reason
        if reason is None and region.id in found:  # type: ignore[union-attr]
            reason = _join(found, region, index, parsed.geom)  # type: ignore[arg-type]
        elif reason is None:
            found[region.id] = (index, parsed.geom)  # type: ignore[union-attr,assignment]
        if reason:
            report.problems.append(Problem(report.source, where, reason))
        elif parsed.repaired:
            report.repaired.append(
                Problem(report.source, where, f"已修复 repaired: {parsed.repaired}")
            )
    if report.problems and not skip_bad:
        raise ImportRejected(
            f"{path}: {len(report.problems)} 个要素有误，未导入任何边界", report.problems
        )
    set_footprints(session, {rid: footprint(geom) for rid, (_, geom) in found.items()})
    report.updated = len(found)
    bump_structure_version(session)
    return report


def _join(
    found: dict[int, tuple[int, BaseGeometry]], region: _Node, index: int, geom: BaseGeometry
) -> str | None:
    first, earlier = found[region.id]
    if earlier.intersection(geom).area > 1e-6 * min(earlier.area, geom.area):
        return (
            f"与 feature {first} 重叠且匹配到同一区划 {region.code} (duplicate of feature {first})"
        )
    found[region.id] = (first, earlier.union(geom))
    return None


class _Matcher:
    """Finds the region a feature names: by code when the value is a division code, else by
    name (exact, then short form), narrowed by ancestor names given before it."""

    def __init__(self, session: Session, level: str | None) -> None:
        rows = session.execute(
            select(Region.id, Region.code, Region.name, Region.level, Region.parent_id)
        )
        self.nodes = {r.id: _Node(*r) for r in rows}
        self.by_code = {n.code: n for n in self.nodes.values()}
        self.by_name: dict[str, list[_Node]] = defaultdict(list)
        for node in self.nodes.values():
            if level is None or node.level == level:
                for key in {node.name, short(node.name)}:
                    self.by_name[key].append(node)

    def match(self, values: list[Any]) -> tuple[_Node | None, str | None]:
        if not values or any(v in (None, "") for v in values):
            return None, "缺少匹配属性 (missing match property)"
        text = [str(v).strip() for v in values]
        code = codes.shorten(text[-1])
        if len(text) == 1 and codes.check(code) is None:
            node = self.by_code.get(code)
            return (
                (node, None)
                if node
                else (None, f"没有代码为 {code} 的区划 (no region with this code)")
            )
        candidates = self.by_name.get(text[-1]) or self.by_name.get(short(text[-1]), [])
        candidates = [n for n in candidates if self._has_ancestors(n, text[:-1])]
        if len(candidates) == 1:
            return candidates[0], None
        if not candidates:
            return None, f"没有名为 {'/'.join(text)} 的区划 (no region matches)"
        found = ", ".join(n.code for n in candidates[:5])
        return None, f"{'/'.join(text)} 匹配到多个区划 {found} (ambiguous; add a parent property)"

    def _has_ancestors(self, node: _Node, names: list[str]) -> bool:
        wanted = {short(n) for n in names}
        parent = self.nodes.get(node.parent_id) if node.parent_id else None
        while parent is not None and wanted:
            wanted.discard(short(parent.name))
            parent = self.nodes.get(parent.parent_id) if parent.parent_id else None
        return not wanted


def short(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name
