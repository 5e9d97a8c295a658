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
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

__all__ = ["GridIndex"]

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0

# Reference point candidates, as fractions of a cell's width and height.  They stay in the inner
# part of the cell (so edges outside the cell are far away) and avoid round fractions (so they
# rarely sit on axis-aligned data).  The first one is used unless an edge passes too close.
_REF_FX = np.array([0.5137, 0.3611, 0.6389, 0.3823, 0.6177, 0.4411, 0.6652, 0.3348])
_REF_FY = np.array([0.4863, 0.6389, 0.3611, 0.3487, 0.6513, 0.6652, 0.5589, 0.4411])
# A reference point keeps at least this fraction of the cell size away from the cell's edges.
_CLEARANCE = 1e-4
# Leaves hold at most this many edges (unless at max depth): bounds the work per point.
_LEAF_EDGES = 8
# Cells count edges passing within this fraction of the root size as theirs: far above the
# rounding of a point's cell address (~1e-15), far below any cell size (2**-30 at the least).
_GROW = 1e-9
# Child quadrant q of a cell: x offset q & 1, y offset q >> 1.
_QX = np.array([0, 1, 0, 1], dtype=np.int32)
_QY = np.array([0, 0, 1, 1], dtype=np.int32)
# Cells are split in chunks of about this many (cell, edge) pairs: temporaries stay in cache.
_CHUNK_PAIRS = 1 << 16

IntArray = NDArray[np.int64]
Ints = NDArray[np.integer[Any]]  # cell addresses and edge ids are int32 where memory counts
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
# points set aside for a leaf test: (point index, ix, iy, leaf index)
_LeafBatch = tuple[IntArray, IntArray, IntArray, NDArray[np.int32]]


# --------------------------------------------------------------------------- polygon edges


@dataclass(frozen=True)
class _Edges:
    """Polygon boundary segments a→b; `right` is the other polygon sharing the edge, or -1."""

    ax: FloatArray
    ay: FloatArray
    bx: FloatArray
    by: FloatArray
    left: NDArray[np.int32]
    right: NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.ax)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.ax, self.ay, self.bx, self.by, self.left, self.right))


def _as_geometry_array(polygons: Sequence[object] | NDArray[np.object_]) -> NDArray[np.object_]:
    geoms = np.empty(len(polygons), dtype=object)
    geoms[:] = list(polygons)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    bad = ~polygonal & ~shapely.is_empty(geoms)
    if bad.any():
        raise TypeError(f"grid {int(np.flatnonzero(bad)[0])} is not a Polygon or MultiPolygon")
    return geoms


