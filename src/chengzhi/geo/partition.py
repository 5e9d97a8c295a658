"""Split polygons into pieces of roughly equal area that tile them exactly (区划/网格划分).

How a polygon is split into n pieces:

1. Sample points strictly inside it on a jittered lattice (~16 per piece).
2. Pick n seeds from the samples, stratified along a Hilbert curve through the lattice: the
   curve is cut into n runs of equal weight (area, or the optional density) and each run gives
   one seed, so the seeds are spread evenly.
3. Relax the seeds with a couple of discrete Lloyd iterations (each seed moves to the weighted
   centroid of the samples nearest to it).
4. Clip the Voronoi cells of the seeds to the polygon. Every seed lies strictly inside the
   polygon, so every clipped cell is non-empty and exactly n pieces come back. Neighbouring
   Voronoi cells share their vertices, so the pieces tile the polygon up to floating-point noise.
5. A cell that a concave polygon cuts into several parts keeps its largest part and hands the
   others to the neighbour they share the longest edge with, so every piece is one Polygon.

`partition_polygons` does this for many polygons at once, vectorised across all of them (one
sampling pass, one Lloyd pass and one Voronoi diagram in which the polygons' seed sets are moved
far apart so they cannot interact); the demo megacity cuts 11,000 communities into 120,000 grids
in one call. `partition_polygon` is the one-polygon case. Anything unusual (very thin polygons,
stray parts that cannot be merged) falls back to a careful per-polygon path with fresh seeds.

Steps 1–3 share `partition_seeds`; the batch is `partition_batch`, the careful path
`partition_careful`, the order of the pieces `ordering`. Pure numpy + shapely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from chengzhi.geo.ordering import in_reading_order
from chengzhi.geo.partition_batch import Batch
from chengzhi.geo.partition_careful import partition_one
from chengzhi.geo.partition_seeds import Density

__all__ = ["grid_count", "partition_polygon", "partition_polygons"]


def grid_count(households: int, target: int = 400) -> int:
    """How many grids (网格) cover `households` households at about `target` per grid (1…999)."""
    if target <= 0:
        raise ValueError(f"target must be positive, got {target}")
    return int(min(999, max(1, round(households / target))))


def partition_polygon(
    polygon: Polygon | MultiPolygon,
    parts: int,
    seed: int = 0,
    *,
    lloyd_iterations: int = 2,
    density: Density | None = None,
) -> list[Polygon]:
    """Split `polygon` into `parts` Polygons of roughly equal area that tile it exactly (no gaps,
    no overlaps), returned in reading order (north→south rows, west→east within a row; see
    `reading_order`). Deterministic for a given seed.

    `density`, if given, maps coordinate arrays (x, y) to non-negative weights; pieces then hold
    roughly equal *weight* instead of equal area (small pieces where the density is high).
    MultiPolygons are accepted too (see `partition_polygons`)."""
    return partition_polygons(
        [polygon], [parts], [seed], lloyd_iterations=lloyd_iterations, density=density
    )[0]


def partition_polygons(
    polygons: Sequence[Polygon | MultiPolygon] | np.ndarray,
    parts: Sequence[int] | np.ndarray,
    seeds: Sequence[int] | np.ndarray,
    *,
    lloyd_iterations: int = 2,
    density: Density | None = None,
) -> list[list[Polygon]]:
    """`partition_polygon` for many polygons at once: result[i] splits polygons[i] into parts[i]
    pieces using seeds[i]. Vectorised across the polygons, so much faster than a loop; the
    pieces of one polygon are the same as those of a single call up to floating-point noise.

    A MultiPolygon (an imported community with an exclave, say) is shared out over its parts by
    area, at least one piece each; asked for fewer pieces than it has parts, it comes back as
    that many groups of whole parts (MultiPolygons), as even in area as the parts allow."""
    items = list(polygons)
    counts = [int(n) for n in np.asarray(parts, dtype=np.int64).reshape(-1)]
    seed_list = [int(s) for s in seeds]
    if not len(items) == len(counts) == len(seed_list):
        raise ValueError("polygons, parts and seeds must have the same length")
    if lloyd_iterations < 0:
        raise ValueError(f"lloyd_iterations must be non-negative, got {lloyd_iterations}")
    result: list[list[Polygon]] = [[] for _ in items]
    task_geoms: list[Polygon] = []
    task_parts: list[int] = []
    task_seeds: list[int] = []
    task_owner: list[int] = []
    multi: dict[int, MultiPolygon] = {}
    for i, (geom, n, seed) in enumerate(zip(items, counts, seed_list, strict=True)):
        if n < 1:
            raise ValueError(f"parts must be at least 1, got {n}")
        if not isinstance(geom, Polygon | MultiPolygon):
            raise TypeError(f"expected a shapely Polygon, got {type(geom).__name__}")
        if geom.is_empty or geom.area <= 0:
            raise ValueError("cannot partition an empty polygon")
        if isinstance(geom, MultiPolygon):
            if n == 1:
                result[i] = [geom]
                continue
            components = [g for g in geom.geoms if g.area > 0]
            if len(components) > 1:
                if n < len(components):
                    result[i] = _group_parts(geom, components, n)
                    continue
                multi[i] = geom
                areas = np.array([g.area for g in components])
                shares = _at_least_one_each(n, areas)
                for j, (component, share) in enumerate(zip(components, shares, strict=True)):
                    task_geoms.append(component)
                    task_parts.append(int(share))
                    task_seeds.append(seed * 1_000_003 + j)
                    task_owner.append(i)
                continue
            geom = components[0]
        task_geoms.append(geom)
        task_parts.append(n)
        task_seeds.append(seed)
        task_owner.append(i)
    pieces = _partition_many(task_geoms, task_parts, task_seeds, lloyd_iterations, density)
    for i, mine in zip(task_owner, pieces, strict=True):
        result[i].extend(mine)
    for i, geom in multi.items():
        result[i] = in_reading_order(result[i], np.asarray(geom.bounds))
    return result


def _at_least_one_each(total: int, areas: np.ndarray) -> np.ndarray:
    """`total` split in proportion to `areas` (largest remainder), at least one each."""
    share = total * areas / areas.sum()
    out = np.maximum(1, np.floor(share)).astype(np.int64)
    while out.sum() < total:
        out[int(np.argmax(share - out))] += 1
    while out.sum() > total:
        out[int(np.argmin(np.where(out > 1, share - out, np.inf)))] -= 1
    return out


def _group_parts(geom: MultiPolygon, components: list[Polygon], n: int) -> list[Polygon]:
    """Whole parts in `n` groups of similar area: largest part first into the lightest group."""
    groups: list[list[Polygon]] = [[] for _ in range(n)]
    weight = np.zeros(n)
    for component in sorted(components, key=lambda g: g.area, reverse=True):
        k = int(np.argmin(weight))
        groups[k].append(component)
        weight[k] += component.area
    pieces = [g[0] if len(g) == 1 else MultiPolygon(g) for g in groups]
    return in_reading_order(pieces, np.asarray(geom.bounds))


def _partition_many(
    polygons: list[Polygon],
    counts: list[int],
    seeds: list[int],
    lloyd_iterations: int,
    density: Density | None,
) -> list[list[Polygon]]:
    geoms = np.empty(len(polygons), dtype=object)
    geoms[:] = polygons
    parts = np.asarray(counts, dtype=np.int64)
    result: list[list[Polygon] | None] = [
        [g] if n == 1 else None for g, n in zip(geoms, parts, strict=True)
    ]
    work = np.flatnonzero(parts > 1)
    if len(work):
        shapely.prepare(geoms[work])
        batch = Batch(geoms[work], parts[work], [seeds[i] for i in work], density)
        for i, pieces in zip(work, batch.run(lloyd_iterations), strict=True):
            result[i] = pieces
    for i, pieces in enumerate(result):
        if pieces is None:  # the batch gave up on this one: careful path, fresh seeds
            result[i] = partition_one(geoms[i], int(parts[i]), seeds[i], lloyd_iterations, density)
    return result  # type: ignore[return-value]
