"""GridIndex answers exactly what shapely answers, on awkward tilings too."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from numpy.typing import NDArray

from chengzhi.geo import index_build, index_kernels
from chengzhi.geo.index import GridIndex

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


# ------------------------------------------------------------------ fixtures and references


def voronoi_city(n: int, seed: int) -> NDArray[np.object_]:
    """n Voronoi cells, dense in the middle and sparse outside, clipped to a star-shaped outline
    and cut by a river (a gap that splits the cells it crosses into MultiPolygons)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
    r = 1.0 + 0.35 * np.sin(5 * t)
    outline = shapely.Polygon(
        np.column_stack([106.5 + 0.3 * r * np.cos(t), 29.6 + 0.25 * r * np.sin(t)])
    )
    seeds = np.vstack(
        [
            rng.normal([106.5, 29.6], 0.05, size=(4 * n, 2)),
            rng.uniform([106.1, 29.2], [106.9, 30.0], size=(n, 2)),
        ]
    )
    seeds = seeds[shapely.contains_xy(outline, seeds[:, 0], seeds[:, 1])][:n]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=outline)
    )
    bend = np.linspace(106.1, 106.9, 60)
    river = shapely.LineString(np.column_stack([bend, 29.62 + 0.03 * np.sin(bend * 40)]))
    cells = shapely.difference(shapely.intersection(cells, outline), river.buffer(0.002))
    return cells[~shapely.is_empty(cells)]