def _extract_edges(geoms: NDArray[np.object_]) -> _Edges:
    """All ring segments of all polygons, with the index of the polygon each belongs to."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    same_ring = vertex_ring[1:] == vertex_ring[:-1]
    a, b = xy[:-1][same_ring], xy[1:][same_ring]
    owner = part_owner[ring_part[vertex_ring[:-1][same_ring]]]
    keep = (a != b).any(axis=1)  # zero-length segments cross nothing
    if not keep.any():
        empty = np.zeros(0)
        return _Edges(empty, empty, empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int32))
    return _merge_shared(a[keep], b[keep], owner[keep].astype(np.int32))


def _merge_shared(a: FloatArray, b: FloatArray, owner: NDArray[np.int32]) -> _Edges:
    """Store an edge shared by exactly two polygons once, with both owners.

    Copies of one edge have the same end-point sums in either direction, so sorting by those
    sums puts them next to each other; exact end-point equality confirms the match.
    """
    s = a + b
    order = np.lexsort((s[:, 1], s[:, 0]))
    a, b, owner = a[order], b[order], owner[order]
    a0, a1, b0, b1 = a[:-1], a[1:], b[:-1], b[1:]
    same = ((a0 == b1).all(axis=1) & (b0 == a1).all(axis=1)) | (
        (a0 == a1).all(axis=1) & (b0 == b1).all(axis=1)
    )
    match = np.append(same, False)
    before = np.insert(match[:-1], 0, False)
    after = np.append(match[1:], False)
    first = match & ~before & ~after  # exactly two copies; rarer multiples stay separate
    right = np.full(len(a), -1, dtype=np.int32)
    right[first] = owner[np.flatnonzero(first) + 1]
    keep = ~np.insert(first[:-1], 0, False)
    return _Edges(
        np.ascontiguousarray(a[keep, 0]),
        np.ascontiguousarray(a[keep, 1]),
        np.ascontiguousarray(b[keep, 0]),
        np.ascontiguousarray(b[keep, 1]),
        owner[keep],
        right[keep],
    )


def _edge_scale(geoms: NDArray[np.object_], edges: _Edges, lat: float) -> FloatArray:
    """Per edge, the size (√area, in degrees of latitude) of the smaller grid it bounds."""
    size = np.sqrt(shapely.area(geoms) * math.cos(math.radians(lat)))
    right = np.where(edges.right >= 0, size[edges.right], np.inf)
    scale: FloatArray = np.minimum(size[edges.left], right)
    return scale


# --------------------------------------------------------------------------- vector kernels


def _csr_take(starts: IntArray, counts: IntArray) -> IntArray:
    """Positions starts[i] .. starts[i] + counts[i] - 1 for every i, concatenated."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(starts - (ends - counts), counts) + np.arange(total)


def _crossings(
    qx: FloatArray, qy: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray
) -> tuple[BoolArray, FloatArray]:
    """Does the walk from the origin to q cross edge a→b?  Also returns orient(a, b, q).

    Coordinates are relative to the walk's start (a reference point); arguments broadcast.  An
    edge vertex exactly on the walk's line counts as lying right of it: both edges meeting there
    get the same verdict, so a walk through a vertex is counted once.  Neither end of a walk is
    ever on an edge (by construction, or by the caller's contract), so the rest is robust.
    """
    side_a = qx * ay - qy * ax > 0
    side_b = qx * by - qy * bx > 0
    turn_start = ax * by - ay * bx
    turn_q = (bx - ax) * qy - (by - ay) * qx + turn_start
    return (side_a != side_b) & (turn_start * turn_q < 0), turn_q


def _crosses(qx: float, qy: float, ax: float, ay: float, bx: float, by: float) -> bool:
    """Scalar twin of _crossings in plain floats, for the single-point path."""
    turn_start = ax * by - ay * bx
    turn_q = (bx - ax) * qy - (by - ay) * qx + turn_start
    return (qx * ay - qy * ax > 0) != (qx * by - qy * bx > 0) and turn_start * turn_q < 0


def _resolve(
    start: NDArray[np.int32], target: IntArray, edge: Ints, edges: _Edges, n_polygons: int
) -> NDArray[np.int32]:
    """Polygon of each walk's end, from the polygon `start` at its beginning.

    (target[k], edge[k]) lists the crossings of all walks.  A polygon whose boundary was crossed
    an odd number of times was left (if it held the start) or entered (otherwise).
    """
    right = edges.right[edge]
    shared = right >= 0
    who = np.concatenate([target, target[shared]])
    poly = np.concatenate([edges.left[edge], right[shared]]).astype(np.int64)
    keys, counts = np.unique(who * (n_polygons + 1) + poly, return_counts=True)
    keys = keys[(counts & 1) == 1]
    odd_who, odd_poly = keys // (n_polygons + 1), (keys % (n_polygons + 1)).astype(np.int32)
    left_start = odd_poly == start[odd_who]
    moved = np.zeros(len(start), dtype=bool)
    moved[odd_who[left_start]] = True
    entered = np.full(len(start), -1, dtype=np.int32)
    entered[odd_who[~left_start]] = odd_poly[~left_start]  # ascending keys: largest id wins
    return np.where(moved | (start < 0), entered, start)


