import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from chengzhi.errors import Conflict, ImportRejected
from chengzhi.geo.shapes import load
from chengzhi.models import Region
from chengzhi.regions import boundaries, grids, queries, service
from chengzhi.regions.locator import locate_points

COMMUNITY_A = box(117.00, 39.00, 117.02, 39.01)
COMMUNITY_B = box(117.02, 39.00, 117.04, 39.01)


@pytest.fixture
def two_communities(session, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(
        "code,name\n12,天津市\n120101,和平区\n120101001,劝业场街道\n"
        "120101001001,花园社区\n120101001002,新兴社区\n",
        "utf-8",
    )
    service.import_divisions(session, csv)
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": "120101001001"},
                "geometry": mapping(COMMUNITY_A),
            },
            {
                "type": "Feature",
                "properties": {"code": "120101001002"},
                "geometry": mapping(COMMUNITY_B),
            },
        ],
    }
    path = tmp_path / "c.geojson"
    path.write_text(json.dumps(fc), "utf-8")
    boundaries.import_boundaries(session, path, ["code"])
    for code, households in (("120101001001", 2000), ("120101001002", 790)):
        queries.get_region(session, code).households = households
    session.flush()


def grid_rows(session, community: str):
    return session.scalars(
        select(Region).where(Region.level == "grid", Region.under(community)).order_by(Region.code)
    ).all()


def test_generated_grids_tile_each_community_by_households(session, two_communities):
    report = grids.generate_grids(session, households_per_grid=400)
    a, b = grid_rows(session, "120101001001"), grid_rows(session, "120101001002")
    assert (len(a), len(b)) == (5, 2) and report.created["grid"] == 7
    union = shapely.union_all([load(session.get(Region, g.id).geometry) for g in a])
    assert union.symmetric_difference(COMMUNITY_A).area < 1e-9
    assert [g.code for g in a] == [f"120101001001{i:03d}" for i in range(1, 6)]
    assert sum(g.households for g in a) == pytest.approx(2000, abs=3)


def test_grid_codes_run_west_to_east_then_north_to_south(session, two_communities):
    grids.generate_grids(session, under="120101001001", households_per_grid=100)  # 20 grids
    cells = grid_rows(session, "120101001001")
    centres = [(g.label_lon, g.label_lat) for g in cells]
    first, last = centres[0], centres[-1]
    assert first[1] > last[1]  # first row is the northernmost
    assert min(c[1] for c in centres[:3]) > max(c[1] for c in centres[-3:])


def test_generating_twice_needs_replace(session, two_communities):
    grids.generate_grids(session)
    with pytest.raises(Conflict, match="--replace"):
        grids.generate_grids(session)
    grids.generate_grids(session, households_per_grid=200, replace=True)
    assert len(grid_rows(session, "120101001001")) == 10


def test_grids_change_what_a_point_locates_to(session, two_communities):
    [before] = locate_points(session, [117.01], [39.005], "wgs84", 2000)
    assert before.chain[0].code == "120101001001"  # the community: no grids yet
    grids.generate_grids(session)
    [after] = locate_points(session, [117.01], [39.005], "wgs84", 2000)
    assert after.chain[0].level == "grid" and after.chain[1].code == "120101001001"


def fc(tmp_path: Path, *features) -> Path:
    path = tmp_path / "g.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": props, "geometry": mapping(geom)}
                    for props, geom in features
                ],
            }
        ),
        "utf-8",
    )
    return path


def test_imported_grids_find_their_community_and_get_codes(session, two_communities, tmp_path):
    west, east = box(117.00, 39.00, 117.01, 39.01), box(117.01, 39.00, 117.02, 39.01)
    report = grids.import_grids(
        session,
        fc(tmp_path, ({"名称": "东格"}, east), ({"名称": "西格"}, west)),
        name_property="名称",
    )
    assert report.created["grid"] == 2
    rows = grid_rows(session, "120101001001")
    assert [(g.code, g.name) for g in rows] == [
        ("120101001001001", "西格"),
        ("120101001001002", "东格"),
    ]


def test_grid_import_refuses_crossing_overlapping_and_outside_grids(
    session, two_communities, tmp_path
):
    path = fc(
        tmp_path,
        ({}, box(117.00, 39.00, 117.01, 39.01)),
        ({}, box(117.015, 39.00, 117.025, 39.01)),  # crosses A|B
        ({}, box(117.005, 39.00, 117.012, 39.01)),  # overlaps the first
        ({}, box(118.0, 40.0, 118.1, 40.1)),  # outside the city
    )
    with pytest.raises(ImportRejected) as caught:
        grids.import_grids(session, path)
    reasons = {p.where: p.reason for p in caught.value.problems}
    assert "exactly one community" in reasons["feature 1"]
    assert "overlaps" in reasons["feature 2"]
    assert "outside every community" in reasons["feature 3"]
    assert session.scalar(select(func.count()).where(Region.level == "grid")) == 0


def test_grid_codes_given_in_the_file_must_belong_to_the_community(
    session, two_communities, tmp_path
):
    path = fc(tmp_path, ({"id": "120101001002001"}, box(117.00, 39.00, 117.01, 39.01)))
    with pytest.raises(ImportRejected, match="1 个网格有误") as caught:
        grids.import_grids(session, path, code_property="id")
    assert "crosses its community boundary" in caught.value.problems[0].reason
