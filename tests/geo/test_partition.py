"""partition_polygon: exact tilings of roughly equal pieces, in reading order, deterministic."""

from __future__ import annotations

import random

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from chengzhi.geo import partition_batch, partition_careful
from chengzhi.geo.ordering import reading_order
from chengzhi.geo.partition import grid_count, partition_polygon, partition_polygons

REL = 1e-9  # floating-point noise allowed, relative to the parent's area


def assert_tiles(parent: Polygon, pieces: list[Polygon], parts: int) -> None:
    """Exactly `parts` valid single Polygons, no gaps, no overlaps, union == parent."""
    assert len(pieces) == parts
    geoms = np.asarray(pieces, dtype=object)
    assert all(isinstance(p, Polygon) for p in pieces)
    assert shapely.is_valid(geoms).all()
    assert not shapely.is_empty(geoms).any()
    area = parent.area
    assert (shapely.area(geoms) > 0).all()
    assert abs(shapely.area(geoms).sum() - area) <= REL * area
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pair = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pair]], geoms[right[pair]]))
    assert overlap.sum() <= REL * area, f"pieces overlap by {overlap.max()}"
    union = shapely.union_all(geoms)
    assert union.symmetric_difference(parent).area <= REL * area


def lonlat_disc(radius: float = 0.05) -> Polygon:
    return Point(106.5, 29.6).buffer(radius, quad_segs=16)


U_SHAPE = Polygon([(0, 0), (10, 0), (10, 10), (8, 10), (8, 2), (2, 2), (2, 10), (0, 10)])
WITH_HOLES = Polygon(
    [(0, 0), (10, 0), (10, 10), (0, 10)],
    [[(2, 2), (4, 2), (4, 4), (2, 4)], [(6, 5), (8, 5), (8, 8), (6, 8)]],
)
COMB = shapely.union_all([box(2 * i, 0, 2 * i + 1, 10) for i in range(6)] + [box(0, 0, 11, 1)])
STAR = Polygon(
    [
        (np.cos(a) * r, np.sin(a) * r)
        for a, r in zip(
            np.linspace(0, 2 * np.pi, 24, endpoint=False), [1.0, 0.25] * 12, strict=True
        )
    ]
)
SPIRAL = shapely.union_all(
    [box(0, 0, 9, 1), box(8, 0, 9, 9), box(2, 8, 9, 9), box(2, 2, 3, 9), box(2, 2, 7, 3)]
)
SHAPES = {
    "square": box(0, 0, 1, 1),
    "lonlat-disc": lonlat_disc(),
    "u-shape": U_SHAPE,
    "holes": WITH_HOLES,
    "comb": COMB,
    "star": STAR,
    "spiral": SPIRAL,
    "thin-strip": box(0, 0, 100, 0.5),
}


@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("parts", [2, 3, 7, 12, 40])
def test_pieces_tile_the_polygon_exactly(name: str, parts: int) -> None:
    polygon = SHAPES[name]
    assert_tiles(polygon, partition_polygon(polygon, parts, seed=parts), parts)


def test_one_part_is_the_polygon_itself() -> None:
    polygon = SHAPES["u-shape"]
    assert partition_polygon(polygon, 1) == [polygon]


def test_many_parts() -> None:
    polygon = lonlat_disc()
    assert_tiles(polygon, partition_polygon(polygon, 400, seed=3), 400)


@pytest.mark.parametrize("iterations", [0, 1, 2, 5])
def test_any_number_of_lloyd_iterations(iterations: int) -> None:
    polygon = SHAPES["holes"]
    pieces = partition_polygon(polygon, 9, seed=1, lloyd_iterations=iterations)
    assert_tiles(polygon, pieces, 9)


def test_pieces_are_roughly_equal_in_area() -> None:
    polygon = box(0, 0, 4, 3)
    for seed in range(5):
        areas = shapely.area(np.asarray(partition_polygon(polygon, 12, seed), dtype=object))
        assert areas.max() < 2.0 * areas.mean()
        assert areas.min() > 0.4 * areas.mean()


