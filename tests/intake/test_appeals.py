"""POST /api/v1/appeals and the triage queue: idempotent intake, automatic dispatch when sure,
the human queue when not (特急 first), place from an address, direct answers, bad input."""

import base64

import pytest
from sqlalchemy import func, select

from chengzhi import config
from chengzhi.kb import files as kb_files
from chengzhi.models import Attachment, Case, CaseEvent
from tests.cases.conftest import login


def appeal(city, **extra) -> dict:
    lon, lat = city.point()
    body = {
        "text": "幸福路口两盏路灯连续三晚不亮，晚上走路很危险。",
        "request_type": "complaint",
        "category": "matter:06010",
        "lon": lon,
        "lat": lat,
        "reporter_name": "李四",
        "reporter_phone": "13900139000",
    }
    return {**body, **extra}


def count(session, model=Case) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_confident_appeal_is_dispatched_at_once_and_a_retry_returns_it(api, city, session):
    op = login(api, "operator")
    key = {**op, "Idempotency-Key": "call-0001"}
    first = api.post("/api/v1/appeals", json=appeal(city), headers=key)
    assert first.status_code == 201, first.text
    out = first.json()
    assert out["created"] and out["dispatched"] and out["status"] == "dispatched"
    assert out["hold"] is None and out["unit_name"]
    case = session.scalar(select(Case).where(Case.number == out["number"]))
    assert case.channel == "hotline" and case.region_code  # the operator's channel, located
    actions = session.scalars(
        select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)
    ).all()
    assert actions == ["register", "file", "dispatch"]
    cases, events = count(session), count(session, CaseEvent)

    again = api.post("/api/v1/appeals", json=appeal(city), headers=key)
    assert again.status_code == 200 and again.json()["number"] == out["number"]
    assert not again.json()["created"]
    assert (count(session), count(session, CaseEvent)) == (cases, events)

    other = api.post("/api/v1/appeals", json=appeal(city, text="另一件事：井盖丢失"), headers=key)
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert count(session) == cases
    # The key belongs to its sender: another person's same key is another request.
    mine = api.post("/api/v1/appeals", json=appeal(city), headers={**login(api, "resident"),
                    "Idempotency-Key": "call-0001"})  # fmt: skip
    assert mine.status_code == 201 and mine.json()["number"] != out["number"]


def test_unsure_appeals_wait_in_the_queue_with_critical_ones_first(api, city, session):
    op, d = login(api, "operator"), login(api, "dispatcher")
    lon, lat = city.point()
    plain = {"text": "小区门口的共享单车乱停乱放，影响通行。", "lon": lon, "lat": lat}
    first = api.post("/api/v1/appeals", json=plain, headers=op).json()
    # No active classifier model: the category is not known, a person decides.
    assert first["hold"] == "low_confidence" and first["status"] == "registered"
    danger = {"text": "楼道里有很浓的煤气味，好像燃气泄漏了，请马上来人！", "lon": lon, "lat": lat}
    second = api.post("/api/v1/appeals", json=danger, headers=op).json()
    case = session.scalar(select(Case).where(Case.number == second["number"]))
    assert case.urgency == "critical" and second["triage"]["urgency"]["level"] == "critical"

    queue = api.get("/api/v1/appeals/queue", headers=d)
    assert queue.status_code == 200, queue.text
    numbers = [item["number"] for item in queue.json()["items"]]
    assert numbers.index(second["number"]) < numbers.index(first["number"])
    item = next(i for i in queue.json()["items"] if i["number"] == first["number"])
    assert item["hold"] == "low_confidence" and item["reporter_phone"] is None

    # Filing takes it off the queue.
    filed = api.post(
        f"/api/v1/cases/{first['number']}/file", json={"category": "matter:06010"}, headers=d
    )
    assert filed.status_code == 200, filed.text
    numbers = [i["number"] for i in api.get("/api/v1/appeals/queue", headers=d).json()["items"]]
    assert first["number"] not in numbers
    assert api.get("/api/v1/appeals/queue", headers=login(api, "resident")).status_code == 403


