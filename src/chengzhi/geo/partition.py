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

Pure numpy + shapely.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon, box

__all__ = ["grid_count", "partition_polygon", "partition_polygons", "reading_order"]

Density = Callable[[np.ndarray, np.ndarray], np.ndarray]

_SAMPLES_PER_PART = 16  # lattice sample points per requested piece (Lloyd uses them as mass)
_LUT_ORDER = 8  # Hilbert positions of lattices up to 256 × 256 come from a lookup table
_HILBERT_ORDER = 16  # finer lattices are indexed directly
_DENSE_NEAREST_MAX = 64  # up to this many seeds per polygon, nearest seeds by a distance matrix
_NEAREST_CHUNK = 1 << 21  # samples × seeds handled per vectorised nearest-seed step
_MAX_ATTEMPTS = 4
_LATTICE_SLACK = 64  # a lattice may hold this many times the samples wanted, no more
_LATTICE_MAX = 1 << 20  # points in one lattice of the careful path
# GEOS ≥ 3.12 can return Voronoi cells in the order of their sites (shapely ≥ 2.1)
_VORONOI_OPTIONS = inspect.signature(shapely.voronoi_polygons).parameters
_ORDERED_VORONOI = "ordered" in _VORONOI_OPTIONS and shapely.geos_version >= (3, 12, 0)


def grid_count(households: int, target: int = 400) -> int:
    """How many grids (网格) cover `households` households at about `target` per grid (1…999)."""
    if target <= 0:
        raise ValueError(f"target must be positive, got {target}")
    return int(min(999, max(1, round(households / target))))


def reading_order(polygons: Sequence[Polygon] | np.ndarray) -> list[int]:
    """Indices of `polygons` in reading order: north→south rows, west→east within a row.

    Rows are bands of centroid latitude: the polygons are sorted north to south and cut into
    round(sqrt(n · height / width)) rows of (nearly) equal size, height and width being those of
    the polygons' common bounding box; each row is then sorted west to east. The result does not
    depend on the input order (ties are broken by the other coordinate)."""
    geoms = np.asarray(polygons, dtype=object)
    if len(geoms) == 0:
        return []
    xy = shapely.get_coordinates(shapely.centroid(geoms))
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    group = np.zeros(len(geoms), dtype=np.int64)
    return _grouped_reading_order(
        xy[:, 0], xy[:, 1], group, np.array([maxx - minx]), np.array([maxy - miny])
    ).tolist()