def _touches(
    ax: FloatArray,
    ay: FloatArray,
    bx: FloatArray,
    by: FloatArray,
    cx: NDArray[np.floating[Any]],
    cy: NDArray[np.floating[Any]],
    hx: float,
    hy: float,
) -> BoolArray:
    """Does segment a-b meet the box of centre c and half sizes hx, hy?  (Broadcasts.)

    Separating axes: the two box axes (bounding boxes overlap) and the segment's normal.
    """
    nx, ny = ay - by, bx - ax
    return (
        (np.abs(cx - 0.5 * (ax + bx)) <= hx + 0.5 * np.abs(bx - ax))
        & (np.abs(cy - 0.5 * (ay + by)) <= hy + 0.5 * np.abs(by - ay))
        & (np.abs(nx * (cx - ax) + ny * (cy - ay)) <= np.abs(nx) * hx + np.abs(ny) * hy)
    )


def _segment_dist2(px: FloatArray, py: FloatArray, e: Ints, edges: _Edges) -> FloatArray:
    """Squared distance (degrees²) from points to edges; used to keep reference points clear."""
    ax, ay = edges.ax[e], edges.ay[e]
    ex, ey = edges.bx[e] - ax, edges.by[e] - ay
    t = np.clip(((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return (ax + t * ex - px) ** 2 + (ay + t * ey - py) ** 2


# --------------------------------------------------------------------------- quadtree build


@dataclass(frozen=True)
class _Frame:
    """The quadtree's root box; level-l cells are (root size / 2**l), addressed by integers."""

    x0: float
    y0: float
    width: float
    height: float
    depth: int

    @classmethod
    def around(cls, bounds: Sequence[float], depth: int) -> _Frame:
        """Root box covering bounds, square in metres so cells are roughly square on the ground."""
        minx, miny, maxx, maxy = bounds
        k = math.cos(math.radians(0.5 * (miny + maxy)))
        half = 0.5 * max((maxx - minx) * k, maxy - miny, 1e-9) * (1 + 1e-6)
        cx, cy = 0.5 * (minx + maxx), 0.5 * (miny + maxy)
        return cls(cx - half / k, cy - half, 2 * half / k, 2 * half, depth)

    def cell(self, level: int) -> tuple[float, float]:
        """Width and height of the level's cells (exact: powers of two of the root's)."""
        return math.ldexp(self.width, -level), math.ldexp(self.height, -level)

    def ref_point(
        self, level: int | IntArray, ix: Ints, iy: Ints, code: NDArray[np.uint8] | int
    ) -> tuple[FloatArray, FloatArray]:
        """Reference point `code` of cells (ix, iy); level may vary per cell."""
        w, h = np.ldexp(self.width, -level), np.ldexp(self.height, -level)
        return self.x0 + (ix + _REF_FX[code]) * w, self.y0 + (iy + _REF_FY[code]) * h


@dataclass
class _Cells:
    """Mixed cells of one level: position, reference point (code, label) and their edges."""

    ix: NDArray[np.int32]
    iy: NDArray[np.int32]
    code: NDArray[np.uint8]
    label: NDArray[np.int32]
    e_ptr: IntArray  # CSR offsets into e_idx, len(cells) + 1
    e_idx: NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.ix)

    def take(self, sel: IntArray) -> _Cells:
        starts, counts = self.e_ptr[sel], self.e_ptr[sel + 1] - self.e_ptr[sel]
        ptr = np.concatenate([[0], np.cumsum(counts)])
        return _Cells(
            self.ix[sel],
            self.iy[sel],
            self.code[sel],
            self.label[sel],
            ptr,
            self.e_idx[_csr_take(starts, counts)],
        )

    def chunks(self) -> Iterator[_Cells]:
        """Consecutive slices (views) holding about _CHUNK_PAIRS edges each."""
        cuts = np.searchsorted(self.e_ptr, np.arange(0, self.e_ptr[-1], _CHUNK_PAIRS))
        bounds = np.unique(np.concatenate([cuts.clip(0, len(self)), [len(self)]]))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            e0, e1 = self.e_ptr[lo], self.e_ptr[hi]
            yield _Cells(
                self.ix[lo:hi],
                self.iy[lo:hi],
                self.code[lo:hi],
                self.label[lo:hi],
                self.e_ptr[lo : hi + 1] - e0,
                self.e_idx[e0:e1],
            )

    @staticmethod
    def concat(parts: list[_Cells]) -> _Cells:
        """One _Cells from a non-empty list of them."""
        counts = np.concatenate([np.diff(p.e_ptr) for p in parts])
        cat = np.concatenate
        return _Cells(
            cat([p.ix for p in parts]),
            cat([p.iy for p in parts]),
            cat([p.code for p in parts]),
            cat([p.label for p in parts]),
            np.concatenate([[0], np.cumsum(counts)]),
            cat([p.e_idx for p in parts]),
        )


@dataclass(frozen=True)
class _Pairs:
    """A chunk's (cell, edge) rows, edge ends relative to the cell's reference point (rx, ry)."""

    rx: FloatArray  # per cell
    ry: FloatArray
    cell: IntArray  # per pair from here on
    edge: NDArray[np.int32]
    ax: FloatArray
    ay: FloatArray
    bx: FloatArray
    by: FloatArray

    @classmethod
    def of(cls, frame: _Frame, level: int, cells: _Cells, edges: _Edges) -> _Pairs:
        rx, ry = frame.ref_point(level, cells.ix, cells.iy, cells.code)
        cell = np.repeat(np.arange(len(cells)), np.diff(cells.e_ptr))
        e = cells.e_idx
        prx, pry = rx[cell], ry[cell]
        return cls(
            rx,
            ry,
            cell,
            e,
            edges.ax[e] - prx,
            edges.ay[e] - pry,
            edges.bx[e] - prx,
            edges.by[e] - pry,
        )


@dataclass
class _Leaves:
    """Leaf cells for exact tests: level, reference point (code, label) and edges (CSR)."""

    level: NDArray[np.uint8]
    code: NDArray[np.uint8]
    label: NDArray[np.int32]
    e_ptr: NDArray[np.int64] | NDArray[np.int32]
    e_idx: NDArray[np.int32]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.level, self.code, self.label, self.e_ptr, self.e_idx))


