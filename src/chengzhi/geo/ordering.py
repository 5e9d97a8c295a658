"""Reading order (阅读顺序) of polygons: north→south rows, west→east within a row. Grids are
numbered in this order, and `geo/partition.py` hands its pieces back in it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import Polygon


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
    return grouped_reading_order(
        xy[:, 0], xy[:, 1], group, np.array([maxx - minx]), np.array([maxy - miny])
    ).tolist()


def grouped_reading_order(
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


def in_reading_order(pieces: list[Polygon], bounds: np.ndarray) -> list[Polygon]:
    xy = shapely.get_coordinates(shapely.centroid(np.asarray(pieces, dtype=object)))
    group = np.zeros(len(pieces), dtype=np.int64)
    minx, miny, maxx, maxy = bounds
    order = grouped_reading_order(
        xy[:, 0], xy[:, 1], group, np.array([maxx - minx]), np.array([maxy - miny])
    )
    return [pieces[i] for i in order]
