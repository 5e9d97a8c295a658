"""The loop over HTTP: login, register, act, scope, concurrency, errors."""

from tests.cases.conftest import login

WHISTLE_MATTER = "matter:06001"  # 私搭乱建: street-handled, whistle-eligible


def new_case(api, city, headers, category="matter:06010") -> dict:
    lon, lat = city.point()
    body = {
        "title": "路灯不亮",
        "description": "幸福路口两盏路灯连续三晚不亮",
        "request_type": "complaint",
        "category": category,
        "lon": lon,
        "lat": lat,
        "reporter_name": "李四",
        "reporter_phone": "13900139000",
    }
    response = api.post("/api/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_login_is_required_and_wrong_passwords_are_refused(api, city):
    assert api.get("/api/v1/cases").status_code == 401
    wrong = api.post("/api/v1/auth/login", json={"username": "operator", "password": "nope"})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.json()["detail"]
    unknown = api.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope"})
    assert unknown.status_code == 401 and unknown.json() == wrong.json()
    assert api.get("/api/v1/cases", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_the_loop_over_http_with_allowed_actions_and_masked_reporter(api, city):
    op, d, street = login(api, "operator"), login(api, "dispatcher"), login(api, "street_staff")
    case = new_case(api, city, op)
    assert case["status"] == "registered" and case["reporter_phone"] == "139****9000"
    assert case["reporter_name"] == "李*" and "file" not in case["allowed_actions"]
    number = case["number"]
    assert "file" in api.get(f"/api/v1/cases/{number}", headers=d).json()["allowed_actions"]
    for action, headers, body in [
        ("file", d, {}),
        ("dispatch", d, {}),
        ("sign", street, {}),
        ("handle", street, {"reply": "已维修"}),
        ("verify", d, {"passed": True}),
        ("revisit", op, {"contacted": True, "solved": True, "satisfaction": "basically_satisfied"}),
    ]:
        response = api.post(f"/api/v1/cases/{number}/{action}", json=body, headers=headers)
        assert response.status_code == 200, (action, response.text)
    final = response.json()
    assert final["status"] == "archived" and len(final["events"]) == 7
    assert final["events"][-1]["data"]["satisfaction"] == "basically_satisfied"


def test_cases_outside_the_callers_scope_are_not_found(api, city):
    case = new_case(api, city, login(api, "operator"))
    dept = login(api, "department_staff")  # nothing dispatched to this department
    assert api.get(f"/api/v1/cases/{case['number']}", headers=dept).status_code == 404
    assert api.get("/api/v1/cases", headers=dept).json()["total"] == 0
    resident = login(api, "resident")
    assert api.get(f"/api/v1/cases/{case['number']}", headers=resident).status_code == 404
    own = new_case(api, city, resident)
    assert [c["number"] for c in api.get("/api/v1/cases", headers=resident).json()["items"]] == [
        own["number"]
    ]
    grid = login(api, "grid_worker")
    assert api.get(f"/api/v1/cases/{case['number']}", headers=grid).status_code == 200


def test_domain_errors_map_to_403_409_422_and_stale_versions_to_409(api, city):
    op, d, resident = login(api, "operator"), login(api, "dispatcher"), login(api, "resident")
    case = new_case(api, city, op)
    url = f"/api/v1/cases/{case['number']}"
    assert api.post(f"{url}/sign", json={}, headers=d).status_code == 409  # not dispatched yet
    assert api.post(f"{url}/file", json={}, headers=op).status_code == 403  # operators don't file
    assert api.post(f"{url}/dispatch", json={}, headers=d).status_code == 409  # not filed yet
    assert api.post(f"{url}/cancel", json={}, headers=d).status_code == 422  # needs a reason
    assert api.post(f"{url}/verify", json={}, headers=d).status_code in (409, 422)
    assert api.post(f"{url}/fly", json={}, headers=d).status_code == 404
    stale = api.post(f"{url}/file", json={"expected_version": case["version"] + 5}, headers=d)
    assert stale.status_code == 409
    ok = api.post(f"{url}/file", json={"expected_version": case["version"]}, headers=d)
    assert ok.status_code == 200 and ok.json()["version"] == case["version"] + 1
    bad = api.post(
        "/api/v1/cases",
        json={"title": "", "description": "x", "request_type": "nope"},
        headers=resident,
    )
    assert bad.status_code == 422


def test_lists_cost_a_fixed_number_of_queries(api, city, count_queries):
    op = login(api, "operator")
    for _ in range(3):
        new_case(api, city, op)
    with count_queries() as few:
        api.get("/api/v1/cases", params={"limit": 1}, headers=op)
    with count_queries() as many:
        api.get("/api/v1/cases", params={"limit": 50}, headers=op)
    assert many.count == few.count


def test_whistle_and_report_in_over_http_with_the_boards(api, city, session):
    from chengzhi.models import OrgUnit

    op, d, street = login(api, "operator"), login(api, "dispatcher"), login(api, "street_staff")
    dept = login(api, "department_staff")
    dept_code = session.get(OrgUnit, city.actors["department_staff"].unit_id).code
    number = new_case(api, city, op, WHISTLE_MATTER)["number"]
    for action, headers in [("file", d), ("dispatch", d), ("sign", street)]:
        assert api.post(f"/api/v1/cases/{number}/{action}", json={}, headers=headers).is_success
    assert api.get(f"/api/v1/cases/{number}", headers=dept).status_code == 404
    body = {"units": [dept_code], "reason": "占道经营需执法", "minutes": 45}
    whistled = api.post(f"/api/v1/cases/{number}/whistle", json=body, headers=street)
    assert whistled.status_code == 200, whistled.text
    [task] = whistled.json()["tasks"]
    assert (
        task["kind"] == "report_in" and task["state"] == "open" and task["unit_code"] == dept_code
    )

    inbox = api.get("/api/v1/tasks?state=open", headers=dept).json()
    assert [t["case_number"] for t in inbox["items"]] == [number]
    assert api.get(f"/api/v1/cases/{number}", headers=dept).status_code == 200
    assert "report_in" in api.get(f"/api/v1/cases/{number}", headers=dept).json()["allowed_actions"]
    reported = api.post(f"/api/v1/cases/{number}/report_in", json={"note": "已到场"}, headers=dept)
    assert reported.status_code == 200 and reported.json()["tasks"][0]["state"] == "done"
    again = api.post(f"/api/v1/cases/{number}/report_in", json={}, headers=dept)
    assert again.status_code == 404

    board = api.get("/api/v1/tasks?issued=true&kind=report_in", headers=street).json()
    assert board["total"] == 1 and board["items"][0]["state"] == "done"
    assert api.get("/api/v1/tasks?issued=true", headers=dept).json()["total"] == 0
    rate = {"unit": dept_code, "satisfaction": "satisfied"}
    rated = api.post(f"/api/v1/cases/{number}/rate_report_in", json=rate, headers=street)
    assert rated.status_code == 200 and rated.json()["tasks"][0]["rating"] == "satisfied"
    missing = api.post(f"/api/v1/cases/{number}/whistle", json={"reason": "x"}, headers=street)
    assert missing.status_code == 422 and "units" in missing.json()["detail"]