@dataclass
class _LeafParts:
    """Leaves as the chunks produce them, joined once at the end (kept lean meanwhile)."""

    level: list[NDArray[np.uint8]] = field(default_factory=list)
    code: list[NDArray[np.uint8]] = field(default_factory=list)
    label: list[NDArray[np.int32]] = field(default_factory=list)
    count: list[NDArray[np.int32]] = field(default_factory=list)
    e_idx: list[NDArray[np.int32]] = field(default_factory=list)
    n: int = 0

    def add(self, level: int, cells: _Cells) -> None:
        self.level.append(np.full(len(cells), level, dtype=np.uint8))
        self.code.append(cells.code)
        self.label.append(cells.label)
        self.count.append(np.diff(cells.e_ptr).astype(np.int32))
        self.e_idx.append(cells.e_idx)
        self.n += len(cells)

    def collect(self) -> _Leaves:
        """All leaves in one set of arrays, in the order their table values refer to."""
        count = np.concatenate(self.count)
        small = count.sum() < 2**31  # then int32 offsets halve the pointer array
        ptr = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
        return _Leaves(
            np.concatenate(self.level),
            np.concatenate(self.code),
            np.concatenate(self.label),
            ptr.astype(np.int32) if small else ptr,
            np.concatenate(self.e_idx),
        )


