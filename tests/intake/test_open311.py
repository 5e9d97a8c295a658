"""Open311 GeoReport v2 as existing clients speak it — form POSTs with an api_key, `.xml` and
`.json` paths, the spec's error documents — and the API clients (keys) behind it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.auth import clients
from chengzhi.cases import service as cases
from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app as cli
from chengzhi.clock import SystemClock
from chengzhi.deps import get_clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.intake import open311_format as o311
from chengzhi.models import ApiClient, Case, Category, Level, Person, Role
from tests.cases import conftest as demo
from tests.cases.conftest import City, appeal

city = demo.city  # the small demo city with the default catalogue (a fixture)

BASE = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
PHONE, OTHER_PHONE = "13800138000", "13912345678"


@pytest.fixture
def api(client, city, clock):
    client.app.dependency_overrides[get_clock] = lambda: clock
    return client


@pytest.fixture
def key(session, clock, city) -> str:
    _, secret = clients.create_client(
        session, clock, "fixmystreet", Role.OPERATOR, f"OC{city.plan.code}"
    )
    return secret


def grid_point(city: City, n: int) -> tuple[float, float]:
    """A point inside the n-th grid of the demo city (different grids: no duplicate merging)."""
    grids = [r for r in city.plan.regions if r.level == Level.GRID.value]
    p = grids[n].polygon.representative_point()
    return p.x, p.y


def grid_point_code(city: City, n: int) -> str:
    return [r for r in city.plan.regions if r.level == Level.GRID.value][n].code


def region_names(city: City, code: str) -> list[str]:
    """The planned names of a region and those above it, most specific first."""
    by_code = {r.code: r.name for r in city.plan.regions}
    return [by_code[code[:n]] for n in (15, 12, 9, 6, 4, 2) if code[:n] in by_code]


def post(api, key: str | None, fmt: str = "json", **fields):
    data = {"api_key": key, **fields} if key else fields
    return api.post(f"{BASE}/requests.{fmt}", content=urlencode(data), headers=FORM)


def report(api, city: City, key: str, n: int = 0, **extra) -> str:
    """Rubbish left out (暴露垃圾) through POST Service Request; returns the service_request_id."""
    lon, lat = grid_point(city, n)
    fields = {
        "service_code": "matter-06010",
        "lat": f"{lat:.7f}",
        "long": f"{lon:.7f}",
        "first_name": "三",
        "last_name": "张",
        "phone": PHONE,
        "email": "zhangsan@example.com",
        "device_id": f"phone-{n}",
        "description": f"第{n + 1}处：小区门口垃圾堆积三天没人清运，气味很大。",
        **extra,
    }
    response = post(api, key, **fields)
    assert response.status_code == 200, response.text
    [answer] = response.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    return answer["service_request_id"]


def xml_of(response) -> ET.Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def spec_error(response, status: int, fmt: str = "json") -> str:
    """The spec's error document with the HTTP status: never FastAPI's {"detail": …}."""
    assert response.status_code == status, response.text
    if fmt == "json":
        [error] = response.json()
        assert error["code"] == status and error["description"]
        return error["description"]
    root = xml_of(response)
    assert root.tag == "errors" and [e.tag for e in root] == ["error"]
    assert root.findtext("error/code") == str(status)
    return root.findtext("error/description") or ""


# --- discovery and services -------------------------------------------------------------------


def test_discovery_names_the_georeport_v2_endpoint_in_json_and_xml(api):
    doc = api.get(f"{BASE}/discovery.json").json()
    assert set(doc) == {"changeset", "contact", "key_service", "endpoints"}
    [endpoint] = doc["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = xml_of(api.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == endpoint[
        "formats"
    ]
    assert root.findtext("endpoints/endpoint/specification") == endpoint["specification"]
    assert root.findtext("changeset") == doc["changeset"]


def test_services_are_the_leaf_categories_of_the_current_catalogue(api, session):
    response = api.get(f"{BASE}/services.json")
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    services = response.json()
    version = catalog.current_version(session)
    leaves = session.scalar(
        select(func.count()).where(Category.version_id == version.id, Category.is_leaf.is_(True))
    )
    assert len(services) == leaves
    by_code = {s["service_code"]: s for s in services}
    row = session.scalar(
        select(Category).where(
            Category.version_id == version.id, Category.kind == "matter", Category.code == "06010"
        )
    )
    parent = session.scalar(
        select(Category).where(
            Category.version_id == version.id,
            Category.kind == "matter",
            Category.code == row.parent_code,
        )
    )
    assert by_code["matter-06010"] == {
        "service_code": "matter-06010",
        "service_name": row.name,
        "description": f"{row.name_en} (管理事项 06010)",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(row.keywords),
        "group": parent.name,
    }
    assert {c.split("-")[0] for c in by_code} == {"component", "matter", "topic"}

    root = xml_of(api.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root) == leaves
    first = root[0]
    assert first.tag == "service"
    assert [e.tag for e in first] == list(services[0])
    assert first.findtext("metadata") == "false" and first.findtext("type") == "realtime"


def test_a_service_definition_has_no_attributes_and_unknown_codes_are_404(api, session):
    assert api.get(f"{BASE}/services/matter-06010.json").json() == {
        "service_code": "matter-06010",
        "attributes": [],
    }
    root = xml_of(api.get(f"{BASE}/services/matter-06010.xml"))
    assert root.tag == "service_definition"
    assert [e.tag for e in root] == ["service_code", "attributes"] and len(root[1]) == 0
    group = session.scalar(
        select(Category).where(Category.kind == "matter", Category.is_leaf.is_(False))
    )
    for code in ("matter-99999", "nonsense", f"matter-{group.code}"):
        spec_error(api.get(f"{BASE}/services/{code}.json"), 404)
    spec_error(api.get(f"{BASE}/services/matter-99999.xml"), 404, "xml")


# --- POST Service Request ---------------------------------------------------------------------


def test_a_form_post_with_an_api_key_registers_an_open311_case(api, city, session, key):
    number = report(api, city, key)
    case = session.scalar(select(Case).where(Case.number == number))
    assert case.channel == "open311"
    assert (case.category.kind, case.category.code) == ("matter", "06010")
    assert case.region_code == grid_point_code(city, 0)
    assert (case.reporter_name, case.reporter_phone) == ("张三", PHONE)
    assert case.source_ref == "phone-0"
    client = session.scalar(select(ApiClient).where(ApiClient.name == "fixmystreet"))
    assert client.last_used_at is not None

    [one] = api.get(f"{BASE}/requests/{number}.json").json()
    assert one["service_request_id"] == number
    assert one["service_code"] == "matter-06010" and one["service_name"] == case.category.name
    assert one["status"] == "open" and one["agency_responsible"] == case.unit.name
    assert one["address"] == ", ".join(region_names(city, case.region_code))
    assert one["address_id"] == case.region_code
    assert one["lat"] == round(case.lat, 3) and one["long"] == round(case.lon, 3)
    assert one["requested_datetime"] == "2026-11-02T17:00:00+08:00"
    listed = api.get(f"{BASE}/requests.json").json()
    assert number in [r["service_request_id"] for r in listed]


def test_the_post_answer_has_the_spec_shape_in_xml(api, city, key):
    lon, lat = grid_point(city, 1)
    response = post(api, key, "xml", service_code="matter-06010", lat=str(lat), long=str(lon))
    root = xml_of(response)
    assert root.tag == "service_requests"
    [request] = root
    assert request.tag == "request"
    assert [e.tag for e in request] == ["service_request_id", "service_notice", "account_id"]
    assert request.findtext("service_request_id") and request.findtext("account_id") == ""


def test_without_a_key_or_with_a_revoked_one_the_post_is_403(api, city, session, key):
    lon, lat = grid_point(city, 0)
    fields = {"service_code": "matter-06010", "lat": str(lat), "long": str(lon)}
    assert "api_key" in spec_error(post(api, None, **fields), 403)
    spec_error(post(api, "forged-key", **fields), 403)
    spec_error(post(api, None, "xml", **fields), 403, "xml")
    clients.revoke(session, "fixmystreet")
    spec_error(post(api, key, **fields), 403)
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_service_code_missing_is_400_and_unknown_is_404(api, city, key):
    lon, lat = grid_point(city, 0)
    where = {"lat": str(lat), "long": str(lon)}
    assert "service_code" in spec_error(post(api, key, **where), 400)
    spec_error(post(api, key, service_code="matter-99999", **where), 404)
    spec_error(post(api, key, "xml", service_code="bogus", **where), 404, "xml")


def test_a_location_is_required_and_must_be_in_the_city(api, key):
    code = {"service_code": "matter-06010", "description": "路灯不亮"}
    assert "location" in spec_error(post(api, key, **code), 400)
    spec_error(post(api, key, lat="29.5", **code), 400)  # lat without long
    spec_error(post(api, key, lat="north", long="east", **code), 400)
    assert "outside" in spec_error(post(api, key, lat="0", long="0", **code), 400)


def test_a_description_over_4000_characters_is_400(api, city, key):
    lon, lat = grid_point(city, 0)
    response = post(
        api, key, service_code="matter-06010", lat=str(lat), long=str(lon), description="坑" * 4001
    )
    assert "4,000" in spec_error(response, 400)


def test_jurisdiction_id_is_optional_but_must_be_the_citys(api, city, key):
    root = city.plan.code
    lon, lat = grid_point(city, 0)
    where = {"service_code": "matter-06010", "lat": str(lat), "long": str(lon)}
    assert post(api, key, jurisdiction_id=root, **where).status_code == 200
    # The spec: "404 - jurisdiction_id was not found".
    assert "jurisdiction_id" in spec_error(
        post(api, key, jurisdiction_id="sfgov.org", **where), 404
    )
    spec_error(api.get(f"{BASE}/services.json", params={"jurisdiction_id": "sfgov.org"}), 404)
    spec_error(api.get(f"{BASE}/requests.xml", params={"jurisdiction_id": "x"}), 404, "xml")
    assert api.get(f"{BASE}/services.json", params={"jurisdiction_id": root}).status_code == 200


def test_address_string_and_address_id_locate_a_request_without_coordinates(
    api, city, session, key
):
    community = city.grid.code[:12]
    response = post(api, key, service_code="matter-06010", address_id=community)
    assert response.status_code == 200, response.text
    number = response.json()[0]["service_request_id"]
    case = session.scalar(select(Case).where(Case.number == number))
    assert case.address and case.channel == "open311"
    bad = post(api, key, service_code="matter-06010", address_id="999999")
    assert "address_id" in spec_error(bad, 400)
    words = post(api, key, service_code="matter-06010", address_string="某路口")
    assert words.status_code == 200


def test_a_form_body_that_is_not_a_form_is_a_spec_error_never_422(api, key):
    body = json.dumps({"api_key": key, "service_code": "matter-06010"})
    response = api.post(
        f"{BASE}/requests.json", content=body, headers={"Content-Type": "application/json"}
    )
    spec_error(response, 400)
    broken = api.post(f"{BASE}/requests.json", content=b"api_key=%FF%FE", headers=FORM)
    spec_error(broken, 400)
    spec_error(api.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}), 400)
    spec_error(api.get(f"{BASE}/requests.json", params={"status": "pending"}), 400)


# --- GET Service Requests ---------------------------------------------------------------------


def test_personal_data_never_appears_in_any_get(api, city, session, key):
    number = report(
        api,
        city,
        key,
        description=f"我叫王小明，电话{OTHER_PHONE}，住幸福路12号3栋501室，身份证500101199001011234。",
    )
    [one] = api.get(f"{BASE}/requests/{number}.json").json()
    bodies = [
        api.get(f"{BASE}/requests/{number}.json").text,
        api.get(f"{BASE}/requests/{number}.xml").text,
        api.get(f"{BASE}/requests.json").text,
        api.get(f"{BASE}/requests.xml").text,
        api.get(f"{BASE}/requests.json", params={"service_request_id": number}).text,
    ]
    for body in bodies:
        for secret in (
            "张三",
            PHONE,
            OTHER_PHONE,
            "王小明",
            "501",
            "500101199001011234",
            "zhangsan",
        ):
            assert secret not in body, secret
    assert "138****8000" not in bodies[0]  # the reporter's own phone is not even shown masked
    assert "139****5678" in one["description"] and "王**" in one["description"]
    case = session.scalar(select(Case).where(Case.number == number))
    assert one["lat"] != case.lat and abs(one["lat"] - case.lat) <= 0.0005


def test_the_requests_list_is_well_formed_xml_in_the_specs_shape(api, city, clock, key):
    numbers = [report(api, city, key, n) for n in range(3)]
    root = xml_of(api.get(f"{BASE}/requests.xml"))
    assert root.tag == "service_requests"
    assert {r.tag for r in root} == {"request"}
    assert [r.findtext("service_request_id") for r in root] == numbers[::-1]  # newest first
    fields = [e.tag for e in root[0]]
    assert fields == [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    one = api.get(f"{BASE}/requests/{numbers[0]}.json").json()[0]
    assert one["updated_datetime"] >= one["requested_datetime"]


def test_requests_filter_by_date_status_code_and_id(api, city, session, clock, key):
    early = report(api, city, key, 0)
    clock.advance(days=100)
    late = report(api, city, key, 1)
    dispatcher = city.actors["dispatcher"]
    registered = cases.register_case(session, clock, city.actors["operator"], appeal(city))
    cases.cancel_case(session, clock, dispatcher, registered.number, "重复来电 (repeat call)")

    def ids(**params) -> list[str]:
        response = api.get(f"{BASE}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert early not in ids() and late in ids()  # the default window: the last 90 days
    assert ids(start_date="2026-11-01T00:00:00Z", end_date="2026-11-03T00:00:00Z") == [early]
    assert ids(start_date="2026-11-01", end_date="2026-11-03") == [early]
    assert ids(start_date="2026-11-01T00:00:00+08:00") == [early]  # 90 days on from the start
    assert ids(end_date="2026-11-03T00:00:00Z") == [early]  # 90 days back from the end
    assert ids(status="closed") == [registered.number]
    assert late in ids(status="open") and registered.number not in ids(status="open")
    assert set(ids(status="open,closed")) == {late, registered.number}
    assert ids(service_code="matter-99999") == []
    assert late in ids(service_code="component-01001,matter-06010")
    assert ids(service_request_id=f"{early},{late}", status="closed") == [late, early]
    too_long = {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}
    assert "90" in spec_error(api.get(f"{BASE}/requests.json", params=too_long), 400)
    backwards = {"start_date": "2026-11-03T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}
    spec_error(api.get(f"{BASE}/requests.json", params=backwards), 400)
    [closed] = api.get(f"{BASE}/requests/{registered.number}.json").json()
    assert closed["status"] == "closed" and "已作废" in closed["status_notes"]


def test_one_request_and_tokens_are_404_when_unknown(api, city, key):
    number = report(api, city, key)
    assert api.get(f"{BASE}/tokens/{number}.json").json() == [
        {"service_request_id": number, "token": number}
    ]
    root = xml_of(api.get(f"{BASE}/tokens/{number}.xml"))
    assert root.findtext("request/token") == number
    spec_error(api.get(f"{BASE}/tokens/nope.json"), 404)
    spec_error(api.get(f"{BASE}/requests/nope.xml"), 404, "xml")
    spec_error(api.get(f"{BASE}/requests/{number}.html"), 404, "xml")
    spec_error(api.get(f"{BASE}/no-such-method.json"), 404)


def test_the_requests_list_costs_a_fixed_number_of_queries(api, city, key, count_queries):
    report(api, city, key, 0)
    with count_queries() as few:
        api.get(f"{BASE}/requests.json")
    for n in range(1, 4):
        report(api, city, key, n)
    with count_queries() as many:
        assert len(api.get(f"{BASE}/requests.json").json()) == 4
    assert many.count == few.count


def test_a_client_written_as_open311_clients_are_works_unchanged(api, city, key):
    """What FixMyStreet's Open311 module does: read discovery, list services, POST the form
    (extra attribute[] fields and all) to `requests.json`, read the id, then follow it."""
    [endpoint] = api.get(f"{BASE}/discovery.json").json()["endpoints"]
    url = endpoint["url"].removeprefix("http://testserver")
    assert "application/json" in endpoint["formats"]
    services = api.get(f"{url}/services.json", params={"jurisdiction_id": ""}).json()
    chosen = next(s for s in services if s["service_code"] == "matter-06010")
    assert chosen["metadata"] is False  # so no service definition call is needed
    lon, lat = grid_point(city, 2)
    body = urlencode(
        [
            ("api_key", key),
            ("jurisdiction_id", city.plan.code),
            ("service_code", chosen["service_code"]),
            ("lat", repr(lat)),
            ("long", repr(lon)),
            ("address_string", ""),
            ("email", "resident@example.org"),
            ("device_id", "tt222111"),
            ("account_id", "123456"),
            ("first_name", "Li"),
            ("last_name", "Lei"),
            ("phone", "+86 139 0013 9000"),
            ("description", "A large pothole\nin front of the school gate."),
            ("media_url", "http://example.org/photo.jpg"),
            ("attribute[title]", "Pothole"),
            ("attribute[report_url]", "http://example.org/report/1"),
        ]
    )
    response = api.post(f"{url}/requests.json", content=body, headers=FORM)
    assert response.status_code == 200, response.text
    [created] = response.json()
    number = created["service_request_id"]
    assert created["service_notice"] and created["account_id"] is None
    [found] = api.get(f"{url}/requests/{number}.json").json()
    assert found["status"] in ("open", "closed") and found["service_code"] == "matter-06010"
    assert "Li Lei" not in json.dumps(found) and "0013" not in json.dumps(found)


# --- the pure documents -----------------------------------------------------------------------


def test_public_text_masks_numbers_names_and_house_numbers():
    text = (
        "张三反映：我叫李四，手机 139-0013-9000，座机 023-68881234，幸福路8号2单元301室，a.b@qq.com"
    )
    masked = o311.public_text(text, "张三", None)
    for secret in ("张三", "李四", "0013", "6888", "301", "a.b@"):
        assert secret not in masked, secret
    assert masked.startswith("张*反映") and "@qq.com" in masked


def test_xml_stays_well_formed_whatever_the_text_holds():
    body = o311.errors(400, "a\x0bb <c> & \ud800 d")
    root = ET.fromstring(o311.render("xml", "errors", body))
    assert root.findtext("error/description") == "ab <c> &  d"
    assert json.loads(o311.render("json", "errors", body))[0]["code"] == 400


def test_w3c_dates_need_a_zone_and_names_follow_their_script():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert o311.parse_w3c("2026-11-02T09:00:00 08:00", tz).utcoffset() == timedelta(hours=8)
    assert o311.parse_w3c("2026-11", tz).day == 1
    for bad in ("2026-11-02T09:00:00", "2026-13-01", "soon"):
        with pytest.raises(ValueError):
            o311.parse_w3c(bad, tz)
    assert o311.full_name("三", "张") == "张三"
    assert o311.full_name("John", "Smith") == "John Smith"
    assert o311.full_name(None, None) is None


# --- API clients ------------------------------------------------------------------------------


def test_a_client_key_is_shown_once_and_stored_only_as_its_hash(session, clock, city):
    client, secret = clients.create_client(
        session, clock, "dept-system", Role.OPERATOR, f"OC{city.plan.code}"
    )
    assert len(secret) >= 40 and client.key_hash == clients.hash_key(secret)
    assert secret not in client.key_hash
    person = session.get(Person, client.person_id)
    assert person.username == "client:dept-system" and person.password_hash is None
    actor = clients.actor_for_key(session, clock, secret)
    assert actor.person_id == person.id and actor.role is Role.OPERATOR and actor.unit_id
    assert client.last_used_at == clock.now()
    first = clock.now()
    clock.advance(seconds=30)
    clients.actor_for_key(session, clock, secret)
    assert client.last_used_at == first  # kept to the minute: no write on every request
    clock.advance(seconds=30)
    clients.actor_for_key(session, clock, secret)
    assert client.last_used_at == clock.now()
    with pytest.raises(Conflict):
        clients.create_client(session, clock, "dept-system", Role.OPERATOR)
    with pytest.raises(InvalidInput):
        clients.create_client(session, clock, "has space", Role.OPERATOR)
    with pytest.raises(InvalidInput):
        clients.create_client(session, clock, "root", Role.ADMIN)
    with pytest.raises(NotFound):
        clients.create_client(session, clock, "nowhere", Role.OPERATOR, "NO-SUCH-UNIT")


def test_a_revoked_or_unknown_key_is_forbidden(session, clock, city):
    _, secret = clients.create_client(session, clock, "app", Role.OPERATOR)
    for bad in (None, "", "guess"):
        with pytest.raises(Forbidden):
            clients.actor_for_key(session, clock, bad)
    clients.revoke(session, "app")
    clients.revoke(session, "app")  # harmless twice
    with pytest.raises(Forbidden):
        clients.actor_for_key(session, clock, secret)
    with pytest.raises(NotFound):
        clients.revoke(session, "never-made")
    [info] = [c for c in clients.list_clients(session) if c.name == "app"]
    assert info.revoked and info.role == "operator"


runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_clients_commands_create_list_and_revoke(cli_env):
    assert run("init").exit_code == 0
    made = run("clients", "create", "city-app", "--role", "operator")
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    with db.transaction() as session:
        assert clients.actor_for_key(session, SystemClock(), secret).role is Role.OPERATOR
    [listed] = json.loads(run("clients", "list", "--json").output)
    assert listed["name"] == "city-app" and listed["revoked"] is False
    assert listed["last_used_at"] is not None and secret not in run("clients", "list").output
    assert run("clients", "create", "city-app", "--role", "operator").exit_code == 1
    assert run("clients", "create", "x", "--role", "operator", "--unit", "NOPE").exit_code == 1
    assert run("clients", "revoke", "city-app").exit_code == 0
    assert json.loads(run("clients", "list", "--json").output)[0]["revoked"] is True
    assert run("clients", "revoke", "nobody").exit_code == 1
    with db.transaction() as session, pytest.raises(Forbidden):
        clients.actor_for_key(session, SystemClock(), secret)