def test_lloyd_iterations_make_pieces_more_even() -> None:
    polygon = box(0, 0, 4, 3)

    def spread(iterations: int) -> float:
        cv = []
        for seed in range(20):
            pieces = partition_polygon(polygon, 12, seed, lloyd_iterations=iterations)
            areas = shapely.area(np.asarray(pieces, dtype=object))
            cv.append(areas.std() / areas.mean())
        return float(np.mean(cv))

    assert spread(3) < spread(0)


def test_density_makes_pieces_small_where_it_is_high() -> None:
    polygon = box(0, 0, 10, 10)

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1.0 + 50.0 * np.exp(-((x - 2) ** 2 + (y - 2) ** 2) / 2.0)

    pieces = partition_polygon(polygon, 30, seed=5, density=density)
    assert_tiles(polygon, pieces, 30)
    areas = shapely.area(np.asarray(pieces, dtype=object))
    near = np.array([p.centroid.distance(Point(2, 2)) < 2.5 for p in pieces])
    assert near.sum() >= 3
    assert areas[near].mean() * 4 < areas[~near].mean()


def test_zero_density_everywhere_falls_back_to_equal_area() -> None:
    polygon = box(0, 0, 3, 3)
    pieces = partition_polygon(polygon, 9, density=lambda x, y: np.zeros_like(x))
    assert_tiles(polygon, pieces, 9)


def test_same_seed_same_pieces_other_seed_other_pieces() -> None:
    polygon = SHAPES["lonlat-disc"]
    first = shapely.to_wkb(np.asarray(partition_polygon(polygon, 11, seed=42), dtype=object))
    again = shapely.to_wkb(np.asarray(partition_polygon(polygon, 11, seed=42), dtype=object))
    other = shapely.to_wkb(np.asarray(partition_polygon(polygon, 11, seed=43), dtype=object))
    assert list(first) == list(again)
    assert list(first) != list(other)


def test_huge_seeds_are_fine() -> None:
    polygon = box(0, 0, 1, 1)
    assert_tiles(polygon, partition_polygon(polygon, 5, seed=2**80 + 1), 5)
    assert_tiles(polygon, partition_polygon(polygon, 5, seed=-7), 5)


# -- reading order -------------------------------------------------------------------------


def test_reading_order_of_a_lattice() -> None:
    cells = {(col, row): box(col, -row, col + 1, -row + 1) for row in range(3) for col in range(4)}
    expected = [cells[(col, row)] for row in range(3) for col in range(4)]  # row 0 is north
    shuffled = expected[:]
    random.Random(1).shuffle(shuffled)
    order = reading_order(shuffled)
    assert [shuffled[i] for i in order] == expected


def test_reading_order_of_a_single_row_and_column() -> None:
    row = [box(x, 0, x + 1, 1) for x in (3, 0, 2, 1)]
    assert reading_order(row) == [1, 3, 2, 0]
    column = [box(0, y, 1, y + 1) for y in (0, 2, 1)]
    assert reading_order(column) == [1, 2, 0]
    assert reading_order([]) == []


def test_pieces_come_back_in_reading_order() -> None:
    for name, polygon in SHAPES.items():
        pieces = partition_polygon(polygon, 12, seed=9)
        assert reading_order(pieces) == list(range(12)), name


def test_reading_order_rows_run_north_to_south_and_west_to_east() -> None:
    pieces = partition_polygon(box(0, 0, 4, 3), 12, seed=2)
    xy = shapely.get_coordinates(shapely.centroid(np.asarray(pieces, dtype=object)))
    rows = int(round(np.sqrt(12 * 3 / 4)))
    bands = np.array_split(np.arange(12), rows)  # equal-count bands, as documented
    for upper, lower in zip(bands, bands[1:], strict=False):
        assert xy[upper, 1].min() >= xy[lower, 1].max()
    for band in bands:
        assert (np.diff(xy[band, 0]) > 0).all()


# -- batches -------------------------------------------------------------------------------