@dataclass
class _Builder:
    """Splits the quadtree level by level, collecting child tables and leaves."""

    frame: _Frame
    edges: _Edges
    edge_scale: FloatArray  # size of the smallest grid owning each edge (degrees of latitude)
    leaf_fraction: float
    n_polygons: int
    tables: list[NDArray[np.int32]] = field(default_factory=list)
    leaves: _LeafParts = field(default_factory=_LeafParts)

    def run(self, cells: _Cells, level: int) -> None:
        """Split level after level until every mixed cell has become a leaf."""
        while len(cells):
            parts, rows, n_next = [], [], 0
            for chunk in cells.chunks():
                row, internal = self._split(level, chunk, n_next)
                rows.append(row)
                parts.append(internal)
                n_next += len(internal)
            self.tables.append(np.concatenate(rows))
            cells, level = _Cells.concat(parts), level + 1

    def _split(
        self, level: int, cells: _Cells, node_offset: int
    ) -> tuple[NDArray[np.int32], _Cells]:
        """Children of `cells`: their table rows (4 values per cell) and the ones to split next."""
        pairs = _Pairs.of(self.frame, level, cells, self.edges)
        hit = self._child_hits(level, cells, pairs)
        children, slot = _mixed_children(cells, hit)
        target, edge, unclear = self._walk(level, cells, pairs, hit)
        if len(unclear):  # rare: an edge passes too close to a default reference point
            target, edge = self._rewalk(level, cells, pairs, children, slot, unclear, target, edge)
        labels = _resolve(np.tile(cells.label, 4), target, edge, self.edges, self.n_polygons)
        children.label = labels[slot]
        leaf = self._is_leaf(level + 1, children)
        values = -labels - 2  # pure children: their encoded label
        values[slot] = self._encode_mixed(leaf, node_offset)
        self.leaves.add(level + 1, children.take(np.flatnonzero(leaf)))
        return values.reshape(4, -1).T.reshape(-1), children.take(np.flatnonzero(~leaf))

    def _child_hits(self, level: int, cells: _Cells, pairs: _Pairs) -> BoolArray:
        """(4, pairs): does the edge touch child quadrant q?"""
        wc, hc = self.frame.cell(level + 1)
        grow = _GROW * self.frame.height
        # centres of the 4 children relative to the parent's reference point
        cx = self.frame.x0 + (2 * cells.ix + _QX[:, None] + 0.5) * wc - pairs.rx
        cy = self.frame.y0 + (2 * cells.iy + _QY[:, None] + 0.5) * hc - pairs.ry
        return _touches(
            pairs.ax,
            pairs.ay,
            pairs.bx,
            pairs.by,
            cx[:, pairs.cell],
            cy[:, pairs.cell],
            0.5 * wc + grow,
            0.5 * hc + grow,
        )

    def _walk(
        self, level: int, cells: _Cells, pairs: _Pairs, hit: BoolArray
    ) -> tuple[IntArray, Ints, IntArray]:
        """Crossings of the walks from each cell's reference point to its children's default
        reference points, as (child slot, edge); plus the mixed children whose default point
        lies too close to one of their edges."""
        n = len(cells)
        wc, hc = self.frame.cell(level + 1)
        qx = self.frame.x0 + (2 * cells.ix + _QX[:, None] + _REF_FX[0]) * wc - pairs.rx
        qy = self.frame.y0 + (2 * cells.iy + _QY[:, None] + _REF_FY[0]) * hc - pairs.ry
        ax, ay, bx, by = pairs.ax, pairs.ay, pairs.bx, pairs.by
        cross, turn = _crossings(qx[:, pairs.cell], qy[:, pairs.cell], ax, ay, bx, by)
        need = (_CLEARANCE * min(wc, hc)) ** 2 * ((bx - ax) ** 2 + (by - ay) ** 2)
        close = hit & (turn * turn < need)  # distance to the edge's line, a lower bound
        q, p = np.nonzero(cross)
        cq, cp = np.nonzero(close)
        return q * n + pairs.cell[p], pairs.edge[p], np.unique(cq * n + pairs.cell[cp])

    def _rewalk(
        self,
        level: int,
        cells: _Cells,
        pairs: _Pairs,
        children: _Cells,
        slot: IntArray,
        unclear: IntArray,
        target: IntArray,
        edge: Ints,
    ) -> tuple[IntArray, Ints]:
        """Give `unclear` children another reference point and redo their walks."""
        pos = np.searchsorted(slot, unclear)
        moved = children.take(pos)
        moved.code = _choose_codes(self.frame, level + 1, moved, self.edges, first=1)
        children.code[pos] = moved.code
        parent = unclear % len(cells)
        starts, counts = cells.e_ptr[parent], np.diff(cells.e_ptr)[parent]
        rows, owner = _csr_take(starts, counts), np.repeat(np.arange(len(parent)), counts)
        qx, qy = self.frame.ref_point(level + 1, moved.ix, moved.iy, moved.code)
        qx, qy = (qx - pairs.rx[parent])[owner], (qy - pairs.ry[parent])[owner]
        cross, _ = _crossings(
            qx, qy, pairs.ax[rows], pairs.ay[rows], pairs.bx[rows], pairs.by[rows]
        )
        keep = ~np.isin(target, unclear)
        return (
            np.concatenate([target[keep], unclear[owner[cross]]]),
            np.concatenate([edge[keep], pairs.edge[rows[cross]]]),
        )

    def _is_leaf(self, level: int, cells: _Cells) -> BoolArray:
        """Stop splitting when a cell is small next to the grids around it and holds only a
        few edges (finely drawn boundaries get smaller leaves), or at max depth."""
        if level >= self.frame.depth or not len(cells):
            return np.ones(len(cells), dtype=bool)
        local = np.minimum.reduceat(self.edge_scale[cells.e_idx], cells.e_ptr[:-1])
        few = np.diff(cells.e_ptr) <= _LEAF_EDGES
        return few & (self.frame.cell(level)[1] <= self.leaf_fraction * local)

    def _encode_mixed(self, leaf: BoolArray, node_offset: int) -> NDArray[np.int32]:
        """Table values of mixed children: next-level node index, or encoded leaf index."""
        values = np.empty(len(leaf), dtype=np.int32)
        n_leaf = int(leaf.sum())
        values[leaf] = -(self.n_polygons + 2) - (self.leaves.n + np.arange(n_leaf))
        values[~leaf] = node_offset + np.arange(len(leaf) - n_leaf)
        return values


