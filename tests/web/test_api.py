import pytest

from chengzhi.demo import build, plan
from chengzhi.privacy import mask_name


@pytest.fixture
def city(session, clock):
    city = plan.plan_city("small", 5)
    build.store_city(session, city, clock)
    return city


def test_regions_list_filters_and_pages(client, city):
    body = client.get("/api/v1/regions", params={"level": "district"}).json()
    districts = [r for r in city.regions if r.level == "district"]
    assert body["total"] == len(districts)
    assert [r["code"] for r in body["items"]] == sorted(r.code for r in districts)
    assert body["items"][0]["parent_code"] == "50" and body["items"][0]["level_label"] == "区县"
    page = client.get("/api/v1/regions", params={"level": "grid", "limit": 7, "offset": 7}).json()
    assert len(page["items"]) == 7 and page["offset"] == 7


def test_a_region_shows_its_ancestors_children_and_geometry(client, city):
    community = next(r for r in city.regions if r.level == "community")
    body = client.get(f"/api/v1/regions/{community.code}", params={"geometry": True}).json()
    assert [a["code"] for a in body["ancestors"]] == ["50", community.code[:6], community.code[:9]]
    assert body["children"] == sum(1 for r in city.regions if r.parent_code == community.code)
    assert body["geometry"]["type"] == "Polygon"
    assert client.get(f"/api/v1/regions/{community.code}").json()["geometry"] is None


def test_unknown_codes_are_404_and_bad_input_is_422(client, city):
    assert client.get("/api/v1/regions/509999").status_code == 404
    assert client.get("/api/v1/grids/50").status_code == 404  # a region, not a grid
    assert client.get("/api/v1/regions", params={"under": "abc"}).status_code == 422
    assert client.get("/api/v1/locate", params={"lon": 200, "lat": 29}).status_code == 422
    infinite = '{"points": [[Infinity, 0]]}'
    assert (
        client.post(
            "/api/v1/locate", content=infinite, headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert client.post("/api/v1/locate", json={"points": [[500, 0]]}).status_code == 422
    assert client.get("/api/v1/regions", params={"limit": 5000}).status_code == 422


def test_grids_list_their_people_masked(client, city, session):
    grid = next(r for r in city.regions if r.level == "grid")
    body = client.get(f"/api/v1/grids/{grid.code}").json()
    duties = [p["duty"] for p in body["people"]]
    assert duties[0] == "head" and "full_time" in duties
    from chengzhi.models import Person

    real = session.get(Person, body["people"][0]["person_id"]).name
    assert body["people"][0]["name"] == mask_name(real) != real


def test_locate_single_and_batch(client, city):
    grid = next(r for r in city.regions if r.level == "grid")
    p = grid.polygon.representative_point()
    one = client.get("/api/v1/locate", params={"lon": p.x, "lat": p.y}).json()
    assert one["status"] == "inside" and one["grid"]["code"] == grid.code
    assert one["district"]["code"] == grid.code[:6] and one["city"]["name"] == city.name
    batch = client.post("/api/v1/locate", json={"points": [[p.x, p.y], [0, 0]]}).json()["results"]
    assert batch[0]["grid"]["code"] == grid.code and batch[1]["status"] == "outside"


def test_people_never_leave_unmasked(client, city, session):
    from chengzhi.models import Person

    body = client.get("/api/v1/people", params={"limit": 50}).json()
    assert body["total"] > 50
    for item in body["items"]:
        real = session.get(Person, item["id"])
        assert item["name"] != real.name and item["phone"] != real.phone
        assert "*" in item["name"] and "****" in item["phone"]


def test_org_units_and_structure_check(client, city):
    units = client.get("/api/v1/org-units", params={"kind": "street_office"}).json()
    assert units["total"] == sum(1 for r in city.regions if r.level == "street")
    one = client.get(f"/api/v1/org-units/{units['items'][0]['id']}").json()
    assert one["jurisdiction_code"] == units["items"][0]["jurisdiction_code"]
    assert client.get("/api/v1/org-units/999999").status_code == 404
    check = client.get("/api/v1/structure/check").json()
    assert check["grids_without_people"]["count"] == 0 and check["grids_without_head"]["count"] == 0


def test_stats_and_geojson(client, city):
    stats = client.get("/api/v1/stats/structure").json()
    assert stats["grid"]["count"] == sum(1 for r in city.regions if r.level == "grid")
    assert stats["grid"]["with_boundary"] == stats["grid"]["count"]
    fc = client.get("/api/v1/geojson/street").json()
    assert len(fc["features"]) == stats["street"]["count"]
    assert fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_lists_cost_a_fixed_number_of_queries(client, city, count_queries):
    with count_queries() as small:
        client.get("/api/v1/grids", params={"limit": 5})
    with count_queries() as large:
        client.get("/api/v1/grids", params={"limit": 100})
    assert large.count == small.count
    with count_queries() as few:
        client.get("/api/v1/people", params={"limit": 5})
    with count_queries() as many:
        client.get("/api/v1/people", params={"limit": 100})
    assert many.count == few.count


def test_home_page_and_offline_api_docs(client, city):
    home = client.get("/")
    assert home.status_code == 200 and city.name in home.text and "网格" in home.text
    docs = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"].startswith("城治")
