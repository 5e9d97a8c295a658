"""Building the grid index (网格索引构建): the top level binned directly, then the quadtree split
level by level in chunks until every mixed cell is a leaf, and the top levels flattened into one
dense raster. `geo/index.py` describes the design.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import sys
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray

from chengzhi.geo.index_cells import REF_FX, REF_FY, Cells, Frame, LeafParts, Pairs
from chengzhi.geo.index_kernels import (
    BoolArray,
    Edges,
    FloatArray,
    IntArray,
    Ints,
    crossings,
    csr_take,
    resolve,
    segment_dist2,
    touches,
)

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


@dataclass
class Builder:
    """Splits the quadtree level by level, collecting child tables and leaves."""

    frame: Frame
    edges: Edges
    edge_scale: FloatArray  # size of the smallest grid owning each edge (degrees of latitude)
    leaf_fraction: float
    n_polygons: int
    tables: list[NDArray[np.int32]] = field(default_factory=list)
    leaves: LeafParts = field(default_factory=LeafParts)

    def run(self, cells: Cells, level: int) -> None:
        """Split level after level until every mixed cell has become a leaf."""
        while len(cells):
            parts, rows, n_next = [], [], 0
            for chunk in cells.chunks():
                row, internal = self._split(level, chunk, n_next)
                rows.append(row)
                parts.append(internal)
                n_next += len(internal)
            self.tables.append(np.concatenate(rows))
            cells, level = Cells.concat(parts), level + 1

    def _split(self, level: int, cells: Cells, node_offset: int) -> tuple[NDArray[np.int32], Cells]:
        """Children of `cells`: their table rows (4 values per cell) and the ones to split next."""
        pairs = Pairs.of(self.frame, level, cells, self.edges)
        hit = self._child_hits(level, cells, pairs)
        children, slot = _mixed_children(cells, hit)
        target, edge, unclear = self._walk(level, cells, pairs, hit)
        if len(unclear):  # rare: an edge passes too close to a default reference point
            target, edge = self._rewalk(level, cells, pairs, children, slot, unclear, target, edge)
        labels = resolve(np.tile(cells.label, 4), target, edge, self.edges, self.n_polygons)
        children.label = labels[slot]
        leaf = self._is_leaf(level + 1, children)
        values = -labels - 2  # pure children: their encoded label
        values[slot] = self._encode_mixed(leaf, node_offset)
        self.leaves.add(level + 1, children.take(np.flatnonzero(leaf)))
        return values.reshape(4, -1).T.reshape(-1), children.take(np.flatnonzero(~leaf))

    def _child_hits(self, level: int, cells: Cells, pairs: Pairs) -> BoolArray:
        """(4, pairs): does the edge touch child quadrant q?"""
        wc, hc = self.frame.cell(level + 1)
        grow = _GROW * self.frame.height
        # centres of the 4 children relative to the parent's reference point
        cx = self.frame.x0 + (2 * cells.ix + _QX[:, None] + 0.5) * wc - pairs.rx
        cy = self.frame.y0 + (2 * cells.iy + _QY[:, None] + 0.5) * hc - pairs.ry
        return touches(
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
        self, level: int, cells: Cells, pairs: Pairs, hit: BoolArray
    ) -> tuple[IntArray, Ints, IntArray]:
        """Crossings of the walks from each cell's reference point to its children's default
        reference points, as (child slot, edge); plus the mixed children whose default point
        lies too close to one of their edges."""
        n = len(cells)
        wc, hc = self.frame.cell(level + 1)
        qx = self.frame.x0 + (2 * cells.ix + _QX[:, None] + REF_FX[0]) * wc - pairs.rx
        qy = self.frame.y0 + (2 * cells.iy + _QY[:, None] + REF_FY[0]) * hc - pairs.ry
        ax, ay, bx, by = pairs.ax, pairs.ay, pairs.bx, pairs.by
        cross, turn = crossings(qx[:, pairs.cell], qy[:, pairs.cell], ax, ay, bx, by)
        need = (_CLEARANCE * min(wc, hc)) ** 2 * ((bx - ax) ** 2 + (by - ay) ** 2)
        close = hit & (turn * turn < need)  # distance to the edge's line, a lower bound
        q, p = np.nonzero(cross)
        cq, cp = np.nonzero(close)
        return q * n + pairs.cell[p], pairs.edge[p], np.unique(cq * n + pairs.cell[cp])

    def _rewalk(
        self,
        level: int,
        cells: Cells,
        pairs: Pairs,
        children: Cells,
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
        rows, owner = csr_take(starts, counts), np.repeat(np.arange(len(parent)), counts)
        qx, qy = self.frame.ref_point(level + 1, moved.ix, moved.iy, moved.code)
        qx, qy = (qx - pairs.rx[parent])[owner], (qy - pairs.ry[parent])[owner]
        cross, _ = crossings(qx, qy, pairs.ax[rows], pairs.ay[rows], pairs.bx[rows], pairs.by[rows])
        keep = ~np.isin(target, unclear)
        return (
            np.concatenate([target[keep], unclear[owner[cross]]]),
            np.concatenate([edge[keep], pairs.edge[rows[cross]]]),
        )

    def _is_leaf(self, level: int, cells: Cells) -> BoolArray:
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


def _mixed_children(cells: Cells, hit: BoolArray) -> tuple[Cells, IntArray]:
    """Children touched by an edge, ordered by (quadrant, parent); and their slots
    quadrant * len(cells) + parent.  Codes default to 0, labels are filled in later."""
    counts = np.add.reduceat(hit, cells.e_ptr[:-1], axis=1, dtype=np.int64).reshape(-1)
    slot = np.flatnonzero(counts)
    quadrant, parent = np.divmod(slot, len(cells))
    _, pair = np.nonzero(hit)  # row-major: grouped by (quadrant, parent) just like `slot`
    return Cells(
        2 * cells.ix[parent] + _QX[quadrant],
        2 * cells.iy[parent] + _QY[quadrant],
        np.zeros(len(slot), np.uint8),
        np.zeros(len(slot), np.int32),
        np.concatenate([[0], np.cumsum(counts[slot])]),
        cells.e_idx[pair],
    ), slot


def _choose_codes(
    frame: Frame, level: int, cells: Cells, edges: Edges, first: int = 0
) -> NDArray[np.uint8]:
    """Per cell, the first reference position from `first` on that keeps clear of its edges
    (or the clearest one, should none qualify)."""
    w, h = frame.cell(level)
    need = (_CLEARANCE * min(w, h)) ** 2
    code = np.full(len(cells), first, dtype=np.uint8)
    best = np.full(len(cells), -1.0)
    pending = np.arange(len(cells))
    for c in range(first, len(REF_FX)):
        starts = cells.e_ptr[pending]
        counts = cells.e_ptr[pending + 1] - starts
        owner = np.repeat(np.arange(len(pending)), counts)
        px, py = frame.ref_point(level, cells.ix[pending], cells.iy[pending], c)
        d2 = segment_dist2(px[owner], py[owner], cells.e_idx[csr_take(starts, counts)], edges)
        clear = np.minimum.reduceat(d2, np.concatenate([[0], np.cumsum(counts)[:-1]]))
        better = clear > best[pending]
        best[pending[better]] = clear[better]
        code[pending[better]] = c
        pending = pending[clear < need]
        if not len(pending):
            break
    return code


def top_level(
    frame: Frame, level: int, edges: Edges, geoms: NDArray[np.object_]
) -> tuple[NDArray[np.int32], Cells]:
    """The first level, built directly: edges binned into its 2**level x 2**level cells, and
    every cell's point labelled by shapely.  Returns the level's table values and mixed cells.

    Starting a few levels down saves splitting the coarse levels, where every edge is in play.
    """
    side = 1 << level
    cell, edge = _bin_edges(frame, level, edges)
    mixed, counts = np.unique(cell, return_counts=True)
    cells = Cells(
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


def _bin_edges(frame: Frame, level: int, edges: Edges) -> tuple[IntArray, IntArray]:
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
    k = csr_take(np.zeros(len(edges), np.int64), count)
    ix, iy = x0[edge] + k % width[edge], y0[edge] + k // width[edge]
    hit = touches(
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


def paint_raster(top: NDArray[np.int32], tables: list[NDArray[np.int32]]) -> NDArray[np.int32]:
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


def return_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc only).

    The build churns through a few hundred MB of short-lived chunk temporaries; glibc keeps such
    freed pages mapped, so without this the process would stay ~2-3x the index size after a
    rebuild.  Elsewhere (macOS, musl) this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: not glibc
        ctypes.CDLL(None).malloc_trim(0)