def truth(
    polygons: NDArray[np.object_],
    ids: NDArray[np.int64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> NDArray[np.int64]:
    """Shapely's answer: the id of the polygon containing each point, -1 for none."""
    point, poly = shapely.STRtree(polygons).query(shapely.points(x, y), predicate="within")
    assert len(np.unique(point)) == len(point), "test polygons overlap"
    out = np.full(len(x), -1, dtype=np.int64)
    out[point] = ids[poly]
    return out


def near_boundary(
    polygons: NDArray[np.object_], x: NDArray[np.float64], y: NDArray[np.float64], tol: float = 1e-9
) -> NDArray[np.bool_]:
    tree = shapely.STRtree(shapely.boundary(polygons))
    point, _ = tree.query(shapely.points(x, y), predicate="dwithin", distance=tol)
    out = np.zeros(len(x), dtype=bool)
    out[point] = True
    return out


def points_in_and_around(
    polygons: NDArray[np.object_], n: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mostly points inside random polygons (so small dense cells get tested), plus a share
    spread over and beyond the bounding box."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.bounds(polygons).T
    pick = rng.integers(0, len(polygons), n)
    x = rng.uniform(minx[pick], maxx[pick])
    y = rng.uniform(miny[pick], maxy[pick])
    x0, y0, x1, y1 = shapely.total_bounds(polygons)
    k = n // 4
    x[:k] = rng.uniform(x0 - 0.1 * (x1 - x0), x1 + 0.1 * (x1 - x0), k)
    y[:k] = rng.uniform(y0 - 0.1 * (y1 - y0), y1 + 0.1 * (y1 - y0), k)
    return x, y


def assert_exact(
    index: GridIndex,
    polygons: NDArray[np.object_],
    ids: NDArray[np.int64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> None:
    got = index.locate(x, y)
    want = truth(polygons, ids, x, y)
    clear = ~near_boundary(polygons, x, y)
    wrong = np.flatnonzero(clear & (got != want))
    assert len(wrong) == 0, (
        f"{len(wrong)} wrong, e.g. point {x[wrong[0]]!r}, {y[wrong[0]]!r}: "
        f"got {got[wrong[0]]}, shapely says {want[wrong[0]]}"
    )


@pytest.fixture(scope="module")
def city() -> tuple[NDArray[np.object_], NDArray[np.int64], GridIndex]:
    polygons = voronoi_city(2000, seed=7)
    ids = 10_000_000_000 + 3 * np.arange(len(polygons), dtype=np.int64)  # ids are not positions
    return polygons, ids, GridIndex.build(polygons, ids)


def holes_and_parts() -> tuple[list[shapely.Geometry], NDArray[np.int64]]:
    """A polygon with a hole holding an enclave, a two-part MultiPolygon, and a neighbour with
    an empty hole.  Axis-aligned on round coordinates: many collinear, touching edges."""
    ring_with_hole = shapely.Polygon(
        shapely.box(0, 0, 10, 10).exterior.coords, [shapely.box(3, 3, 7, 7).exterior.coords]
    )
    enclave = shapely.box(4, 4, 6, 6)  # a ring-shaped gap around it belongs to nobody
    two_parts = shapely.MultiPolygon([shapely.box(10, 0, 12, 2), shapely.box(10, 8, 12, 10)])
    empty_hole = shapely.Polygon(
        shapely.box(12, 0, 20, 10).exterior.coords, [shapely.box(14, 2, 18, 8).exterior.coords]
    )
    nothing = shapely.Polygon()  # an empty grid is allowed and contains nothing
    return [ring_with_hole, enclave, two_parts, empty_hole, nothing], np.array([11, 22, 33, 44, 55])


# ------------------------------------------------------------------ exactness


def test_voronoi_city_matches_shapely(city):
    polygons, ids, index = city
    assert (shapely.get_type_id(polygons) == 6).any(), "fixture should include MultiPolygons"
    x, y = points_in_and_around(polygons, 5000, seed=1)
    assert_exact(index, polygons, ids, x, y)
    assert (index.locate(x, y) >= 0).mean() > 0.6  # the test is not vacuous


@pytest.mark.parametrize(
    "options",
    [
        {"max_depth": 4},  # shallow: leaves keep hundreds of edges
        {"leaf_fraction": 1 / 64, "raster_level": 4},  # deep, with a small raster
        {"leaf_fraction": 1.0, "raster_level": 11},  # coarse leaves, raster deeper than the tree
    ],
)
def test_build_options_change_speed_not_answers(city, options):
    polygons, ids, _ = city
    index = GridIndex.build(polygons, ids, **options)
    x, y = points_in_and_around(polygons, 3000, seed=9)
    assert_exact(index, polygons, ids, x, y)


def test_finely_drawn_boundaries_match_shapely():
    # thousands of vertices per grid (boundaries digitised every ~10 m)
    polygons = shapely.segmentize(voronoi_city(150, seed=11), 0.0001)
    assert shapely.get_num_coordinates(polygons).mean() > 200
    ids = np.arange(len(polygons), dtype=np.int64)
    x, y = points_in_and_around(polygons, 4000, seed=12)
    assert_exact(GridIndex.build(polygons, ids), polygons, ids, x, y)


def test_holes_enclaves_and_multipolygons_match_shapely():
    polygons, ids = holes_and_parts()
    index = GridIndex.build(polygons, ids)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-1, 21, 4000), rng.uniform(-1, 11, 4000)
    assert_exact(index, np.array(polygons, dtype=object), ids, x, y)
    named = {
        (5, 5): 22,
        (3.5, 5): -1,
        (1, 1): 11,
        (11, 1): 33,
        (11, 5): -1,
        (16, 5): -1,
        (13, 1): 44,
        (25, 5): -1,
    }
    for (px, py), want in named.items():
        assert index.locate([px], [py])[0] == want, (px, py)
        assert index.locate_one(px, py) == want, (px, py)


def test_axis_aligned_block_grid_matches_shapely():
    # edges on round coordinates: reference points and cell walls line up with data edges
    xs, ys = np.meshgrid(np.arange(40) * 0.01 + 116.0, np.arange(30) * 0.01 + 39.5)
    polygons = shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 0.01, ys.ravel() + 0.01)
    ids = np.arange(len(polygons), dtype=np.int64)
    index = GridIndex.build(polygons, ids)
    x, y = points_in_and_around(polygons, 4000, seed=3)
    assert_exact(index, polygons, ids, x, y)
    # points exactly on the shared walls belong to one of the two blocks either side
    inner = np.flatnonzero(xs.ravel() > 116.0)[:200]  # the left wall is shared with a block
    wall_x, wall_y = xs.ravel()[inner], ys.ravel()[inner] + 0.005
    got = index.locate(wall_x, wall_y)
    either = (
        truth(polygons, ids, wall_x + 1e-7, wall_y),
        truth(polygons, ids, wall_x - 1e-7, wall_y),
    )
    assert ((got == either[0]) | (got == either[1])).all()


def test_reference_points_moved_off_edges_stay_exact(city, monkeypatch):
    # Demand so much clearance that nearly every cell's reference point moves off its default
    # spot (or settles for the clearest one): the rarely used paths then carry all the load.
    polygons, ids, _ = city
    monkeypatch.setattr(index_build, "_CLEARANCE", 0.3)
    index = GridIndex.build(polygons, ids)
    assert (index._leaves.code != 0).mean() > 0.3
    x, y = points_in_and_around(polygons, 5000, seed=8)
    assert_exact(index, polygons, ids, x, y)
    assert [index.locate_one(a, b) for a, b in zip(x[:500], y[:500], strict=True)] == index.locate(
        x[:500], y[:500]
    ).tolist()


@pytest.mark.parametrize(
    "corner, crossings",
    [
        ([(1, -1), (1, 0), (1, 1)], {1}),  # the walk passes straight through a vertex
        ([(0.5, -1), (1, 0), (1.5, -1)], {0, 2}),  # it grazes a vertex from above
        ([(0.5, 1), (1, 0), (1.5, 1)], {0, 2}),  # ... or from below
        ([(1, -1), (1, 0), (1.5, 0), (1.5, 1)], {1}),  # it runs along an edge, then across
    ],
)
def test_a_walk_through_a_vertex_is_counted_consistently(corner, crossings):
    # the walk goes from (0, 0) to (2, 0); only the parity of the count matters
    a, b = np.array(corner[:-1], dtype=float), np.array(corner[1:], dtype=float)
    cross, _ = index_kernels.crossings(2.0, 0.0, a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert int(cross.sum()) in crossings
    scalar = [index_kernels.crosses(2.0, 0.0, *p, *q) for p, q in zip(a, b, strict=True)]
    assert scalar == cross.tolist()


def test_points_on_vertices_and_shared_edges_get_a_neighbour(city):
    polygons, ids, index = city
    rings = shapely.get_rings(shapely.get_parts(polygons[:300]))
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    mid = 0.5 * (xy[:-1] + xy[1:])[ring[:-1] == ring[1:]]
    pts = np.vstack([xy, mid])
    got = index.locate(pts[:, 0], pts[:, 1])
    tree = shapely.STRtree(polygons)
    touch_pt, touch_poly = tree.query(shapely.points(pts), predicate="dwithin", distance=1e-9)
    allowed = set(zip(touch_pt.tolist(), ids[touch_poly].tolist(), strict=True))
    rim = near_boundary(np.array([shapely.union_all(polygons)]), pts[:, 0], pts[:, 1])
    for i, g in enumerate(got.tolist()):
        assert (i, g) in allowed or (g == -1 and rim[i]), (i, pts[i], g)


def test_points_outside_get_minus_one(city):
    polygons, _, index = city
    x0, y0, x1, y1 = shapely.total_bounds(polygons)
    x = np.array([0.0, -180.0, 180.0, x0 - 1e-6, x1 + 1e-6, 0.5 * (x0 + x1), np.nan, np.inf])
    y = np.array([0.0, -90.0, 90.0, 0.5 * (y0 + y1), 0.5 * (y0 + y1), y1 + 1e-6, 29.6, 29.6])
    assert index.locate(x, y).tolist() == [-1] * len(x)
    assert [index.locate_one(a, b) for a, b in zip(x, y, strict=True)] == [-1] * len(x)


def test_locate_one_equals_locate(city):
    polygons, _, index = city
    x, y = points_in_and_around(polygons, 3000, seed=4)
    batch = index.locate(x, y)
    single = [index.locate_one(a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    assert single == batch.tolist()
    assert all(type(s) is int for s in single[:10])


# ------------------------------------------------------------------ nearest


def brute_nearest(
    polygons: NDArray[np.object_], ids: NDArray[np.int64], x: float, y: float
) -> tuple[int, float]:
    """Nearest polygon in the point's local equirectangular frame, measured by shapely."""
    k = math.cos(math.radians(y))
    scaled = shapely.transform(polygons, lambda xy: (xy - [x, y]) * [k, 1.0])
    d = shapely.distance(scaled, shapely.Point(0, 0)) * METRES_PER_DEGREE
    return int(ids[np.argmin(d)]), float(d.min())


def test_nearest_for_outside_points_is_the_truly_nearest(city):
    polygons, ids, index = city
    rng = np.random.default_rng(5)
    x0, y0, x1, y1 = shapely.total_bounds(polygons)
    x, y = rng.uniform(x0 - 0.3, x1 + 0.3, 400), rng.uniform(y0 - 0.3, y1 + 0.3, 400)
    outside = index.locate(x, y) < 0
    x, y = x[outside][:60], y[outside][:60]  # the star's bays and the surroundings
    assert len(x) >= 40
    near, dist = index.nearest(x, y)
    for i in range(len(x)):
        want_id, want_m = brute_nearest(polygons, ids, x[i], y[i])
        assert dist[i] == pytest.approx(want_m, rel=1e-7, abs=1e-6)
        assert near[i] == want_id or dist[i] == pytest.approx(
            brute_nearest(polygons[ids == near[i]], ids[ids == near[i]], x[i], y[i])[1]
        )


def test_nearest_inside_is_the_containing_grid_at_zero_metres(city):
    polygons, _, index = city
    x, y = points_in_and_around(polygons, 500, seed=6)
    near, dist = index.nearest(x, y)
    inside = index.locate(x, y)
    assert (near[inside >= 0] == inside[inside >= 0]).all()
    assert (dist[inside >= 0] == 0).all() and (dist[inside < 0] > 0).all()


# ------------------------------------------------------------------ edge cases


def test_empty_input_arrays(city):
    _, _, index = city
    got = index.locate(np.array([]), np.array([]))
    assert got.shape == (0,) and got.dtype == np.int64
    near, dist = index.nearest([], [])
    assert near.shape == dist.shape == (0,)


def test_single_polygon():
    square = shapely.box(106.0, 29.0, 106.1, 29.1)
    index = GridIndex.build([square], [42])
    assert len(index) == 1 and index.nbytes > 0
    assert index.locate([106.05, 106.2, 106.05], [29.05, 29.05, 28.9]).tolist() == [42, -1, -1]
    assert index.locate_one(106.0999, 29.0001) == 42
    near, dist = index.nearest([106.2], [29.05])
    want = 0.1 * math.cos(math.radians(29.05)) * METRES_PER_DEGREE
    assert near.tolist() == [42] and dist[0] == pytest.approx(want, rel=1e-9)


def test_result_is_a_fresh_writable_int64_array_shaped_like_the_input(city):
    _, _, index = city
    got = index.locate([106.5], [29.6])
    got[0] = 7  # callers patch results in place
    assert got.dtype == np.int64 and index.locate([106.5], [29.6])[0] != 7
    square = index.locate(np.full((2, 3), 106.5), np.full((2, 3), 29.6))
    assert square.shape == (2, 3) and (square == square[0, 0]).all()


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        GridIndex.build([shapely.box(0, 0, 1, 1)], [1, 2])
    with pytest.raises(TypeError):
        GridIndex.build([shapely.Point(0, 0)], [1])
    with pytest.raises(ValueError):
        GridIndex.build([shapely.Polygon()], [1])
