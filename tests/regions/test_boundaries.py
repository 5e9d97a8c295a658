import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from chengzhi.errors import ImportRejected
from chengzhi.geo import coords
from chengzhi.models import Region
from chengzhi.regions import boundaries, queries, service
from tests.conftest import shared_file

TAIPEI = "boundaries_taipei_villages.geojson"


def taipei_regions(session, tmp_path: Path) -> None:
    """Taipei's districts (區) and villages (里) as a region tree with synthetic codes; each 區
    stands in as its own street level, since Taipei has none between 區 and 里."""
    features = json.loads(shared_file(TAIPEI).read_text("utf-8"))["features"]
    towns = sorted({f["properties"]["TOWNNAME"] for f in features})
    lines = ["code,name", "71,台北市"]
    for t, town in enumerate(towns, start=1):
        lines += [f"7101{t:02d},{town}", f"7101{t:02d}001,{town}"]
        villages = sorted(
            {f["properties"]["VILLAGENAM"] for f in features if f["properties"]["TOWNNAME"] == town}
        )
        lines += [f"7101{t:02d}001{v:03d},{name}" for v, name in enumerate(villages, start=1)]
    path = tmp_path / "taipei.csv"
    path.write_text("\n".join(lines), "utf-8")
    service.import_divisions(session, path, root="71")


def test_real_taipei_boundaries_match_by_district_and_village_name(session, tmp_path):
    taipei_regions(session, tmp_path)
    with pytest.raises(ImportRejected) as caught:  # the real file has one self-intersecting ring
        boundaries.import_boundaries(session, shared_file(TAIPEI), ["TOWNNAME", "VILLAGENAM"])
    [problem] = caught.value.problems
    assert (
        problem.where == "feature 391"
        and "Self-intersection" in problem.reason
        and "--repair" in problem.reason
    )
    report = boundaries.import_boundaries(
        session, shared_file(TAIPEI), ["TOWNNAME", "VILLAGENAM"], repair=True
    )
    # 448 features: 信義區三犁里 comes in two touching parts, joined into one boundary
    assert report.updated == 447 and report.problems == []
    assert [p.where for p in report.repaired] == ["feature 391"]
    with_shape = session.scalar(
        select(func.count()).where(Region.level == "community", Region.min_lon.is_not(None))
    )
    assert with_shape == 447
    sanyu = session.scalar(select(Region).where(Region.name == "三玉里"))
    assert 121.5 < sanyu.label_lon < 121.6 and 25.0 < sanyu.label_lat < 25.2
    assert 0.1 < sanyu.area_km2 < 10


def test_a_name_shared_by_villages_in_two_districts_is_ambiguous_without_the_district(
    session, tmp_path
):
    taipei_regions(session, tmp_path)
    with pytest.raises(ImportRejected) as caught:
        boundaries.import_boundaries(session, shared_file(TAIPEI), ["VILLAGENAM"])
    assert any("ambiguous" in p.reason for p in caught.value.problems)
    assert session.scalar(select(func.count()).where(Region.min_lon.is_not(None))) == 0


def feature(props, coordinates, kind="Polygon"):
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": kind, "coordinates": coordinates},
    }


def write_fc(tmp_path: Path, features) -> Path:
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


SQUARE = [[[117.0, 39.0], [117.1, 39.0], [117.1, 39.1], [117.0, 39.1], [117.0, 39.0]]]
BOWTIE = [[[117.0, 39.0], [117.1, 39.1], [117.1, 39.0], [117.0, 39.1], [117.0, 39.0]]]


@pytest.fixture
def tianjin_bit(session, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("code,name\n12,天津市\n120101,和平区\n120102,河东区\n", "utf-8")
    service.import_divisions(session, path)


def test_bad_features_are_named_and_nothing_lands(session, tmp_path, tianjin_bit):
    path = write_fc(
        tmp_path,
        [
            feature({"code": "120101"}, SQUARE),
            feature({"code": "120102"}, BOWTIE),
            feature({"code": "120199"}, SQUARE),
            feature({"code": "120101"}, SQUARE),
            feature({"code": "120102"}, [[117.0, 39.0]], "Point"),
            {"type": "Feature", "properties": {}, "geometry": None},
        ],
    )
    with pytest.raises(ImportRejected) as caught:
        boundaries.import_boundaries(session, path, ["code"])
    reasons = {p.where: p.reason for p in caught.value.problems}
    assert "Self-intersection" in reasons["feature 1"]
    assert "no region with this code" in reasons["feature 2"]
    assert "duplicate of feature 0" in reasons["feature 3"]  # the same region twice, overlapping
    assert "Polygon" in reasons["feature 4"]
    assert "missing match property" in reasons["feature 5"]
    assert queries.get_region(session, "120101").min_lon is None


def test_gcj02_boundaries_are_stored_as_wgs84(session, tmp_path, tianjin_bit):
    path = write_fc(tmp_path, [feature({"code": "120101"}, SQUARE)])
    boundaries.import_boundaries(session, path, ["code"], crs="gcj02")
    region = queries.get_region(session, "120101")
    lon, lat = coords.gcj02_to_wgs84(np.array([117.0, 117.0, 117.1]), np.array([39.0, 39.1, 39.0]))
    assert region.min_lon == pytest.approx(lon[:2].min(), abs=1e-9)
    assert region.min_lat == pytest.approx(lat[[0, 2]].min(), abs=1e-9)
    assert abs(region.min_lon - 117.0) > 1e-4  # really shifted


def test_not_json_is_a_clear_error(session, tmp_path, tianjin_bit):
    path = tmp_path / "x.geojson"
    path.write_text("{not json", "utf-8")
    with pytest.raises(Exception, match="invalid JSON"):
        boundaries.import_boundaries(session, path, ["code"])
