"""Polygon edges and the vectorised kernels of the grid index (网格定位的几何内核).

`GridIndex` (`geo/index.py`) cuts every polygon ring into edges, stores an edge shared by two
grids once with both owners, and answers "which polygon holds the end of this walk?" by counting
edge crossings. The kernels here use only orientation signs; `geo/index.py` explains why that is
exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
Ints = NDArray[np.integer[Any]]  # cell addresses and edge ids are int32 where memory counts
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


# --------------------------------------------------------------------------- polygon edges


@dataclass(frozen=True)
class Edges:
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


def as_geometry_array(polygons: Sequence[object] | NDArray[np.object_]) -> NDArray[np.object_]:
    geoms = np.empty(len(polygons), dtype=object)
    geoms[:] = list(polygons)
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    bad = ~polygonal & ~shapely.is_empty(geoms)
    if bad.any():
        raise TypeError(f"grid {int(np.flatnonzero(bad)[0])} is not a Polygon or MultiPolygon")
    return geoms


def extract_edges(geoms: NDArray[np.object_]) -> Edges:
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
        return Edges(empty, empty, empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int32))
    return _merge_shared(a[keep], b[keep], owner[keep].astype(np.int32))


def _merge_shared(a: FloatArray, b: FloatArray, owner: NDArray[np.int32]) -> Edges:
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
    return Edges(
        np.ascontiguousarray(a[keep, 0]),
        np.ascontiguousarray(a[keep, 1]),
        np.ascontiguousarray(b[keep, 0]),
        np.ascontiguousarray(b[keep, 1]),
        owner[keep],
        right[keep],
    )


def edge_scale(geoms: NDArray[np.object_], edges: Edges, lat: float) -> FloatArray:
    """Per edge, the size (√area, in degrees of latitude) of the smaller grid it bounds."""
    size = np.sqrt(shapely.area(geoms) * math.cos(math.radians(lat)))
    right = np.where(edges.right >= 0, size[edges.right], np.inf)
    scale: FloatArray = np.minimum(size[edges.left], right)
    return scale


# --------------------------------------------------------------------------- vector kernels


def csr_take(starts: IntArray, counts: IntArray) -> IntArray:
    """Positions starts[i] .. starts[i] + counts[i] - 1 for every i, concatenated."""
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(starts - (ends - counts), counts) + np.arange(total)


def crossings(
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


def crosses(qx: float, qy: float, ax: float, ay: float, bx: float, by: float) -> bool:
    """Scalar twin of crossings in plain floats, for the single-point path."""
    turn_start = ax * by - ay * bx
    turn_q = (bx - ax) * qy - (by - ay) * qx + turn_start
    return (qx * ay - qy * ax > 0) != (qx * by - qy * bx > 0) and turn_start * turn_q < 0


def resolve(
    start: NDArray[np.int32], target: IntArray, edge: Ints, edges: Edges, n_polygons: int
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


def touches(
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


def segment_dist2(px: FloatArray, py: FloatArray, e: Ints, edges: Edges) -> FloatArray:
    """Squared distance (degrees²) from points to edges; used to keep reference points clear."""
    ax, ay = edges.ax[e], edges.ay[e]
    ex, ey = edges.bx[e] - ax, edges.by[e] - ay
    t = np.clip(((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return (ax + t * ex - px) ** 2 + (ay + t * ey - py) ** 2
