"""Editing the catalogue over HTTP: whole documents or one category, admin only, each change a
new version that leaves the old one (and the cases filed under it) alone."""

from dataclasses import replace

import pytest
import yaml
from openpyxl import load_workbook
from sqlalchemy import func, select

from chengzhi.catalog import files, service
from chengzhi.deps import get_clock
from chengzhi.models import Case, CatalogVersion, Person, Role
from chengzhi.orgs import service as orgs

PASSWORD = "catalogue-test-2026"

GARBAGE = "/api/v1/catalog/categories/matter/06010"  # 暴露垃圾: handle 4 working hours in v1


@pytest.fixture
def api(client, session, clock):
    """The default catalogue as version 1 and one login per role used here (no city needed)."""
    for role in (Role.ADMIN, Role.SUPERVISOR, Role.DISPATCHER, Role.OPERATOR, Role.RESIDENT):
        orgs.create_person(session, clock, "测试", role, username=role.value, password=PASSWORD)
    service.install_defaults(session, clock)
    client.app.dependency_overrides[get_clock] = lambda: clock
    return client


def login(api, username: str) -> dict:
    body = api.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()
    api.cookies = {}  # the bearer token only, so a request without it is anonymous
    return {"Authorization": f"Bearer {body['token']}"}


def exported(api, headers, number: int = 1) -> dict:
    response = api.get(f"/api/v1/catalog/versions/{number}/export", headers=headers)
    assert response.status_code == 200, response.text
    return yaml.load(response.text, Loader=files.Loader)  # noqa: S506 (a safe loader)


def version_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CatalogVersion))


def stored(session, number: int):
    return service.categories_of(session, service.version_by_number(session, number))


def rules(categories):
    """Everything that decides how a case is handled; an export joins a node's notes into one."""
    return [replace(c, notes=("\n".join(c.notes),), source="") for c in categories]


def test_an_admin_makes_a_version_from_exported_documents_with_one_change(api, session):
    admin = login(api, "admin")
    doc = exported(api, admin)
    entry = next(e for e in doc["matters"] if e["code"] == "06010")
    entry["limits"]["handle"] = {"amount": 3, "unit": "working_hours"}
    response = api.post(
        "/api/v1/catalog/versions",
        json={"note": "立结案标准 2026", "documents": [doc]},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    admin_id = session.scalar(select(Person.id).where(Person.username == "admin"))
    assert response.json() | {"created_at": None} == {
        "number": 2,
        "source": "api upload",
        "note": "立结案标准 2026",
        "created_at": None,
        "created_by_id": admin_id,
        "categories": service.version_by_number(session, 1).categories,
    }
    assert api.get("/api/v1/catalog/versions").json()[0]["number"] == 2
    assert api.get(GARBAGE).json()["limits"]["handle"] == {"amount": 3, "unit": "working_hours"}


def test_patching_a_leaf_makes_a_new_version_and_leaves_the_old_one_and_its_cases(api, session):
    operator, admin = login(api, "operator"), login(api, "admin")
    body = {"title": "垃圾", "description": "门口垃圾", "request_type": "complaint"}
    filed = api.post("/api/v1/cases", json=body | {"category": "matter:06010"}, headers=operator)
    assert filed.status_code == 201, filed.text
    patch = {"limits": {"handle": {"amount": 2, "unit": "working_hours"}}, "note": "提速"}
    response = api.patch(GARBAGE, json=patch, headers=admin)
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["version"]["number"] == 2 and edited["version"]["note"] == "提速"
    assert edited["version"]["source"] == "api edit matter:06010"
    limits = edited["category"]["limits"]
    assert limits["handle"] == {"amount": 2, "unit": "working_hours"}
    assert limits["sign"] == api.get(GARBAGE, params={"version": 1}).json()["limits"]["sign"]
    assert api.get(GARBAGE, params={"version": 1}).json()["limits"]["handle"]["amount"] == 4
    case = session.scalar(select(Case).where(Case.number == filed.json()["number"]))
    assert case.category.version.number == 1 and case.category.limits["handle"]["amount"] == 4
    old, new = stored(session, 1), stored(session, 2)
    assert [c for c in new if c.key != "matter:06010"] == [
        c for c in old if c.key != "matter:06010"
    ]


def test_a_groups_change_stays_on_the_group(api, session):
    patch = {"urgent_limits": {"handle": {"amount": 1, "unit": "working_days"}}}
    response = api.patch(
        "/api/v1/catalog/categories/matter/06", json=patch, headers=login(api, "admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["category"]["urgent_limits"]["handle"]["unit"] == "working_days"
    assert api.get(GARBAGE).json() == api.get(GARBAGE, params={"version": 1}).json()


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"limits": {"handle": {"amount": -1, "unit": "working_hours"}}}, "amount must be"),
        ({"sector": "no_such_sector"}, "unknown sector"),
        ({"limits": {"handle": {"amount": 2, "unit": "fortnights"}}}, "bad unit"),
        ({"limits": {"fetch": {"amount": 2, "unit": "hours"}}}, "unknown stage"),
        ({"urgent_limits": {"handle": {"amount": 9, "unit": "working_days"}}}, "longer than"),
        ({"sector": None, "duty_list": "cooperating"}, "territorial handling"),
        ({"duty_list": "cooperating"}, "handled by a district or city department"),
        ({"handling_level": "district"}, "a basic duty is handled by grid"),
        ({"keywords": []}, "a leaf needs keywords"),
        ({"legal_basis": "城市管理条例"}, "legal_basis must be"),
        ({"name": "长" * 81}, "longer than 80 characters"),
    ],
)
def test_invalid_patches_are_refused_with_the_problem_and_store_nothing(
    api, session, patch, reason
):
    before = version_count(session)
    response = api.patch(GARBAGE, json=patch, headers=login(api, "admin"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert "修改未通过检查" in body["detail"] or "事项目录有误" in body["detail"]
    assert reason in body["detail"]
    assert body["problems"][0]["where"] == "06010" and reason in body["problems"][0]["reason"]
    assert version_count(session) == before


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"on_site_verify": True},
        {"whistle": "yes"},
        {"limits": {"handle": {"amount": "2", "unit": "hours"}}},
        {"name": "暴露垃圾", "whistle": False},  # the values it already has
    ],
)
def test_empty_unknown_mistyped_or_idle_patches_are_refused(api, session, patch):
    response = api.patch(GARBAGE, json=patch, headers=login(api, "admin"))
    assert response.status_code == 422, response.text
    if patch.get("name"):
        assert "nothing would change" in response.json()["detail"]
    assert version_count(session) == 1


