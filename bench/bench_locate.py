"""Benchmark GridIndex point location against the plain shapely STRtree baseline.

    python bench/bench_locate.py [--grids 120000] [--points 1000000] [--scales 2000,8000,120000]

Grids are a synthetic Voronoi city (see `synthetic_grids`): a dense multi-centre core with grids
of ~150-300 m and rural outskirts with grids several km across, clipped to a blob-shaped city
boundary around Chongqing (lon 106.5, lat 29.6).  Query points are population weighted (a random
point inside a random grid, so the dense core gets most of them) plus 10 % uniform over the bbox,
including points outside the city.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import psutil
import shapely
from numpy.typing import NDArray

from chengzhi.geo.index import GridIndex

CENTRE = (106.5, 29.6)
# (lon, lat, share of grids, spread in degrees) of the urban centres
CLUSTERS = np.array(
    [
        [106.55, 29.57, 0.55, 0.22],
        [106.35, 29.75, 0.20, 0.12],
        [106.75, 29.45, 0.15, 0.10],
        [106.45, 29.35, 0.10, 0.08],
    ]
)


def city_boundary(rng: np.random.Generator) -> shapely.Polygon:
    """A wobbly blob of about 1.5° x 1.2° around CENTRE."""
    t = np.linspace(0.0, 2.0 * np.pi, 240, endpoint=False)
    r = (
        1.0
        + 0.12 * np.sin(3 * t + rng.uniform(0, 6))
        + 0.08 * np.sin(5 * t + rng.uniform(0, 6))
        + 0.05 * np.sin(11 * t)
    )
    return shapely.Polygon(
        np.column_stack([CENTRE[0] + 0.75 * r * np.cos(t), CENTRE[1] + 0.60 * r * np.sin(t)])
    )


def _seeds(n: int, boundary: shapely.Polygon, rng: np.random.Generator) -> NDArray[np.float64]:
    """n Voronoi seeds inside boundary: 1 % spread evenly (rural), the rest around CLUSTERS."""
    minx, miny, maxx, maxy = boundary.bounds
    shapely.prepare(boundary)
    out: list[NDArray[np.float64]] = []
    have, rural = 0, max(1, n // 100)
    while have < n:
        k = rng.choice(len(CLUSTERS), size=2 * n, p=CLUSTERS[:, 2])
        xy = CLUSTERS[k, :2] + rng.normal(size=(2 * n, 2)) * CLUSTERS[k, 3:4] * [1.1, 1.0]
        if not out:
            xy = np.vstack([rng.uniform([minx, miny], [maxx, maxy], size=(rural, 2)), xy])
        xy = xy[shapely.contains_xy(boundary, xy[:, 0], xy[:, 1])][: n - have]
        out.append(xy)
        have += len(xy)
    return np.vstack(out)


def synthetic_grids(n: int, seed: int = 0) -> tuple[NDArray[np.object_], shapely.Polygon]:
    """n Voronoi grid polygons tiling a synthetic city, and the city boundary."""
    rng = np.random.default_rng(seed)
    boundary = city_boundary(rng)
    seeds = shapely.multipoints(_seeds(n, boundary, rng))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=boundary))
    inside = shapely.contains(boundary, cells)
    cells[~inside] = shapely.intersection(cells[~inside], boundary)
    return cells, boundary


def sample_points(
    grids: NDArray[np.object_], n: int, seed: int = 1, uniform_share: float = 0.1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Population-weighted points (inside random grids) plus a uniform share over the bbox."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.bounds(grids).T
    n_uni = int(n * uniform_share)
    pick = rng.integers(0, len(grids), n - n_uni)
    x, y = np.empty(n - n_uni), np.empty(n - n_uni)
    todo = np.arange(n - n_uni)
    while len(todo):  # rejection sampling inside each picked grid's bbox
        g = pick[todo]
        tx, ty = rng.uniform(minx[g], maxx[g]), rng.uniform(miny[g], maxy[g])
        ok = shapely.contains_xy(grids[g], tx, ty)
        x[todo[ok]], y[todo[ok]] = tx[ok], ty[ok]
        todo = todo[~ok]
    bx0, by0, bx1, by1 = shapely.total_bounds(grids)
    pad = 0.05 * max(bx1 - bx0, by1 - by0)
    ux = rng.uniform(bx0 - pad, bx1 + pad, n_uni)
    uy = rng.uniform(by0 - pad, by1 + pad, n_uni)
    order = rng.permutation(n)
    return np.concatenate([x, ux])[order], np.concatenate([y, uy])[order]


def strtree_locate(
    tree: shapely.STRtree,
    ids: NDArray[np.int64],
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> NDArray[np.int64]:
    """The plain shapely baseline: one id per point, -1 when no grid contains it."""
    point, grid = tree.query(shapely.points(lon, lat), predicate="within")
    out = np.full(len(lon), -1, dtype=np.int64)
    out[point] = ids[grid]
    return out


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Fastest of a few runs: the machine is shared and noisy."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def rss_mb() -> float:
    """Resident memory after handing freed heap pages back (glibc), so growth is real."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)
    return float(psutil.Process().memory_info().rss) / 1e6