def _grouped_reading_order(
    x: np.ndarray, y: np.ndarray, group: np.ndarray, width: np.ndarray, height: np.ndarray
) -> np.ndarray:
    """Reading order within each group; the result lists the groups one after another."""
    n_groups = len(width)
    counts = np.bincount(group, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.round(np.sqrt(counts * height / width))
    rows = np.where(width > 0, rows, counts)
    rows = np.clip(np.nan_to_num(rows, nan=1.0), 1, np.maximum(counts, 1)).astype(np.int64)
    north_first = np.lexsort((x, -y, group))  # primary key last
    start = np.cumsum(counts) - counts
    rank = np.arange(len(x)) - start[group[north_first]]
    row = np.empty(len(x), dtype=np.int64)
    g = group[north_first]
    row[north_first] = (rank * rows[g]) // np.maximum(counts[g], 1)
    return np.lexsort((-y, x, row, group))


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
        result[i] = _in_reading_order(result[i], np.asarray(geom.bounds))
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
    return _in_reading_order(pieces, np.asarray(geom.bounds))


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
        batch = _Batch(geoms[work], parts[work], [seeds[i] for i in work], density)
        for i, pieces in zip(work, batch.run(lloyd_iterations), strict=True):
            result[i] = pieces
    for i, pieces in enumerate(result):
        if pieces is None:  # the batch gave up on this one: careful path, fresh seeds
            result[i] = _partition_one(geoms[i], int(parts[i]), seeds[i], lloyd_iterations, density)
    return result  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Hilbert curve


def _hilbert_index(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """Position along a Hilbert curve of integer lattice coordinates in [0, 2**order)."""
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    d = np.zeros(len(x), dtype=np.int64)
    side = 1 << order
    s = side >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += (s * s) * np.where(rx, np.where(ry, 2, 3), np.where(ry, 1, 0))
        flip = rx & ~ry
        x = np.where(flip, side - 1 - x, x)
        y = np.where(flip, side - 1 - y, y)
        x, y = np.where(ry, x, y), np.where(ry, y, x)
        s >>= 1
    return d


_lut: np.ndarray | None = None


def _hilbert_lut() -> np.ndarray:
    """Hilbert positions of the cells of a 256 × 256 lattice, indexed [ix, iy] (built once)."""
    global _lut
    if _lut is None:
        side = 1 << _LUT_ORDER
        ix, iy = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        _lut = _hilbert_index(ix.ravel(), iy.ravel(), _LUT_ORDER).reshape(side, side)
    return _lut


def _lattice_position(ix: np.ndarray, iy: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Hilbert position of lattice cells; `fine` marks cells of lattices wider than 256."""
    top = (1 << _LUT_ORDER) - 1
    position = _hilbert_lut()[np.minimum(ix, top), np.minimum(iy, top)]
    if fine.any():
        position = position.copy()
        position[fine] = _hilbert_index(ix[fine], iy[fine], _HILBERT_ORDER)
    return position


def _hilbert_position(points: np.ndarray) -> np.ndarray:
    """Hilbert-curve position of arbitrary points within their bounding square."""
    top = (1 << _HILBERT_ORDER) - 1
    lo = points.min(axis=0)
    span = max(float((points.max(axis=0) - lo).max()), 1e-300)
    cells = np.minimum((points - lo) * (top / span), top).astype(np.int64)
    return _hilbert_index(cells[:, 0], cells[:, 1], _HILBERT_ORDER)


# ---------------------------------------------------------------------------------------------
# the vectorised batch


class _Batch:
    """Partitions of many polygons at once. Arrays indexed by polygon are 'per group'; sample
    points and seeds carry the index of their group."""

    def __init__(
        self, geoms: np.ndarray, parts: np.ndarray, seeds: list[int], density: Density | None
    ) -> None:
        self.geoms = geoms
        self.parts = parts
        self.density = density
        self.keys = _seed_keys(seeds)
        self.bounds = shapely.bounds(geoms)
        self.failed = np.zeros(len(geoms), dtype=bool)

    def run(self, lloyd_iterations: int) -> list[list[Polygon] | None]:
        x, y, group, weight = self._samples()
        if self.failed.all():
            return [None] * len(self.geoms)
        seed_x, seed_y = self._seeds(x, y, group, weight, lloyd_iterations)
        pieces, piece_group = self._cells(seed_x, seed_y)
        return self._collect(pieces, piece_group)

    # -- step 1: samples --------------------------------------------------------------------

    def _samples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        n_groups = len(self.geoms)
        minx, miny, maxx, maxy = self.bounds.T
        width, height = maxx - minx, maxy - miny
        fill = shapely.area(self.geoms) / (width * height)
        want = self.parts * _SAMPLES_PER_PART
        total = np.maximum(4, np.ceil(want / fill)).astype(np.int64)
        # slivers that fill little of their bounding box would need huge lattices: careful path
        self.failed |= total > _LATTICE_SLACK * want
        total = np.where(self.failed, 0, total)
        nx = np.maximum(1, np.round(np.sqrt(total * width / height))).astype(np.int64)
        ny = np.maximum(1, np.ceil(total / nx)).astype(np.int64)
        cells = np.where(self.failed, 0, nx * ny)
        group = np.repeat(np.arange(n_groups), cells)
        k = np.arange(len(group)) - (np.cumsum(cells) - cells)[group]
        iy, ix = np.divmod(k, nx[group])
        key = self.keys[group]
        jitter_x, jitter_y = _uniform(key, k)
        x = minx[group] + (ix + jitter_x) * (width / nx)[group]
        y = miny[group] + (iy + jitter_y) * (height / ny)[group]
        inside = shapely.contains_xy(self.geoms[group], x, y)
        found = np.bincount(group, weights=inside, minlength=n_groups)
        # thin or ragged polygons that caught too few lattice points go the careful way
        self.failed |= found < np.maximum(self.parts, want // 4)
        keep = inside & ~self.failed[group]
        x, y, group, ix, iy = x[keep], y[keep], group[keep], ix[keep], iy[keep]
        fine = (np.maximum(nx, ny) > (1 << _LUT_ORDER))[group]
        position = _lattice_position(ix, iy, fine)
        order = np.argsort((group << 32) | position)  # by group, then along the curve
        x, y, group = x[order], y[order], group[order]
        weight = None
        if self.density is not None:
            weight = _clean_weights(self.density(x, y), group, n_groups)
        return x, y, group, weight

    # -- steps 2 and 3: seeds ---------------------------------------------------------------

    def _seeds(
        self,
        x: np.ndarray,
        y: np.ndarray,
        group: np.ndarray,
        weight: np.ndarray | None,
        lloyd_iterations: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_groups = len(self.geoms)
        parts = np.where(self.failed, 0, self.parts)
        n_points = np.bincount(group, minlength=n_groups)
        end = np.cumsum(n_points)
        start = end - n_points
        cumulative = np.cumsum(weight) if weight is not None else np.arange(1.0, len(x) + 1)
        base = np.where(start > 0, cumulative[np.maximum(start - 1, 0)], 0.0)
        base[n_points == 0] = 0.0
        total = np.where(n_points > 0, cumulative[np.maximum(end - 1, 0)] - base, 0.0)
        seed_group = np.repeat(np.arange(n_groups), parts)
        seed_start = np.cumsum(parts) - parts
        k = np.arange(len(seed_group)) - seed_start[seed_group]
        offsets, _ = _uniform(self.keys[seed_group], -1 - k)  # draws apart from the jitter
        step = np.divide(total, parts, out=np.zeros(n_groups), where=parts > 0)
        # one seed per stratum, somewhere in its middle half: seeds stay ≥ half a stratum apart
        targets = base[seed_group] + (k + 0.25 + 0.5 * offsets) * step[seed_group]
        picked = np.searchsorted(cumulative, targets)
        picked = np.clip(picked, start[seed_group], end[seed_group] - 1)
        repeated = np.zeros(len(picked), dtype=bool)
        repeated[1:] = (picked[1:] == picked[:-1]) & (seed_group[1:] == seed_group[:-1])
        if repeated.any():  # one sample outweighs a whole stratum: careful path
            self.failed[seed_group[repeated]] = True

        # discrete Lloyd in coordinates relative to each group's sample mean; weight² makes the
        # seed density follow the weight (centroidal Voronoi puts generators at ∝ weight^½)
        safe = np.maximum(n_points, 1)
        origin_x = np.bincount(group, weights=x, minlength=n_groups) / safe
        origin_y = np.bincount(group, weights=y, minlength=n_groups) / safe
        lx, ly = x - origin_x[group], y - origin_y[group]
        sx, sy = lx[picked], ly[picked]
        mass = None if weight is None else weight * weight
        wx = lx if mass is None else mass * lx
        wy = ly if mass is None else mass * ly
        n_seeds = len(seed_group)
        for _ in range(lloyd_iterations):
            owner = _nearest_in_group(lx, ly, group, sx, sy, parts, seed_start)
            m = np.bincount(owner, weights=mass, minlength=n_seeds)
            mx = np.bincount(owner, weights=wx, minlength=n_seeds)
            my = np.bincount(owner, weights=wy, minlength=n_seeds)
            has = m > 0
            safe_m = np.where(has, m, 1.0)
            sx = np.where(has, mx / safe_m, sx)
            sy = np.where(has, my / safe_m, sy)
        sx = sx + origin_x[seed_group]
        sy = sy + origin_y[seed_group]
        if lloyd_iterations:
            px, py = x[picked], y[picked]
            outside = ~shapely.contains_xy(self.geoms[seed_group], sx, sy)
            # a centroid that fell outside a concave polygon: back to the picked sample
            sx = np.where(outside, px, sx)
            sy = np.where(outside, py, sy)
            order = np.lexsort((sy, sx, seed_group))
            same = (
                (np.diff(sx[order]) == 0)
                & (np.diff(sy[order]) == 0)
                & (np.diff(seed_group[order]) == 0)
            )
            if same.any():  # two seeds met: back to the (distinct) picks for that polygon
                back = np.isin(seed_group, seed_group[order[1:][same]])
                sx = np.where(back, px, sx)
                sy = np.where(back, py, sy)
        live = ~self.failed[seed_group]
        self.seed_group = seed_group[live]
        return sx[live], sy[live]

    # -- step 4: cells ----------------------------------------------------------------------

    def _cells(self, sx: np.ndarray, sy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        group = self.seed_group
        if len(group) == 0:
            return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
        cells, cell_group = self._voronoi(sx, sy, group)
        owner = self.geoms[cell_group]
        inner = shapely.contains_properly(owner, cells)
        pieces = cells.copy()
        cut = ~inner
        try:
            pieces[cut] = shapely.intersection(cells[cut], owner[cut])
        except shapely.errors.GEOSException:
            pieces[cut] = [
                _safe_intersection(c, o) for c, o in zip(cells[cut], owner[cut], strict=True)
            ]
        return pieces, cell_group

    def _voronoi(
        self, sx: np.ndarray, sy: np.ndarray, group: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Voronoi cells of every group's seeds, reaching well beyond the group's polygon."""
        minx, miny, maxx, maxy = self.bounds.T
        if _ORDERED_VORONOI and len(self.geoms) > 1:
            # One diagram: each group's seeds are moved to their own square of a lattice far
            # enough apart that, inside a group's (moved) polygon, the nearest seed is always one
            # of its own; the cells are moved back afterwards.
            reach = float(np.hypot(maxx - minx, maxy - miny).max())
            spacing = 3.0 * reach
            side = int(np.ceil(np.sqrt(len(self.geoms))))
            index = np.arange(len(self.geoms))
            dx = (index % side) * spacing - minx
            dy = (index // side) * spacing - miny
            points = np.column_stack([sx + dx[group], sy + dy[group]])
            rows = int(np.ceil(len(self.geoms) / side))
            frame = box(-spacing, -spacing, (side + 1) * spacing, (rows + 1) * spacing)
            diagram = shapely.voronoi_polygons(
                shapely.multipoints(points), extend_to=frame, ordered=True
            )
            cells = shapely.get_parts(diagram)
            if len(cells) == len(points):
                coords, which = shapely.get_coordinates(cells, return_index=True)
                coords[:, 0] -= dx[group[which]]
                coords[:, 1] -= dy[group[which]]
                cells = shapely.set_coordinates(cells, coords)
                return cells, group
        pad = np.maximum(maxx - minx, maxy - miny)
        frames = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
        live, compact = np.unique(group, return_inverse=True)
        seeds = shapely.multipoints(np.column_stack([sx, sy]), indices=compact)
        diagrams = shapely.voronoi_polygons(seeds, extend_to=frames[live])
        cells, which = shapely.get_parts(diagrams, return_index=True)
        return cells, live[which]

    # -- step 5: tidy up and order ----------------------------------------------------------

    def _collect(self, pieces: np.ndarray, group: np.ndarray) -> list[list[Polygon] | None]:
        n_groups = len(self.geoms)
        if len(pieces):
            single = (shapely.get_type_id(pieces) == 3) & shapely.is_valid(pieces)
            single &= ~shapely.is_empty(pieces)
            odd = np.unique(group[~single])
            counts = np.bincount(group, minlength=n_groups)
            wrong = np.flatnonzero((counts != self.parts) & ~self.failed)
            odd = np.union1d(odd, wrong)
        else:
            odd = np.empty(0, dtype=np.int64)
        fixed: dict[int, list[Polygon] | None] = {}
        for g in odd:
            mine = pieces[group == g]
            fixed[int(g)] = _single_polygons(list(mine)) if len(mine) == self.parts[g] else None
            self.failed[g] = True
        keep = ~self.failed[group] if len(pieces) else np.zeros(0, dtype=bool)
        pieces, group = pieces[keep], group[keep]
        out: list[list[Polygon] | None] = [None] * n_groups
        if len(pieces):
            xy = shapely.get_coordinates(shapely.centroid(pieces))
            minx, miny, maxx, maxy = self.bounds.T
            order = _grouped_reading_order(xy[:, 0], xy[:, 1], group, maxx - minx, maxy - miny)
            pieces, group = pieces[order], group[order]
            bounds = np.flatnonzero(np.diff(group)) + 1
            for chunk in np.split(np.arange(len(pieces)), bounds):
                out[int(group[chunk[0]])] = pieces[chunk].tolist()
        for g, mine in fixed.items():
            if mine is not None:
                out[g] = _in_reading_order(mine, self.bounds[g])
        return out


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective scramble of 64-bit integers."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _seed_keys(seeds: Sequence[int]) -> np.ndarray:
    """One 64-bit stream key per seed (any Python int; equal seeds give equal streams)."""
    low = np.array([s & 0xFFFFFFFFFFFFFFFF for s in seeds], dtype=np.uint64)
    high = np.array([(s >> 64) & 0xFFFFFFFFFFFFFFFF for s in seeds], dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(_mix(low + _GOLDEN) ^ high)


def _uniform(key: np.ndarray, counter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two counter-based uniforms in [0, 1) (32 bits each) for draw number `counter` of the
    stream `key`: every polygon of a batch draws its own numbers, vectorised and independent of
    the other polygons."""
    with np.errstate(over="ignore"):
        z = _mix(key + counter.astype(np.int64).view(np.uint64) * _GOLDEN)
    scale = 1.0 / (1 << 32)
    return (z & np.uint64(0xFFFFFFFF)) * scale, (z >> np.uint64(32)) * scale


def _clean_weights(raw: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Finite, positive weights (`group` must be sorted): every sample keeps at least a sliver
    of its group's largest weight, so cumulative sums strictly increase."""
    weight = np.asarray(raw, dtype=float).reshape(-1)
    weight = np.where(np.isfinite(weight) & (weight > 0), weight, 0.0)
    counts = np.bincount(group, minlength=n_groups)
    top = np.ones(n_groups)
    filled = counts > 0
    if filled.any():
        top[filled] = np.maximum.reduceat(weight, (np.cumsum(counts) - counts)[filled])
    top = np.where(top > 0, top, 1.0)
    return np.maximum(weight, top[group] * 1e-9)


def _nearest_in_group(
    lx: np.ndarray,
    ly: np.ndarray,
    group: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    parts: np.ndarray,
    seed_start: np.ndarray,
) -> np.ndarray:
    """Index of the nearest seed of the same group for every sample.

    Groups are bucketed by their number of seeds rounded up to a power of two; within a bucket
    the seeds sit in a padded (groups × width) matrix, so each sample compares itself with one
    gathered row. Groups with very many seeds use a spatial index instead."""
    owner = np.empty(len(lx), dtype=np.int64)
    n_groups = len(parts)
    width = 1 << np.ceil(np.log2(np.maximum(parts, 1))).astype(np.int64)
    seed_group = np.repeat(np.arange(n_groups), parts)
    lane = np.arange(len(seed_group)) - seed_start[seed_group]
    sample_width = width[group]
    for w in np.unique(sample_width):
        members = np.flatnonzero(sample_width == w)
        if w > _DENSE_NEAREST_MAX:  # many seeds: a spatial index per group beats a full matrix
            for g in np.unique(group[members]):
                idx = members[group[members] == g]
                first = seed_start[g]
                mine = shapely.points(sx[first : first + parts[g]], sy[first : first + parts[g]])
                found = shapely.STRtree(mine).query_nearest(
                    shapely.points(lx[idx], ly[idx]), all_matches=False
                )
                owner[idx[found[0]]] = first + found[1]
            continue
        in_bucket = np.flatnonzero((width == w) & (parts > 0))
        row = np.full(n_groups, -1, dtype=np.int64)
        row[in_bucket] = np.arange(len(in_bucket))
        # padding lanes hold a far-away sentinel so they are never nearest
        table_x = np.full((len(in_bucket), int(w)), 1e30)
        table_y = np.full((len(in_bucket), int(w)), 1e30)
        mine = row[seed_group] >= 0
        table_x[row[seed_group[mine]], lane[mine]] = sx[mine]
        table_y[row[seed_group[mine]], lane[mine]] = sy[mine]
        step = max(1, _NEAREST_CHUNK // int(w))
        for lo in range(0, len(members), step):
            idx = members[lo : lo + step]
            g = group[idx]
            r = row[g]
            d = lx[idx, None] - table_x[r]
            d *= d
            e = ly[idx, None] - table_y[r]
            e *= e
            d += e
            owner[idx] = seed_start[g] + d.argmin(axis=1)
    return owner


def _in_reading_order(pieces: list[Polygon], bounds: np.ndarray) -> list[Polygon]:
    xy = shapely.get_coordinates(shapely.centroid(np.asarray(pieces, dtype=object)))
    group = np.zeros(len(pieces), dtype=np.int64)
    minx, miny, maxx, maxy = bounds
    order = _grouped_reading_order(
        xy[:, 0], xy[:, 1], group, np.array([maxx - minx]), np.array([maxy - miny])
    )
    return [pieces[i] for i in order]


def _safe_intersection(cell: Polygon, owner: Polygon):
    try:
        return shapely.intersection(cell, owner)
    except shapely.errors.GEOSException:
        return shapely.Polygon()  # marks the group as odd; it is redone the careful way


# ---------------------------------------------------------------------------------------------
# the careful one-polygon path


def _partition_one(
    polygon: Polygon, parts: int, seed: int, lloyd_iterations: int, density: Density | None
) -> list[Polygon]:
    shapely.prepare(polygon)
    rng = np.random.default_rng([seed, 1])
    for _ in range(_MAX_ATTEMPTS):
        seeds = _seed_points(polygon, parts, rng, lloyd_iterations, density)
        try:
            pieces = _clip_cells(polygon, seeds)
        except shapely.errors.GEOSException:
            pieces = None
        if pieces is not None:
            return _in_reading_order(pieces, np.asarray(polygon.bounds))
    raise RuntimeError(f"could not partition polygon into {parts} single polygons")


def _samples(polygon: Polygon, count: int, rng: np.random.Generator) -> np.ndarray:
    """About `count` points strictly inside the polygon on a jittered lattice, refining the
    lattice for ragged polygons; for slivers, random points in a triangulation of the polygon."""
    minx, miny, maxx, maxy = polygon.bounds
    width, height = maxx - minx, maxy - miny
    fill = polygon.area / (width * height)
    want = count
    points = np.empty((0, 2))
    for _ in range(4):
        total = int(min(_LATTICE_MAX, max(4, np.ceil(want / fill))))
        nx = max(1, int(round(np.sqrt(total * width / height))))
        ny = max(1, int(np.ceil(total / nx)))
        k = np.arange(nx * ny)
        jitter = rng.random((2, nx * ny))
        x = minx + (k % nx + jitter[0]) * (width / nx)
        y = miny + (k // nx + jitter[1]) * (height / ny)
        inside = shapely.contains_xy(polygon, x, y)
        points = np.column_stack([x[inside], y[inside]])
        if len(points) >= count // 4 or total >= _LATTICE_MAX:
            break
        want *= 4
    if len(points) >= count // 4:
        return points
    return np.vstack([points, _random_inside(polygon, count, rng)])


def _random_inside(polygon: Polygon, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random points strictly inside the polygon, area-uniform, drawn from the triangles
    of a constrained Delaunay triangulation (so slivers are no harder than squares)."""
    if hasattr(shapely, "constrained_delaunay_triangles"):  # shapely ≥ 2.1
        triangles = shapely.get_parts(shapely.constrained_delaunay_triangles(polygon))
    else:  # the polygon's own triangles are as good as a box when the box is all we have
        triangles = shapely.get_parts(shapely.delaunay_triangles(polygon))
        triangles = triangles[shapely.within(shapely.point_on_surface(triangles), polygon)]
    if len(triangles) == 0:
        raise ValueError("polygon too thin to place points inside it")
    corners = shapely.get_coordinates(triangles).reshape(-1, 4, 2)[:, :3]
    areas = shapely.area(triangles)
    found: list[np.ndarray] = []
    have = 0
    for _ in range(20):
        which = rng.choice(len(triangles), size=2 * count, p=areas / areas.sum())
        r1, r2 = rng.random((2, 2 * count))
        swap = r1 + r2 > 1
        r1, r2 = np.where(swap, 1 - r1, r1), np.where(swap, 1 - r2, r2)
        a, b, c = corners[which, 0], corners[which, 1], corners[which, 2]
        xy = a + r1[:, None] * (b - a) + r2[:, None] * (c - a)
        xy = xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]
        found.append(xy)
        have += len(xy)
        if have >= count:
            break
    if have == 0:
        raise ValueError("polygon too thin to place points inside it")
    return np.vstack(found)[:count]


def _seed_points(
    polygon: Polygon,
    parts: int,
    rng: np.random.Generator,
    lloyd_iterations: int,
    density: Density | None,
) -> np.ndarray:
    samples = _samples(polygon, parts * _SAMPLES_PER_PART, rng)
    if len(samples) < parts:
        samples = np.vstack([samples, _random_inside(polygon, 2 * parts, rng)])
    samples = np.unique(samples, axis=0)
    if len(samples) < parts:
        raise ValueError(f"polygon too small to hold {parts} distinct pieces")
    group = np.zeros(len(samples), dtype=np.int64)
    weight = None
    if density is not None:
        weight = _clean_weights(density(samples[:, 0], samples[:, 1]), group, 1)
    along = np.argsort(_hilbert_position(samples), kind="stable")
    cumulative = np.cumsum(weight[along]) if weight is not None else np.arange(1.0, len(along) + 1)
    targets = (np.arange(parts) + 0.25 + 0.5 * rng.random(parts)) * (cumulative[-1] / parts)
    picked = along[np.minimum(np.searchsorted(cumulative, targets), len(along) - 1)]
    unique = np.unique(picked)
    if len(unique) < parts:  # one sample outweighs a whole stratum: top up at random
        spare = np.setdiff1d(np.arange(len(samples)), unique)
        picked = np.concatenate([unique, rng.choice(spare, parts - len(unique), replace=False)])
    origin = samples.mean(axis=0)
    local = samples - origin
    sx, sy = local[picked, 0], local[picked, 1]
    mass = None if weight is None else weight * weight
    for _ in range(lloyd_iterations):
        owner = _nearest_in_group(
            local[:, 0], local[:, 1], group, sx, sy, np.array([parts]), np.array([0])
        )
        m = np.bincount(owner, weights=mass, minlength=parts)
        wx = local[:, 0] if mass is None else mass * local[:, 0]
        wy = local[:, 1] if mass is None else mass * local[:, 1]
        has = m > 0
        safe = np.where(has, m, 1.0)
        sx = np.where(has, np.bincount(owner, weights=wx, minlength=parts) / safe, sx)
        sy = np.where(has, np.bincount(owner, weights=wy, minlength=parts) / safe, sy)
    seeds = np.column_stack([sx, sy]) + origin
    outside = ~shapely.contains_xy(polygon, seeds[:, 0], seeds[:, 1])
    seeds[outside] = samples[picked][outside]
    if len(np.unique(seeds, axis=0)) < parts:
        seeds = samples[picked]
    return seeds


def _clip_cells(polygon: Polygon, seeds: np.ndarray) -> list[Polygon] | None:
    """The Voronoi cells of `seeds` clipped to `polygon`, one single Polygon per seed; None when
    that cannot be done (the caller re-seeds)."""
    minx, miny, maxx, maxy = polygon.bounds
    pad = max(maxx - minx, maxy - miny)
    frame = box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame))
    if len(cells) != len(seeds) or not shapely.is_valid(cells).all():
        return None
    return _single_polygons(list(shapely.intersection(cells, polygon)))


def _single_polygons(clipped: list) -> list[Polygon] | None:
    """One valid single Polygon per clipped cell: invalid results are repaired, a cell cut into
    several parts keeps its largest part and its other parts join their neighbours."""
    pieces: list[Polygon] = []
    strays: list[Polygon] = []
    for geom in clipped:
        if geom is None or geom.is_empty:
            return None
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        if isinstance(geom, Polygon):
            pieces.append(geom)
            continue
        polys = sorted(_polygon_parts([geom]), key=lambda p: p.area, reverse=True)
        if not polys:
            return None
        pieces.append(polys[0])
        strays.extend(polys[1:])
    return _merge_strays(pieces, strays) if strays else pieces


def _polygon_parts(geoms: list) -> list[Polygon]:
    out: list[Polygon] = []
    for g in geoms:
        if isinstance(g, Polygon):
            if g.area > 0:
                out.append(g)
        else:
            out.extend(_polygon_parts(list(shapely.get_parts(g))))
    return out


def _merge_strays(pieces: list[Polygon], strays: list[Polygon]) -> list[Polygon] | None:
    """Give each stray part to the piece it shares the longest boundary with."""
    pending = sorted(strays, key=lambda p: p.area, reverse=True)
    while pending:
        waiting: list[Polygon] = []
        boundaries = shapely.boundary(np.asarray(pieces, dtype=object))
        tree = shapely.STRtree(np.asarray(pieces, dtype=object))
        for stray in pending:
            near = tree.query(stray)
            merged = None
            if len(near):
                shared = shapely.length(shapely.intersection(boundaries[near], stray.boundary))
                for k in np.argsort(-shared, kind="stable"):
                    if shared[k] <= 0:
                        break
                    candidate = shapely.union(pieces[near[k]], stray)
                    if isinstance(candidate, Polygon) and candidate.is_valid:
                        merged = int(near[k]), candidate
                        break
            if merged is None:
                waiting.append(stray)
                continue
            j, candidate = merged
            pieces[j] = candidate
            boundaries[j] = candidate.boundary
        if len(waiting) == len(pending):
            return None  # no stray found a neighbour this round: give up (the caller re-seeds)
        pending = waiting  # pieces grew: the strays left may touch them now
    return pieces