def test_invalid_documents_are_refused_whole_with_their_problems(api, session):
    admin = login(api, "admin")
    doc = exported(api, admin)
    doc["matters"][3]["sector"] = "no_such_sector"
    doc["topics"][5]["limits"]["sign"]["unit"] = "fortnights"
    response = api.post("/api/v1/catalog/versions", json={"documents": [doc]}, headers=admin)
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert {p["source"] for p in problems} == {"documents[0]"}
    assert any("no_such_sector" in p["reason"] for p in problems)
    assert any("fortnights" in p["reason"] for p in problems)
    for empty in ([], [{}], [{"title": "nothing"}]):
        body = {"documents": empty}
        assert api.post("/api/v1/catalog/versions", json=body, headers=admin).status_code == 422
    assert version_count(session) == 1


def test_only_an_administrator_may_make_versions(api, session):
    patch = {"whistle": True}
    documents = {"documents": [exported(api, login(api, "admin"))]}
    for username in ("dispatcher", "supervisor", "resident"):
        staff = login(api, username)
        refused = api.patch(GARBAGE, json=patch, headers=staff)
        detail = refused.json()["detail"]
        assert (
            refused.status_code == 403 and "只有系统管理员" in detail and "administrator" in detail
        )
        posted = api.post("/api/v1/catalog/versions", json=documents, headers=staff)
        assert posted.status_code == 403
    assert api.patch(GARBAGE, json=patch).status_code == 401
    assert api.post("/api/v1/catalog/versions", json=documents).status_code == 401
    assert version_count(session) == 1


def test_unknown_categories_and_versions_are_404(api, session):
    admin = login(api, "admin")
    patch, categories = {"whistle": True}, "/api/v1/catalog/categories"
    for kind_code in ("matter/99999", "topic/06010"):
        response = api.patch(f"{categories}/{kind_code}", json=patch, headers=admin)
        assert response.status_code == 404 and "no such category" in response.json()["detail"]
    assert api.get("/api/v1/catalog/versions/9/export", headers=admin).status_code == 404
    assert version_count(session) == 1


def test_a_change_made_from_an_old_version_is_a_conflict(api, session):
    admin = login(api, "admin")
    first = {"reopen": False, "based_on": 1}
    assert api.patch(GARBAGE, json=first, headers=admin).status_code == 200
    stale = api.patch(GARBAGE, json={"whistle": True, "based_on": 1}, headers=admin)
    assert stale.status_code == 409 and "version 1 to 2" in stale.json()["detail"]
    documents = {"documents": [exported(api, admin)], "based_on": 1}
    assert api.post("/api/v1/catalog/versions", json=documents, headers=admin).status_code == 409
    assert version_count(session) == 2


def test_an_exported_version_reposted_gives_the_same_categories(api, session):
    admin = login(api, "admin")
    for number in (1, 2):
        documents = {"documents": [exported(api, admin, number)]}
        response = api.post("/api/v1/catalog/versions", json=documents, headers=admin)
        assert response.status_code == 201 and response.json()["number"] == number + 1
    assert rules(stored(session, 2)) == rules(stored(session, 1))
    assert stored(session, 3) == stored(session, 2)  # notes and sources too, once exported


def test_staff_download_a_version_as_yaml_or_excel_and_residents_do_not(api, tmp_path):
    dispatcher = login(api, "dispatcher")
    response = api.get(
        "/api/v1/catalog/versions/1/export", params={"format": "xlsx"}, headers=dispatcher
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="chengzhi-catalog-v1.xlsx"' in response.headers["content-disposition"]
    (tmp_path / "c.xlsx").write_bytes(response.content)
    assert load_workbook(tmp_path / "c.xlsx")["事项清单"]["B1"].value == "code"
    assert exported(api, dispatcher)["title"].startswith("chengzhi 事项清单 v1")
    resident = login(api, "resident")
    assert api.get("/api/v1/catalog/versions/1/export", headers=resident).status_code == 403
    assert api.get("/api/v1/catalog/versions/1/export").status_code == 401