def bench_full(n_grids: int, n_points: int) -> None:
    grids, _ = synthetic_grids(n_grids, seed=0)
    ids = np.arange(len(grids), dtype=np.int64) * 7 + 1000
    lon, lat = sample_points(grids, n_points)
    rss0 = rss_mb()
    t = time.perf_counter()
    index = GridIndex.build(grids, ids)
    build_s = time.perf_counter() - t
    print(f"grids                 {len(grids):>12,}")
    print(f"build                 {build_s:>12.2f} s")
    print(f"index nbytes          {index.nbytes / 1e6:>12.1f} MB")
    print(f"RSS growth            {rss_mb() - rss0:>12.1f} MB")

    ours = index.locate(lon, lat)
    t_ours = best_time(functools.partial(index.locate, lon, lat))
    tree = shapely.STRtree(grids)
    base = strtree_locate(tree, ids, lon, lat)
    t_base = best_time(functools.partial(strtree_locate, tree, ids, lon, lat), repeat=2)
    print(f"locate batch          {n_points / t_ours:>12,.0f} points/s  ({t_ours:.3f} s)")
    print(f"STRtree baseline      {n_points / t_base:>12,.0f} points/s  ({t_base:.3f} s)")
    print(f"speed-up              {t_base / t_ours:>12.1f} x")
    print(f"inside a grid         {np.mean(ours >= 0):>12.1%}")
    same = int(np.sum(ours == base))
    print(
        f"identical answers     {same:>12,} / {n_points:,}"
        f"  {'OK' if same == n_points else 'MISMATCH'}"
    )
    single_point(index, lon, lat, ours)


def single_point(
    index: GridIndex,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    expected: NDArray[np.int64],
    n: int = 20_000,
) -> None:
    """Median / p90 latency of locate_one, timed per call."""
    xs, ys = lon[:n].tolist(), lat[:n].tolist()
    times, wrong = [], 0
    clock = time.perf_counter_ns
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        t = clock()
        got = index.locate_one(x, y)
        times.append(clock() - t)
        wrong += got != expected[i]
    times.sort()
    p90 = times[int(0.9 * len(times))]
    print(
        f"locate_one median     {statistics.median(times) / 1e3:>12.2f} µs   "
        f"p90 {p90 / 1e3:.2f} µs   (differs from locate: {wrong})"
    )


def bench_scales(scales: list[int], n_points: int) -> None:
    print("\nscaling (same number of points per size)")
    print(
        f"{'grids':>10} {'build s':>9} {'nbytes MB':>10} {'locate pts/s':>14} "
        f"{'STRtree pts/s':>14} {'ratio':>7}"
    )
    for n in scales:
        grids, _ = synthetic_grids(n, seed=0)
        ids = np.arange(len(grids), dtype=np.int64)
        lon, lat = sample_points(grids, n_points)
        t = time.perf_counter()
        index = GridIndex.build(grids, ids)
        build_s = time.perf_counter() - t
        t_ours = best_time(functools.partial(index.locate, lon, lat))
        tree = shapely.STRtree(grids)
        t_base = best_time(functools.partial(strtree_locate, tree, ids, lon, lat), repeat=1)
        print(
            f"{len(grids):>10,} {build_s:>9.2f} {index.nbytes / 1e6:>10.1f} "
            f"{n_points / t_ours:>14,.0f} {n_points / t_base:>14,.0f} {t_base / t_ours:>7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=120_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument(
        "--scales",
        default="2000,8000,120000",
        help="comma-separated grid counts for the scaling table ('' to skip)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # the targets are per core: measure on one
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    bench_full(args.grids, args.points)
    if args.scales:
        scales = [int(s) for s in args.scales.split(",") if s]
        bench_scales(scales, args.points)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(
        f"\n(pinned to {cores} core; shapely {shapely.__version__}, numpy {np.__version__}; "
        f"best of 3 runs for locate, of 2 for the baseline)"
    )


if __name__ == "__main__":
    main()
