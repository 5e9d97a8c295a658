"""The vectorised batch of `geo/partition.py` (批量划分): many polygons partitioned at once —
one sampling pass, one Lloyd pass and one Voronoi diagram in which the polygons' seed sets are
moved far apart so they cannot interact. A polygon the batch cannot do well (a sliver, a sample
that outweighs a stratum, stray parts) is marked failed and left to `partition_careful`."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from chengzhi.geo.ordering import grouped_reading_order, in_reading_order
from chengzhi.geo.partition_careful import single_polygons
from chengzhi.geo.partition_seeds import (
    LUT_ORDER,
    SAMPLES_PER_PART,
    Density,
    clean_weights,
    lattice_position,
    nearest_in_group,
)

_LATTICE_SLACK = 64  # a lattice may hold this many times the samples wanted, no more
# GEOS ≥ 3.12 can return Voronoi cells in the order of their sites (shapely ≥ 2.1)
_VORONOI_OPTIONS = inspect.signature(shapely.voronoi_polygons).parameters
_ORDERED_VORONOI = "ordered" in _VORONOI_OPTIONS and shapely.geos_version >= (3, 12, 0)


class Batch:
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
        want = self.parts * SAMPLES_PER_PART
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
        fine = (np.maximum(nx, ny) > (1 << LUT_ORDER))[group]
        position = lattice_position(ix, iy, fine)
        order = np.argsort((group << 32) | position)  # by group, then along the curve
        x, y, group = x[order], y[order], group[order]
        weight = None
        if self.density is not None:
            weight = clean_weights(self.density(x, y), group, n_groups)
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
            owner = nearest_in_group(lx, ly, group, sx, sy, parts, seed_start)
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
            fixed[int(g)] = single_polygons(list(mine)) if len(mine) == self.parts[g] else None
            self.failed[g] = True
        keep = ~self.failed[group] if len(pieces) else np.zeros(0, dtype=bool)
        pieces, group = pieces[keep], group[keep]
        out: list[list[Polygon] | None] = [None] * n_groups
        if len(pieces):
            xy = shapely.get_coordinates(shapely.centroid(pieces))
            minx, miny, maxx, maxy = self.bounds.T
            order = grouped_reading_order(xy[:, 0], xy[:, 1], group, maxx - minx, maxy - miny)
            pieces, group = pieces[order], group[order]
            bounds = np.flatnonzero(np.diff(group)) + 1
            for chunk in np.split(np.arange(len(pieces)), bounds):
                out[int(group[chunk[0]])] = pieces[chunk].tolist()
        for g, mine in fixed.items():
            if mine is not None:
                out[g] = in_reading_order(mine, self.bounds[g])
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


def _safe_intersection(cell: Polygon, owner: Polygon):
    try:
        return shapely.intersection(cell, owner)
    except shapely.errors.GEOSException:
        return shapely.Polygon()  # marks the group as odd; it is redone the careful way