def _mixed_children(cells: _Cells, hit: BoolArray) -> tuple[_Cells, IntArray]:
    """Children touched by an edge, ordered by (quadrant, parent); and their slots
    quadrant * len(cells) + parent.  Codes default to 0, labels are filled in later."""
    counts = np.add.reduceat(hit, cells.e_ptr[:-1], axis=1, dtype=np.int64).reshape(-1)
    slot = np.flatnonzero(counts)
    quadrant, parent = np.divmod(slot, len(cells))
    _, pair = np.nonzero(hit)  # row-major: grouped by (quadrant, parent) just like `slot`
    return _Cells(
        2 * cells.ix[parent] + _QX[quadrant],
        2 * cells.iy[parent] + _QY[quadrant],
        np.zeros(len(slot), np.uint8),
        np.zeros(len(slot), np.int32),
        np.concatenate([[0], np.cumsum(counts[slot])]),
        cells.e_idx[pair],
    ), slot


def _choose_codes(
    frame: _Frame, level: int, cells: _Cells, edges: _Edges, first: int = 0
) -> NDArray[np.uint8]:
    """Per cell, the first reference position from `first` on that keeps clear of its edges
    (or the clearest one, should none qualify)."""
    w, h = frame.cell(level)
    need = (_CLEARANCE * min(w, h)) ** 2
    code = np.full(len(cells), first, dtype=np.uint8)
    best = np.full(len(cells), -1.0)
    pending = np.arange(len(cells))
    for c in range(first, len(_REF_FX)):
        starts = cells.e_ptr[pending]
        counts = cells.e_ptr[pending + 1] - starts
        owner = np.repeat(np.arange(len(pending)), counts)
        px, py = frame.ref_point(level, cells.ix[pending], cells.iy[pending], c)
        d2 = _segment_dist2(px[owner], py[owner], cells.e_idx[_csr_take(starts, counts)], edges)
        clear = np.minimum.reduceat(d2, np.concatenate([[0], np.cumsum(counts)[:-1]]))
        better = clear > best[pending]
        best[pending[better]] = clear[better]
        code[pending[better]] = c
        pending = pending[clear < need]
        if not len(pending):
            break
    return code


