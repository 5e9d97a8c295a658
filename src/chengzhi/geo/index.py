"""Point location over the city's grid polygons (网格): which grid is this lon/lat in?

Design (all structure lives in flat numpy arrays; queries are vectorised):

* Every polygon ring is cut into edges; an edge shared by two neighbouring grids is stored once
  with both owners, which halves the work for a tiling.
* A quadtree over a root box that is square in metres.  A cell crossed by no edge lies wholly
  inside one polygon or outside all, so it stores that answer.  A crossed ("mixed") cell is split
  until it is small next to the grids around it, and then kept as a leaf holding its edges.
* Every mixed cell has a reference point whose polygon is known.  Any other point's polygon
  follows by walking straight from the reference point and counting, per polygon, the edges
  crossed: an odd count means that polygon's boundary was crossed.  The walk stays inside the
  cell, so only the cell's own edges matter.  Children get their labels the same way from their
  parent's reference point, so the build needs no per-cell geometry tests.
* The top levels are flattened into one dense raster: most points need a single array lookup.

Exactness: walks use only orientation signs.  Reference points keep clear of every edge, and a
vertex lying exactly on a walk is consistently counted on one side (simulation of simplicity),
so results agree with shapely for every point not within rounding distance (~1e-12°) of a
polygon boundary.  Points on a boundary get one of the polygons sharing it, or -1 on the rim.

Edges and crossing kernels live in `index_kernels`, the quadtree's cells in `index_cells`, the
build in `index_build`; this module holds the index and its queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from chengzhi.geo.index_build import Builder, paint_raster, return_freed_memory, top_level
from chengzhi.geo.index_cells import REF_FX, REF_FY, Frame, Leaves
from chengzhi.geo.index_kernels import (
    Edges,
    FloatArray,
    IntArray,
    as_geometry_array,
    crosses,
    crossings,
    csr_take,
    edge_scale,
    extract_edges,
    resolve,
)

__all__ = ["GridIndex"]

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0

# points set aside for a leaf test: (point index, ix, iy, leaf index)
_LeafBatch = tuple[IntArray, IntArray, IntArray, NDArray[np.int32]]


class GridIndex:
    """Exact point location over non-overlapping polygons: the grid id of lon/lat points.

    Queries are read-only and safe to share between threads.  The index keeps a reference to
    the input geometries for `nearest` (which builds a shapely STRtree on first use).

    Table values (raster and per-level child tables): v >= 0 is a node of the next level;
    otherwise u = -v - 2 is a polygon index (u < n; -1 = outside) or leaf u - n.
    """

    def __init__(
        self,
        frame: Frame,
        raster_level: int,
        raster: NDArray[np.int32],
        tables: list[NDArray[np.int32]],
        leaves: Leaves,
        edges: Edges,
        ids: IntArray,
        geoms: NDArray[np.object_],
    ) -> None:
        self._frame, self._k, self._raster, self._tables = frame, raster_level, raster, tables
        self._leaves, self._edges, self._ids, self._geoms = leaves, edges, ids, geoms
        self._n = len(ids)
        self._side = 1 << frame.depth
        self._sx, self._sy = self._side / frame.width, self._side / frame.height
        self._tree: shapely.STRtree | None = None
        self._poly_edges: tuple[IntArray, IntArray] | None = None

    @classmethod
    def build(
        cls,
        polygons: Sequence[object] | NDArray[np.object_],
        ids: ArrayLike,
        *,
        leaf_fraction: float = 1 / 8,
        max_depth: int = 20,
        raster_level: int | None = None,
    ) -> GridIndex:
        """Index `polygons` (lon/lat, non-overlapping; holes and multi-parts fine) by `ids`.

        leaf_fraction: leaf cells stop splitting at this fraction of the size of the grids
        around them (smaller: faster queries, more memory and build time).  max_depth bounds
        the quadtree; raster_level sets the dense top raster (4**level cells, default by size).
        """
        if not (0 < leaf_fraction <= 1 and 1 <= max_depth <= 30):
            raise ValueError("need 0 < leaf_fraction <= 1 and 1 <= max_depth <= 30")
        geoms = as_geometry_array(polygons)
        ids_arr = np.array(ids, dtype=np.int64).reshape(-1)
        if len(ids_arr) != len(geoms):
            raise ValueError(f"{len(geoms)} polygons but {len(ids_arr)} ids")
        edges = extract_edges(geoms)
        if not len(edges):
            raise ValueError("GridIndex needs at least one non-empty polygon")
        frame = Frame.around(shapely.total_bounds(geoms), max_depth)
        scale = edge_scale(geoms, edges, frame.y0 + 0.5 * frame.height)
        # start where cells hold a few grids each; the raster has ~16 cells per grid (<= 2048²)
        top = min(8, max(0, int(math.log(len(geoms), 4)) - 1), max_depth - 1)
        if raster_level is None:
            raster_level = min(11, max(4, math.ceil(math.log(16 * len(geoms), 4))))
        top_values, top_cells = top_level(frame, top, edges, geoms)
        builder = Builder(frame, edges, scale, leaf_fraction, len(geoms))
        builder.run(top_cells, top)
        k = max(top, min(raster_level, top + len(builder.tables)))
        index = cls(
            frame,
            k,
            paint_raster(top_values, builder.tables[: k - top]),
            builder.tables[k - top :],
            builder.leaves.collect(),
            edges,
            ids_arr,
            geoms,
        )
        del builder
        return_freed_memory()
        return index

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (not the shapely geometries, not the lazy STRtree)."""
        arrays = [self._raster, self._ids, *self._tables, *(self._poly_edges or ())]
        return int(sum(a.nbytes for a in arrays) + self._leaves.nbytes + self._edges.nbytes)

    # ---------------------------------------------------------------- queries

    def locate(self, lon: ArrayLike, lat: ArrayLike) -> IntArray:
        """Id of the grid containing each point, -1 where none does (a new int64 array shaped
        like `lon`)."""
        found = self._locate_index(lon, lat)
        return np.where(found >= 0, self._ids[found], -1).reshape(np.shape(lon))

    def locate_one(self, lon: float, lat: float) -> int:
        """`locate` for a single point, in plain Python to avoid numpy call overhead."""
        fx, fy = (lon - self._frame.x0) * self._sx, (lat - self._frame.y0) * self._sy
        if not (0.0 <= fx < self._side and 0.0 <= fy < self._side):
            return -1
        ix, iy = int(fx), int(fy)
        depth, level = self._frame.depth, self._k
        v = int(self._raster[((iy >> (depth - level)) << level) | (ix >> (depth - level))])
        while v >= 0:
            s = depth - level - 1
            v = int(self._tables[level - self._k][4 * v + ((ix >> s) & 1) + 2 * ((iy >> s) & 1)])
            level += 1
        found = -v - 2
        if found >= self._n:
            found = self._leaf_one(lon, lat, ix, iy, found - self._n)
        return int(self._ids[found]) if found >= 0 else -1

    def nearest(self, lon: ArrayLike, lat: ArrayLike) -> tuple[IntArray, FloatArray]:
        """Nearest grid id and distance in metres (0 inside a grid).

        Distances use a local equirectangular projection at each point.  Points with
        non-finite coordinates get id -1 and distance nan.
        """
        x = np.asarray(lon, dtype=np.float64).reshape(-1)
        y = np.asarray(lat, dtype=np.float64).reshape(-1)
        found = self._locate_index(x, y)
        dist = np.where(found >= 0, 0.0, np.nan)
        out = np.flatnonzero((found < 0) & np.isfinite(x) & np.isfinite(y))
        if len(out):
            found[out], dist[out] = self._nearest_outside(x[out], y[out])
        shape = np.shape(lon)
        return np.where(found >= 0, self._ids[found], -1).reshape(shape), dist.reshape(shape)

    # ---------------------------------------------------------------- internals

    def _locate_index(self, lon: ArrayLike, lat: ArrayLike) -> IntArray:
        """Polygon index (position in the build input) per point, -1 for none."""
        x = np.asarray(lon, dtype=np.float64).reshape(-1)
        y = np.asarray(lat, dtype=np.float64).reshape(-1)
        if x.shape != y.shape:
            raise ValueError("lon and lat must have the same length")
        out = np.full(len(x), -1, dtype=np.int64)
        fx, fy = (x - self._frame.x0) * self._sx, (y - self._frame.y0) * self._sy
        idx = np.flatnonzero((fx >= 0) & (fx < self._side) & (fy >= 0) & (fy < self._side))
        ix, iy = fx[idx].astype(np.int64), fy[idx].astype(np.int64)
        s = self._frame.depth - self._k
        v = self._raster[((iy >> s) << self._k) | (ix >> s)]
        in_leaves: list[_LeafBatch] = []
        for table in [*self._tables, None]:
            # decoded labels are final; values of nodes and leaves get overwritten later
            out[idx] = -v - 2
            leaf = v < -self._n - 1
            if leaf.any():
                in_leaves.append((idx[leaf], ix[leaf], iy[leaf], -v[leaf] - 2 - self._n))
            deeper = np.flatnonzero(v >= 0)
            if table is None or not len(deeper):
                break
            idx, ix, iy, v = idx[deeper], ix[deeper], iy[deeper], v[deeper]
            s -= 1
            v = table[4 * v + ((ix >> s) & 1) + 2 * ((iy >> s) & 1)]
        if in_leaves:
            idx, ix, iy, leaf = (np.concatenate(col) for col in zip(*in_leaves, strict=True))
            out[idx] = self._in_leaves(x[idx], y[idx], ix, iy, leaf.astype(np.int64))
        return out

    def _in_leaves(
        self, x: FloatArray, y: FloatArray, ix: IntArray, iy: IntArray, leaf: IntArray
    ) -> NDArray[np.int32]:
        """Exact answer for points in leaf cells: walk from the leaf's reference point."""
        lv, ed = self._leaves, self._edges
        level = lv.level[leaf].astype(np.int64)
        shift = self._frame.depth - level
        rx, ry = self._frame.ref_point(level, ix >> shift, iy >> shift, lv.code[leaf])
        starts = lv.e_ptr[leaf].astype(np.int64)
        counts = lv.e_ptr[leaf + 1] - starts
        owner = np.repeat(np.arange(len(leaf)), counts)
        e = lv.e_idx[csr_take(starts, counts)].astype(np.int64)
        px, py = rx[owner], ry[owner]
        cross, _ = crossings(
            (x - rx)[owner],
            (y - ry)[owner],
            ed.ax[e] - px,
            ed.ay[e] - py,
            ed.bx[e] - px,
            ed.by[e] - py,
        )
        return resolve(lv.label[leaf], owner[cross], e[cross], ed, self._n)

    def _leaf_one(self, lon: float, lat: float, ix: int, iy: int, leaf: int) -> int:
        """Scalar twin of _in_leaves."""
        lv, ed, frame = self._leaves, self._edges, self._frame
        level, code = int(lv.level[leaf]), int(lv.code[leaf])
        s = frame.depth - level
        rx = frame.x0 + ((ix >> s) + float(REF_FX[code])) * math.ldexp(frame.width, -level)
        ry = frame.y0 + ((iy >> s) + float(REF_FY[code])) * math.ldexp(frame.height, -level)
        odd: set[int] = set()
        for e in lv.e_idx[int(lv.e_ptr[leaf]) : int(lv.e_ptr[leaf + 1])].tolist():
            if crosses(
                lon - rx,
                lat - ry,
                float(ed.ax[e]) - rx,
                float(ed.ay[e]) - ry,
                float(ed.bx[e]) - rx,
                float(ed.by[e]) - ry,
            ):
                odd ^= {int(ed.left[e]), int(ed.right[e])} - {-1}
        start = int(lv.label[leaf])
        if start >= 0 and start not in odd:
            return start
        entered = odd - {start}
        return max(entered) if entered else -1

    def _nearest_outside(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, FloatArray]:
        """Nearest polygon by exact point-to-edge distance in each point's local metric frame."""
        if self._tree is None:
            self._tree = shapely.STRtree(self._geoms)
        points = shapely.points(x, y)
        _, deg = self._tree.query_nearest(points, return_distance=True, all_matches=False)
        # Degrees shrink east-west distances by cos(lat), so anything metrically nearer than
        # the nearest-in-degrees lies within deg / cos(lat) degrees: only those are measured.
        k = np.maximum(np.cos(np.radians(y)), 1e-6)
        pt, poly = self._tree.query(points, predicate="dwithin", distance=deg / k * (1 + 1e-9))
        ptr, owned = self._edges_by_polygon()
        counts = ptr[poly + 1] - ptr[poly]
        pair_pt = np.repeat(pt, counts)
        e = owned[csr_take(ptr[poly], counts)]
        ed = self._edges
        d = _metric_distance(x[pair_pt], y[pair_pt], ed.ax[e], ed.ay[e], ed.bx[e], ed.by[e])
        best = np.full(len(x), np.inf)
        np.minimum.at(best, pair_pt, d)
        win = d <= best[pair_pt]
        found = np.full(len(x), -1, dtype=np.int64)
        found[pair_pt[win]] = np.repeat(poly, counts)[win]
        return found, best

    def _edges_by_polygon(self) -> tuple[IntArray, IntArray]:
        """CSR from polygon index to its edges (built on the first `nearest` call)."""
        if self._poly_edges is None:
            ed = self._edges
            shared = np.flatnonzero(ed.right >= 0)
            owner = np.concatenate([ed.left, ed.right[shared]])
            edge = np.concatenate([np.arange(len(ed)), shared])
            ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=self._n))])
            self._poly_edges = (ptr, edge[np.argsort(owner, kind="stable")])
        return self._poly_edges


def _metric_distance(
    px: FloatArray, py: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray
) -> FloatArray:
    """Point-to-segment distance in metres, longitude scaled by cos(latitude of the point)."""
    k = np.cos(np.radians(py)) * METRES_PER_DEGREE
    ux, uy = (ax - px) * k, (ay - py) * METRES_PER_DEGREE
    vx, vy = (bx - px) * k, (by - py) * METRES_PER_DEGREE
    ex, ey = vx - ux, vy - uy
    t = np.clip(-(ux * ex + uy * ey) / np.maximum(ex * ex + ey * ey, 1e-300), 0.0, 1.0)
    return np.hypot(ux + t * ex, uy + t * ey)
