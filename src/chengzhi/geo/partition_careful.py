"""The careful one-polygon path of `geo/partition.py` (逐个划分): fresh seeds from a lattice
refined for ragged polygons (or a triangulation for slivers), Voronoi cells clipped one polygon at
a time, and stray parts of a cut-up cell joined to their neighbours; re-seeded a few times before
giving up."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, box

from chengzhi.geo.ordering import in_reading_order
from chengzhi.geo.partition_seeds import (
    SAMPLES_PER_PART,
    Density,
    clean_weights,
    hilbert_position,
    nearest_in_group,
)

_MAX_ATTEMPTS = 4
_LATTICE_MAX = 1 << 20  # points in one lattice of the careful path


def partition_one(
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
            return in_reading_order(pieces, np.asarray(polygon.bounds))
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
    samples = _samples(polygon, parts * SAMPLES_PER_PART, rng)
    if len(samples) < parts:
        samples = np.vstack([samples, _random_inside(polygon, 2 * parts, rng)])
    samples = np.unique(samples, axis=0)
    if len(samples) < parts:
        raise ValueError(f"polygon too small to hold {parts} distinct pieces")
    group = np.zeros(len(samples), dtype=np.int64)
    weight = None
    if density is not None:
        weight = clean_weights(density(samples[:, 0], samples[:, 1]), group, 1)
    along = np.argsort(hilbert_position(samples), kind="stable")
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
        owner = nearest_in_group(
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
    return single_polygons(list(shapely.intersection(cells, polygon)))


def single_polygons(clipped: list) -> list[Polygon] | None:
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