def _top_level(
    frame: _Frame, level: int, edges: _Edges, geoms: NDArray[np.object_]
) -> tuple[NDArray[np.int32], _Cells]:
    """The first level, built directly: edges binned into its 2**level x 2**level cells, and
    every cell's point labelled by shapely.  Returns the level's table values and mixed cells.

    Starting a few levels down saves splitting the coarse levels, where every edge is in play.
    """
    side = 1 << level
    cell, edge = _bin_edges(frame, level, edges)
    mixed, counts = np.unique(cell, return_counts=True)
    cells = _Cells(
        (mixed % side).astype(np.int32),
        (mixed // side).astype(np.int32),
        np.zeros(len(mixed), np.uint8),
        np.zeros(len(mixed), np.int32),
        np.concatenate([[0], np.cumsum(counts)]),
        edge.astype(np.int32),
    )
    cells.code = _choose_codes(frame, level, cells, edges)
    code = np.zeros(side * side, dtype=np.uint8)
    code[mixed] = cells.code
    every = np.arange(side * side)
    labels = _shapely_labels(geoms, *frame.ref_point(level, every % side, every // side, code))
    cells.label = labels[mixed]
    values = -labels - 2
    values[mixed] = np.arange(len(mixed))
    return values, cells


def _bin_edges(frame: _Frame, level: int, edges: _Edges) -> tuple[IntArray, IntArray]:
    """(cell, edge) pairs of the level's cells that each edge touches, sorted by cell."""
    side = 1 << level
    w, h = frame.cell(level)
    grow = _GROW * frame.height

    def span(lo: FloatArray, hi: FloatArray, origin: float, size: float) -> tuple[IntArray, ...]:
        first = np.floor((lo - grow - origin) / size).clip(0, side - 1).astype(np.int64)
        return first, np.floor((hi + grow - origin) / size).clip(0, side - 1).astype(np.int64)

    x0, x1 = span(np.minimum(edges.ax, edges.bx), np.maximum(edges.ax, edges.bx), frame.x0, w)
    y0, y1 = span(np.minimum(edges.ay, edges.by), np.maximum(edges.ay, edges.by), frame.y0, h)
    width = x1 - x0 + 1
    count = width * (y1 - y0 + 1)  # cells in each edge's bounding box
    edge = np.repeat(np.arange(len(edges)), count)
    k = _csr_take(np.zeros(len(edges), np.int64), count)
    ix, iy = x0[edge] + k % width[edge], y0[edge] + k // width[edge]
    hit = _touches(
        edges.ax[edge],
        edges.ay[edge],
        edges.bx[edge],
        edges.by[edge],
        frame.x0 + (ix + 0.5) * w,
        frame.y0 + (iy + 0.5) * h,
        0.5 * w + grow,
        0.5 * h + grow,
    )
    cell = (iy * side + ix)[hit]
    order = np.argsort(cell, kind="stable")
    return cell[order], edge[hit][order]


def _shapely_labels(geoms: NDArray[np.object_], x: FloatArray, y: FloatArray) -> NDArray[np.int32]:
    """Index of the polygon containing each point (-1 for none); points must be off edges."""
    point, poly = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="within")
    labels = np.full(len(x), -1, dtype=np.int32)
    labels[point] = poly
    return labels


def _paint_raster(top: NDArray[np.int32], tables: list[NDArray[np.int32]]) -> NDArray[np.int32]:
    """Flatten the top level and the levels of `tables` below it into one dense raster."""
    side = math.isqrt(len(top))
    grid = top.reshape(side, side)
    for table in tables:
        iy, ix = np.nonzero(grid >= 0)
        rows = table.reshape(-1, 4)[grid[iy, ix]]
        grid = grid.repeat(2, axis=0).repeat(2, axis=1)
        for q in range(4):
            grid[2 * iy + _QY[q], 2 * ix + _QX[q]] = rows[:, q]
    return grid.reshape(-1)


def _return_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc only).

    The build churns through a few hundred MB of short-lived chunk temporaries; glibc keeps such
    freed pages mapped, so without this the process would stay ~2-3x the index size after a
    rebuild.  Elsewhere (macOS, musl) this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(None).malloc_trim(0)


# --------------------------------------------------------------------------- the index


class GridIndex:
    """Exact point location over non-overlapping polygons: the grid id of lon/lat points.

    Queries are read-only and safe to share between threads.  The index keeps a reference to
    the input geometries for `nearest` (which builds a shapely STRtree on first use).

    Table values (raster and per-level child tables): v >= 0 is a node of the next level;
    otherwise u = -v - 2 is a polygon index (u < n; -1 = outside) or leaf u - n.
    """

    def __init__(
        self,
        frame: _Frame,
        raster_level: int,
        raster: NDArray[np.int32],
        tables: list[NDArray[np.int32]],
        leaves: _Leaves,
        edges: _Edges,
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
        geoms = _as_geometry_array(polygons)
        ids_arr = np.array(ids, dtype=np.int64).reshape(-1)
        if len(ids_arr) != len(geoms):
            raise ValueError(f"{len(geoms)} polygons but {len(ids_arr)} ids")
        edges = _extract_edges(geoms)
        if not len(edges):
            raise ValueError("GridIndex needs at least one non-empty polygon")
        frame = _Frame.around(shapely.total_bounds(geoms), max_depth)
        scale = _edge_scale(geoms, edges, frame.y0 + 0.5 * frame.height)
        # start where cells hold a few grids each; the raster has ~16 cells per grid (<= 2048²)
        top = min(8, max(0, int(math.log(len(geoms), 4)) - 1), max_depth - 1)
        if raster_level is None:
            raster_level = min(11, max(4, math.ceil(math.log(16 * len(geoms), 4))))
        top_values, top_cells = _top_level(frame, top, edges, geoms)
        builder = _Builder(frame, edges, scale, leaf_fraction, len(geoms))
        builder.run(top_cells, top)
        k = max(top, min(raster_level, top + len(builder.tables)))
        index = cls(
            frame,
            k,
            _paint_raster(top_values, builder.tables[: k - top]),
            builder.tables[k - top :],
            builder.leaves.collect(),
            edges,
            ids_arr,
            geoms,
        )
        del builder
        _return_freed_memory()
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
        e = lv.e_idx[_csr_take(starts, counts)].astype(np.int64)
        px, py = rx[owner], ry[owner]
        cross, _ = _crossings(
            (x - rx)[owner],
            (y - ry)[owner],
            ed.ax[e] - px,
            ed.ay[e] - py,
            ed.bx[e] - px,
            ed.by[e] - py,
        )
        return _resolve(lv.label[leaf], owner[cross], e[cross], ed, self._n)

    def _leaf_one(self, lon: float, lat: float, ix: int, iy: int, leaf: int) -> int:
        """Scalar twin of _in_leaves."""
        lv, ed, frame = self._leaves, self._edges, self._frame
        level, code = int(lv.level[leaf]), int(lv.code[leaf])
        s = frame.depth - level
        rx = frame.x0 + ((ix >> s) + float(_REF_FX[code])) * math.ldexp(frame.width, -level)
        ry = frame.y0 + ((iy >> s) + float(_REF_FY[code])) * math.ldexp(frame.height, -level)
        odd: set[int] = set()
        for e in lv.e_idx[int(lv.e_ptr[leaf]) : int(lv.e_ptr[leaf + 1])].tolist():
            if _crosses(
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
        e = owned[_csr_take(ptr[poly], counts)]
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
