"""The grid index's quadtree cells (四叉树单元): the root frame, a level's mixed cells and their
edges, and the leaves kept for exact tests. Plain arrays; `geo/index_build.py` fills them and
`geo/index.py` reads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from chengzhi.geo.index_kernels import Edges, FloatArray, IntArray, Ints, csr_take

# Reference point candidates, as fractions of a cell's width and height.  They stay in the inner
# part of the cell (so edges outside the cell are far away) and avoid round fractions (so they
# rarely sit on axis-aligned data).  The first one is used unless an edge passes too close.
REF_FX = np.array([0.5137, 0.3611, 0.6389, 0.3823, 0.6177, 0.4411, 0.6652, 0.3348])
REF_FY = np.array([0.4863, 0.6389, 0.3611, 0.3487, 0.6513, 0.6652, 0.5589, 0.4411])
# Cells are split in chunks of about this many (cell, edge) pairs: temporaries stay in cache.
_CHUNK_PAIRS = 1 << 16


@dataclass(frozen=True)
class Frame:
    """The quadtree's root box; level-l cells are (root size / 2**l), addressed by integers."""

    x0: float
    y0: float
    width: float
    height: float
    depth: int

    @classmethod
    def around(cls, bounds: Sequence[float], depth: int) -> Frame:
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
        return self.x0 + (ix + REF_FX[code]) * w, self.y0 + (iy + REF_FY[code]) * h


@dataclass
class Cells:
    """Mixed cells of one level: position, reference point (code, label) and their edges."""

    ix: NDArray[np.int32]
    iy: NDArray[np.int32]
    code: NDArray[np.uint8]
    label: NDArray[np.int32]
    e_ptr: IntArray  # CSR offsets into e_idx, len(cells) + 1
    e_idx: NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.ix)

    def take(self, sel: IntArray) -> Cells:
        starts, counts = self.e_ptr[sel], self.e_ptr[sel + 1] - self.e_ptr[sel]
        ptr = np.concatenate([[0], np.cumsum(counts)])
        return Cells(
            self.ix[sel],
            self.iy[sel],
            self.code[sel],
            self.label[sel],
            ptr,
            self.e_idx[csr_take(starts, counts)],
        )

    def chunks(self) -> Iterator[Cells]:
        """Consecutive slices (views) holding about _CHUNK_PAIRS edges each."""
        cuts = np.searchsorted(self.e_ptr, np.arange(0, self.e_ptr[-1], _CHUNK_PAIRS))
        bounds = np.unique(np.concatenate([cuts.clip(0, len(self)), [len(self)]]))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            e0, e1 = self.e_ptr[lo], self.e_ptr[hi]
            yield Cells(
                self.ix[lo:hi],
                self.iy[lo:hi],
                self.code[lo:hi],
                self.label[lo:hi],
                self.e_ptr[lo : hi + 1] - e0,
                self.e_idx[e0:e1],
            )

    @staticmethod
    def concat(parts: list[Cells]) -> Cells:
        """One Cells from a non-empty list of them."""
        counts = np.concatenate([np.diff(p.e_ptr) for p in parts])
        cat = np.concatenate
        return Cells(
            cat([p.ix for p in parts]),
            cat([p.iy for p in parts]),
            cat([p.code for p in parts]),
            cat([p.label for p in parts]),
            np.concatenate([[0], np.cumsum(counts)]),
            cat([p.e_idx for p in parts]),
        )


@dataclass(frozen=True)
class Pairs:
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
    def of(cls, frame: Frame, level: int, cells: Cells, edges: Edges) -> Pairs:
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
class Leaves:
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
class LeafParts:
    """Leaves as the chunks produce them, joined once at the end (kept lean meanwhile)."""

    level: list[NDArray[np.uint8]] = field(default_factory=list)
    code: list[NDArray[np.uint8]] = field(default_factory=list)
    label: list[NDArray[np.int32]] = field(default_factory=list)
    count: list[NDArray[np.int32]] = field(default_factory=list)
    e_idx: list[NDArray[np.int32]] = field(default_factory=list)
    n: int = 0

    def add(self, level: int, cells: Cells) -> None:
        self.level.append(np.full(len(cells), level, dtype=np.uint8))
        self.code.append(cells.code)
        self.label.append(cells.label)
        self.count.append(np.diff(cells.e_ptr).astype(np.int32))
        self.e_idx.append(cells.e_idx)
        self.n += len(cells)

    def collect(self) -> Leaves:
        """All leaves in one set of arrays, in the order their table values refer to."""
        count = np.concatenate(self.count)
        small = count.sum() < 2**31  # then int32 offsets halve the pointer array
        ptr = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
        return Leaves(
            np.concatenate(self.level),
            np.concatenate(self.code),
            np.concatenate(self.label),
            ptr.astype(np.int32) if small else ptr,
            np.concatenate(self.e_idx),
        )
