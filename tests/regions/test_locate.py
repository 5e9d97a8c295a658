import numpy as np
import pytest
import shapely

from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.geo import coords
from chengzhi.geo.shapes import load
from chengzhi.regions import queries
from chengzhi.regions.locator import locate_points, locator
from chengzhi.regions.service import bump_structure_version


@pytest.fixture
def small_city(session, clock: FrozenClock):
    city = plan.plan_city("small", 3)
    build.store_city(session, city, clock)
    return city


def test_a_point_resolves_up_the_whole_chain(session, small_city):
    grid = next(r for r in small_city.regions if r.level == "grid")
    p = grid.polygon.representative_point()
    [loc] = locate_points(session, [p.x], [p.y], "wgs84", 2000)
    assert loc.status == "inside" and loc.distance_m == 0
    assert [r.level for r in loc.chain] == ["grid", "community", "street", "district", "city"]
    assert [r.code for r in loc.chain] == [
        grid.code,
        grid.code[:12],
        grid.code[:9],
        grid.code[:6],
        "50",
    ]


def test_batch_locate_agrees_with_the_polygons(session, small_city):
    rng = np.random.default_rng(0)
    outline = next(r for r in small_city.regions if r.level == "city").polygon
    x0, y0, x1, y1 = outline.bounds
    lon, lat = rng.uniform(x0, x1, 2000), rng.uniform(y0, y1, 2000)
    found = locate_points(session, list(lon), list(lat), "wgs84", 0)
    grids = {r.code: r.polygon for r in small_city.regions if r.level == "grid"}
    for loc, x, y in zip(found, lon, lat, strict=True):
        point = shapely.Point(x, y)
        if loc.status == "inside":
            assert grids[loc.chain[0].code].buffer(1e-9).contains(point)
        else:
            assert not outline.buffer(-1e-9).contains(point)


def test_a_point_just_outside_resolves_to_the_nearest_grid_flagged(session, small_city):
    outline = next(r for r in small_city.regions if r.level == "city").polygon
    x0, y0, x1, y1 = outline.bounds
    near = (x1 + 0.005, (y0 + y1) / 2)  # ~500 m east of the bbox
    far = (x1 + 1.0, (y0 + y1) / 2)
    [n, f] = locate_points(session, [near[0], far[0]], [near[1], far[1]], "wgs84", 2000)
    assert n.status == "nearest" and 400 < n.distance_m < 2000 and n.chain[0].level == "grid"
    assert f.status == "outside" and f.chain == () and f.distance_m > 50_000


def test_gcj02_input_is_converted_before_locating(session, small_city):
    grid = next(r for r in small_city.regions if r.level == "grid")
    p = grid.polygon.representative_point()
    glon, glat = coords.wgs84_to_gcj02(p.x, p.y)
    [loc] = locate_points(session, [float(glon)], [float(glat)], "gcj02", 2000)
    assert loc.chain[0].code == grid.code
    assert loc.lon == pytest.approx(p.x, abs=1e-5)


def test_the_index_is_rebuilt_when_the_structure_changes(session, small_city):
    first = locator(session)
    assert locator(session) is first
    bump_structure_version(session)
    assert locator(session) is not first


def test_nothing_imported_locates_nothing(session):
    [loc] = locate_points(session, [106.5], [29.5], "wgs84", 2000)
    assert loc.status == "outside" and loc.chain == ()


def test_stored_grid_polygons_round_trip(session, small_city):
    grid = next(r for r in small_city.regions if r.level == "grid")
    stored = queries.get_region(session, grid.code, with_geometry=True)
    assert load(stored.geometry).equals_exact(grid.polygon, 1e-12)