def test_an_address_without_coordinates_is_placed_by_the_gazetteer(api, city, session):
    community = next(r for r in city.plan.regions if r.level == "community")
    body = appeal(city, lon=None, lat=None, address=f"{community.name}5号楼门口")
    out = api.post("/api/v1/appeals", json=body, headers=login(api, "operator")).json()
    case = session.scalar(select(Case).where(Case.number == out["number"]))
    assert case.region_code and case.region_code.startswith(community.code)
    assert out["triage"]["place"]["source"] == "gazetteer"

    nowhere = appeal(city, lon=None, lat=None, address="某个不存在的地方")
    out = api.post("/api/v1/appeals", json=nowhere, headers=login(api, "operator")).json()
    assert out["hold"] == "unlocated" and out["status"] == "registered"


def test_an_inquiry_gets_knowledge_base_answers_for_the_operator(api, city, session, clock):
    kb_files.install_demo(session, clock)
    body = {"text": "请问社保卡丢了怎么补办，需要带什么材料？", "request_type": "inquiry"}
    out = api.post("/api/v1/appeals", json=body, headers=login(api, "operator")).json()
    assert out["hold"] == "inquiry" and out["triage"]["answers"]
    assert "社会保障卡" in out["triage"]["answers"][0]["title"]


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"text": "   "}, 422, "empty"),
        ({"text": "路灯\x07不亮"}, 422, "control"),
        ({"text": "长" * 10_001}, 422, ""),
        ({"lon": 0.0, "lat": 0.0}, 422, "outside the city"),
        ({"lon": "东经"}, 422, ""),
        ({"lat": None}, 422, "both lon and lat"),
        ({"category": "matter:99999"}, 422, "catalogue"),
        ({"category": "nonsense"}, 422, ""),
    ],
)
def test_bad_appeals_are_refused_with_the_reason_and_store_nothing(
    api, city, session, change, status, says
):
    before = count(session)
    response = api.post(
        "/api/v1/appeals", json=appeal(city, **change), headers=login(api, "operator")
    )
    assert response.status_code == status, response.text
    assert says in str(response.json()["detail"])
    assert count(session) == before


def test_anonymous_callers_cannot_submit(api, city):
    assert api.post("/api/v1/appeals", json=appeal(city)).status_code == 401


PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
PNG += bytes.fromhex("0000000d4944415478da636460f8ff1f0005fe02fea7d6a4e70000000049454e44ae426082")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHENGZHI_DATA_DIR", str(tmp_path))
    config.get_settings.cache_clear()
    yield tmp_path
    config.get_settings.cache_clear()


def test_photos_are_checked_by_content_and_stored_outside_the_web_root(
    api, city, session, data_dir
):
    op = login(api, "operator")
    photo = base64.b64encode(PNG).decode()
    out = api.post("/api/v1/appeals", json=appeal(city, photos=[photo]), headers=op)
    assert out.status_code == 201, out.text
    assert out.json()["photos"] == 1
    row = session.scalar(select(Attachment))
    assert row.content_type == "image/png" and row.size == len(PNG)
    stored = data_dir / "files" / row.path
    assert stored.read_bytes() == PNG and "李四" not in row.path

    before = count(session), count(session, Attachment)
    fake = base64.b64encode(b"<html>not an image</html>" * 3).decode()
    refused = api.post("/api/v1/appeals", json=appeal(city, photos=[photo, fake]), headers=op)
    assert refused.status_code == 422 and "file 2 is not a JPEG" in refused.json()["detail"]
    big = base64.b64encode(PNG + bytes(5 * 1024 * 1024)).decode()
    refused = api.post("/api/v1/appeals", json=appeal(city, photos=[big]), headers=op)
    assert refused.status_code == 422
    assert (count(session), count(session, Attachment)) == before