def test_batch_matches_single_calls() -> None:
    polygons = [SHAPES["square"], SHAPES["u-shape"], lonlat_disc(0.01), SHAPES["holes"]]
    parts = [5, 1, 11, 8]
    seeds = [1, 2, 3, 4]
    batch = partition_polygons(polygons, parts, seeds)
    for polygon, n, seed, pieces in zip(polygons, parts, seeds, batch, strict=True):
        assert_tiles(polygon, pieces, n)
        single = partition_polygon(polygon, n, seed)
        scale = polygon.area
        for a, b in zip(pieces, single, strict=True):
            assert a.symmetric_difference(b).area <= 1e-9 * scale


def test_batch_of_many_adjacent_polygons() -> None:
    parents = partition_polygon(box(0, 0, 10, 10), 30, seed=1)
    parts = [(i % 7) + 1 for i in range(30)]
    batch = partition_polygons(parents, parts, range(30))
    for parent, n, pieces in zip(parents, parts, batch, strict=True):
        assert_tiles(parent, pieces, n)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        partition_polygon(box(0, 0, 1, 1), 0)
    with pytest.raises(TypeError):
        partition_polygon(Point(0, 0), 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        partition_polygon(Polygon(), 2)
    with pytest.raises(ValueError):
        partition_polygons([box(0, 0, 1, 1)], [2, 3], [0])


# -- the pieces of a cut-up cell ----------------------------------------------------------


def test_stray_parts_join_the_neighbour_they_share_most_edge_with() -> None:
    a = box(0, 0, 1, 1)
    b_main, b_stray = box(1, 0, 3, 1), box(0, 1, 1, 1.2)  # the stray sits on top of a
    c = box(1, 1, 3, 2)
    pieces = partition_careful.single_polygons([a, MultiPolygon([b_main, b_stray]), c])
    assert pieces is not None
    assert all(isinstance(p, Polygon) for p in pieces)
    assert pieces[1].equals(b_main)
    assert pieces[0].equals(shapely.union(a, b_stray))  # shares 1.0 with a, 0.2 with c
    assert pieces[2].equals(c)


# -- grid_count ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("households", "target", "expected"),
    [(0, 400, 1), (150, 400, 1), (399, 400, 1), (700, 400, 2), (4_100, 400, 10),
     (1_000, 100, 10), (10**7, 400, 999), (999 * 400 + 10_000, 400, 999)],
)  # fmt: skip
def test_grid_count(households: int, target: int, expected: int) -> None:
    assert grid_count(households, target) == expected


def test_grid_count_refuses_a_bad_target() -> None:
    with pytest.raises(ValueError):
        grid_count(100, 0)


def test_slivers_take_the_careful_path() -> None:
    sliver = Polygon([(0, 0), (100, 100), (100, 100.01)])  # fills 0.005 % of its bounding box
    assert_tiles(sliver, partition_polygon(sliver, 6, seed=1), 6)
    batch = partition_polygons([sliver, box(0, 0, 1, 1)], [6, 4], [1, 2])
    assert_tiles(sliver, batch[0], 6)
    assert_tiles(box(0, 0, 1, 1), batch[1], 4)


def test_batch_without_an_ordered_voronoi_diagram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partition_batch, "_ORDERED_VORONOI", False)
    parents = partition_polygon(box(0, 0, 10, 10), 12, seed=1)
    batch = partition_polygons(parents, [3] * 12, range(12))
    for parent, pieces in zip(parents, batch, strict=True):
        assert_tiles(parent, pieces, 3)


def test_multipolygons_are_shared_out_over_their_parts() -> None:
    mainland, island = box(0, 0, 3, 3), box(5, 0, 6, 1)  # areas 9 and 1
    both = MultiPolygon([mainland, island])
    pieces = partition_polygon(both, 10, seed=1)  # type: ignore[arg-type]
    assert_tiles(both, pieces, 10)  # type: ignore[arg-type]
    on_island = [p for p in pieces if p.within(island)]
    assert len(on_island) == 1
    assert reading_order(pieces) == list(range(10))
    assert partition_polygon(both, 1) == [both]  # type: ignore[arg-type]
    grouped = partition_polygon(  # type: ignore[arg-type]
        MultiPolygon([mainland, island, box(8, 0, 9, 1)]), 2
    )
    assert len(grouped) == 2
    assert shapely.union_all(grouped).equals(MultiPolygon([mainland, island, box(8, 0, 9, 1)]))
