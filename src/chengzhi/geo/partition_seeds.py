"""What both partition paths use to place seeds (种子点): Hilbert-curve positions (seeds are
stratified along the curve), clean sample weights for an optional density, and each sample's
nearest seed (the discrete Lloyd step). See `geo/partition.py`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

Density = Callable[[np.ndarray, np.ndarray], np.ndarray]

SAMPLES_PER_PART = 16  # lattice sample points per requested piece (Lloyd uses them as mass)
LUT_ORDER = 8  # Hilbert positions of lattices up to 256 × 256 come from a lookup table
_HILBERT_ORDER = 16  # finer lattices are indexed directly
_DENSE_NEAREST_MAX = 64  # up to this many seeds per polygon, nearest seeds by a distance matrix
_NEAREST_CHUNK = 1 << 21  # samples × seeds handled per vectorised nearest-seed step


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
        side = 1 << LUT_ORDER
        ix, iy = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
        _lut = _hilbert_index(ix.ravel(), iy.ravel(), LUT_ORDER).reshape(side, side)
    return _lut


def lattice_position(ix: np.ndarray, iy: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """Hilbert position of lattice cells; `fine` marks cells of lattices wider than 256."""
    top = (1 << LUT_ORDER) - 1
    position = _hilbert_lut()[np.minimum(ix, top), np.minimum(iy, top)]
    if fine.any():
        position = position.copy()
        position[fine] = _hilbert_index(ix[fine], iy[fine], _HILBERT_ORDER)
    return position


def hilbert_position(points: np.ndarray) -> np.ndarray:
    """Hilbert-curve position of arbitrary points within their bounding square."""
    top = (1 << _HILBERT_ORDER) - 1
    lo = points.min(axis=0)
    span = max(float((points.max(axis=0) - lo).max()), 1e-300)
    cells = np.minimum((points - lo) * (top / span), top).astype(np.int64)
    return _hilbert_index(cells[:, 0], cells[:, 1], _HILBERT_ORDER)


def clean_weights(raw: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
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


def nearest_in_group(
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
