"""The gazetteer (地名库): address text → region with a confidence, from the region names, their
short forms and the admin's entries; when to ask the operator; the cached index; the API (staff
read, admins write) and the CLI.

`tree` is a piece of Chongqing with two 新华社区 in different streets of 渝中区."""

import json

import pytest
import shapely
from sqlalchemy import insert, select
from typer.testing import CliRunner

from chengzhi.cli.main import app
from chengzhi.errors import Conflict, InvalidInput, NotFound
from chengzhi.models import GazetteerEntry, Region
from chengzhi.regions import gazetteer, place_names
from chengzhi.regions import gazetteer_entries as entries
from chengzhi.regions import service as regions
from tests.cases import conftest as cases
from tests.conftest import shared_file

city = cases.city  # the small demo city (a fixture)
TREE = """code,name
50,重庆市
500103,渝中区
500103001,解放碑街道
500103001001,青年路社区居委会
500103001002,新华社区居委会
500103001001001,青年路社区第1网格
500103001001002,青年路社区第2网格
500103002,朝天门街道
500103002001,新华社区居委会
500103002002,朝东路社区居委会
500105,江北区
500105001,观音桥街道
500105001001,建新东路社区居委会
500241,秀山土家族苗族自治县
500241101,清溪场镇
500241101201,两河村村民委员会
"""
YOUTH_ROAD = "500103001001"  # 青年路社区居委会
XINHUA_JFB, XINHUA_CTM = "500103001002", "500103002001"  # the two 新华社区
JIEFANGBEI, GUANYINQIAO, JIANXIN = "500103001", "500105001", "500105001001"


@pytest.fixture
def tree(session, tmp_path):
    path = tmp_path / "chongqing.csv"
    path.write_text(TREE, "utf-8")
    regions.import_divisions(session, path)


def best(session, text: str) -> gazetteer.PlaceMatch:
    found = gazetteer.resolve(session, text)
    assert found, text
    return found[0]


# ---------------------------------------------------------------------------------------------
# Names and short forms


@pytest.mark.parametrize(
    ("name", "level", "forms"),
    [
        ("解放碑街道", "street", ["解放碑"]),
        ("清溪场镇", "street", ["清溪场"]),
        ("长乐回族乡", "street", ["长乐乡", "长乐"]),
        ("渝中区", "district", ["渝中"]),
        ("滨海新区", "district", ["滨海"]),
        ("秀山土家族苗族自治县", "district", ["秀山县", "秀山"]),
        ("重庆市", "city", ["重庆"]),
        ("花园路社区居委会", "community", ["花园路社区", "花园路"]),
        ("民畅园居委会", "community", ["民畅园社区", "民畅园"]),
        ("增兴窑村委会", "community", ["增兴窑村", "增兴窑"]),
        ("河头村村民委员会", "community", ["河头村", "河头"]),
        ("新村", "community", []),  # 新 alone is never matched
        ("第3街道", "street", []),  # nor a bare number
    ],
)
def test_short_forms_drop_the_suffixes_people_leave_out(name, level, forms):
    assert place_names.short_forms(name, level) == forms


# ---------------------------------------------------------------------------------------------
# Resolving


def test_a_full_chain_resolves_to_the_community_with_high_confidence(session, tree):
    found = gazetteer.resolve(session, "渝中区解放碑街道青年路社区3号楼门口垃圾堆积")
    assert len(found) == 1  # the district and street agree with it and give way
    m = found[0]
    assert (m.region_code, m.level) == (YOUTH_ROAD, "community")
    assert m.name == "渝中区 解放碑街道 青年路社区居委会"
    assert m.matched == "渝中区 解放碑街道 青年路社区"
    assert m.confidence > 0.95 and not gazetteer.ambiguous(found)
    assert (m.lon, m.lat) == (None, None)  # imported codes have no boundary yet


def test_the_official_full_name_counts_more_than_a_short_form(session, tree):
    official = best(session, "青年路社区居委会")
    short = best(session, "青年路社区")
    assert official.region_code == short.region_code == YOUTH_ROAD
    assert official.confidence > short.confidence >= gazetteer.CONFIDENT


def test_a_short_form_alone_is_found_but_the_operator_is_asked(session, tree):
    found = gazetteer.resolve(session, "解放碑附近有人占道经营")
    assert [m.region_code for m in found] == [JIEFANGBEI]
    assert found[0].matched == "解放碑" and found[0].confidence < gazetteer.CONFIDENT
    assert gazetteer.ambiguous(found)
    county = best(session, "秀山两河村")  # short forms of a county and a village agree
    assert county.region_code == "500241101201" and county.confidence >= gazetteer.CONFIDENT


def test_short_forms_that_agree_make_a_confident_answer(session, tree):
    m = best(session, "解放碑青年路那边路灯坏了")
    assert m.region_code == YOUTH_ROAD and m.matched == "解放碑 青年路"
    assert m.confidence >= gazetteer.CONFIDENT
    assert best(session, "渝中区解放碑").confidence > best(session, "解放碑").confidence


def test_a_name_two_streets_share_is_ambiguous_until_the_street_is_named(session, tree):
    found = gazetteer.resolve(session, "新华社区门口垃圾没人清运")
    assert {m.region_code for m in found} == {XINHUA_JFB, XINHUA_CTM}
    assert found[0].confidence == found[1].confidence < gazetteer.CONFIDENT
    assert gazetteer.ambiguous(found)

    named = gazetteer.resolve(session, "朝天门街道新华社区门口垃圾没人清运")
    assert named[0].region_code == XINHUA_CTM and not gazetteer.ambiguous(named)
    assert named[0].name == "渝中区 朝天门街道 新华社区居委会"
    assert named[1].region_code == XINHUA_JFB and named[1].confidence < 0.3


def test_a_name_pointing_elsewhere_lowers_the_confidence(session, tree):
    alone = best(session, "渝中区解放碑")
    contradicted = gazetteer.resolve(session, "江北区解放碑")  # 解放碑 is in 渝中区
    assert {m.region_code for m in contradicted} == {"500105", JIEFANGBEI}
    assert all(m.confidence < alone.confidence for m in contradicted)
    assert gazetteer.ambiguous(contradicted)


def test_grids_answer_to_their_name_short_forms_and_chinese_numerals(session, tree):
    grid = best(session, "青年路社区第2网格有井盖缺失")
    assert grid.region_code == "500103001001002" and grid.level == "grid"
    assert grid.name == "渝中区 解放碑街道 青年路社区居委会 青年路社区第2网格"
    spoken = best(session, "青年路第二网格有井盖缺失")
    assert spoken.region_code == "500103001001002" and spoken.matched == "青年路第二网格"
    wide = best(session, "青年路社区第１网格")  # full-width digit
    assert wide.region_code == "500103001001001"


def test_nothing_found_is_an_empty_list_and_asks_the_operator(session, tree):
    assert gazetteer.resolve(session, "楼上装修噪音很大，晚上十点还在施工") == []
    assert gazetteer.resolve(session, "新") == []
    assert gazetteer.ambiguous([])


@pytest.mark.parametrize(
    ("text", "limit", "message"),
    [
        ("", 3, "the address text is empty"),
        ("   ", 3, "the address text is empty"),
        ("解" * (gazetteer.MAX_TEXT + 1), 3, "longer than 2000"),
        ("解放碑", 0, "limit must be 1 to 20"),
        ("解放碑", 21, "limit must be 1 to 20"),
    ],
)
def test_bad_text_or_limits_are_refused(session, tree, text, limit, message):
    with pytest.raises(InvalidInput, match=message):
        gazetteer.resolve(session, text, limit)


def test_a_match_without_an_entry_point_takes_the_regions_label_point(session, clock, city):
    community = next(r for r in city.plan.regions if r.level == "community")
    street = next(r for r in city.plan.regions if r.code == community.parent_code)
    m = best(session, f"{street.name}{community.name}门口")
    assert m.region_code == community.code and m.confidence >= gazetteer.CONFIDENT
    label = session.scalar(select(Region.label_lon).where(Region.code == community.code))
    assert m.lon == label and community.polygon.contains(shapely.Point(m.lon, m.lat))

    entries.add_entry(session, clock, "老菜市场", city.grid.code, "alias")  # no point
    m = best(session, "老菜市场门口占道经营")
    assert m.region_code == city.grid.code and m.level == "grid"
    assert city.grid.polygon.contains(shapely.Point(m.lon, m.lat))


# ---------------------------------------------------------------------------------------------
# Entries


def test_an_admin_entry_resolves_a_landmark_with_its_point(session, clock, tree):
    before = gazetteer.resolve(session, "观音桥步行街附近噪音扰民")
    assert before[0].region_code == GUANYINQIAO and gazetteer.ambiguous(before)

    entry = entries.add_entry(
        session, clock, " 观音桥步行街 ", JIANXIN, "landmark", lon=106.5318, lat=29.5755
    )
    assert (entry.name, entry.kind, entry.created_at) == ("观音桥步行街", "landmark", clock.now())
    found = gazetteer.resolve(session, "观音桥步行街附近噪音扰民")
    assert [m.region_code for m in found] == [JIANXIN]  # the longer name wins
    assert found[0].matched == "观音桥步行街" and (found[0].lon, found[0].lat) == (
        106.5318,
        29.5755,
    )
    assert not gazetteer.ambiguous(found)

    entries.remove_entry(session, entry.id)
    assert gazetteer.resolve(session, "观音桥步行街附近噪音扰民")[0].region_code == GUANYINQIAO


def test_entries_are_listed_by_name_and_filtered(session, clock, tree):
    entries.add_entry(session, clock, "青年路", YOUTH_ROAD, "road")
    entries.add_entry(session, clock, "解放碑步行街", JIEFANGBEI, "landmark")
    entries.add_entry(session, clock, "北城天街", JIANXIN, "landmark")
    total, rows = entries.list_entries(session, 10, 0)
    assert total == 3 and [r.name for r in rows] == sorted(r.name for r in rows)
    assert [r.name for r in entries.list_entries(session, 10, 0, "步行街")[1]] == ["解放碑步行街"]
    assert [r.name for r in entries.list_entries(session, 10, 0, "500105")[1]] == ["北城天街"]
    assert entries.list_entries(session, 1, 2, None)[0] == 3
    assert len(entries.list_entries(session, 1, 2, None)[1]) == 1
    assert entries.chain_names(session, [JIANXIN, "999"]) == {
        JIANXIN: "江北区 观音桥街道 建新东路社区居委会"
    }


@pytest.mark.parametrize(
    ("name", "code", "kind", "point", "message"),
    [
        ("  ", JIANXIN, "road", (None, None), "a name is required"),
        ("桥", JIANXIN, "road", (None, None), "shorter ones are never matched"),
        ("路" * 101, JIANXIN, "road", (None, None), "longer than 100"),
        ("北城天街", "500105999999", "road", (None, None), "no such region"),
        ("北城天街", JIANXIN, "street", (None, None), "kind must be road, landmark or alias"),
        ("北城天街", JIANXIN, "landmark", (106.5, None), "give both lon and lat"),
        ("北城天街", JIANXIN, "landmark", (206.5, 29.5), "lon must be within"),
        ("北城天街", JIANXIN, "landmark", (float("nan"), 29.5), "lon must be within"),
    ],
)
def test_bad_entries_are_refused_with_a_clear_message(
    session, clock, tree, name, code, kind, point, message
):
    with pytest.raises(InvalidInput, match=message) as refused:
        entries.add_entry(session, clock, name, code, kind, *point)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message)  # Chinese too
    assert session.scalar(select(GazetteerEntry.id)) is None


def test_a_duplicate_entry_conflicts_and_an_unknown_one_is_not_found(session, clock, tree):
    entries.add_entry(session, clock, "北城天街", JIANXIN, "landmark")
    with pytest.raises(Conflict, match="already in the gazetteer"):
        entries.add_entry(session, clock, "北城天街", JIANXIN, "alias")
    entries.add_entry(session, clock, "北城天街", GUANYINQIAO, "landmark")  # another region
    with pytest.raises(NotFound, match="no such gazetteer entry"):
        entries.remove_entry(session, 999_999)


# ---------------------------------------------------------------------------------------------
# The cached index


def test_the_index_is_kept_until_the_entries_or_the_structure_change(
    session, clock, tree, tmp_path
):
    first = gazetteer.index(session)
    assert gazetteer.index(session) is first
    session.commit()  # a new transaction reads the fingerprint again: still the same index
    assert gazetteer.index(session) is first

    entry = entries.add_entry(session, clock, "北城天街", JIANXIN, "landmark")
    with_entry = gazetteer.index(session)
    assert with_entry is not first and with_entry.structure is first.structure  # overlay only
    assert best(session, "北城天街停车难").region_code == JIANXIN
    entries.remove_entry(session, entry.id)
    assert gazetteer.resolve(session, "北城天街停车难") == []

    more = tmp_path / "more.csv"
    more.write_text("code,name\n500105001002,北城天街社区居委会\n", "utf-8")
    regions.import_divisions(session, more, root="50")
    assert gazetteer.index(session).structure is not first.structure
    assert best(session, "北城天街停车难").region_code == "500105001002"


def test_an_entry_written_by_another_process_is_seen_in_the_next_transaction(session, clock, tree):
    assert gazetteer.resolve(session, "洪崖洞门口堵车") == []
    row = {"name": "洪崖洞", "kind": "landmark", "region_code": XINHUA_CTM}
    session.execute(insert(GazetteerEntry).values(**row, created_at=clock.now()))
    session.commit()  # not through add_entry: only the fingerprint can tell
    assert best(session, "洪崖洞门口堵车").region_code == XINHUA_CTM


def test_moving_an_entry_is_seen_even_when_its_id_comes_back(session, clock, tree):
    """Remove, then add the same name elsewhere at the same instant: on SQLite the new row takes
    the freed id, so only the newest row's content tells the two indexes apart."""
    moved = entries.add_entry(session, clock, "北城天街", JIANXIN, "landmark")
    assert best(session, "北城天街停车难").region_code == JIANXIN
    entries.remove_entry(session, moved.id)
    again = entries.add_entry(session, clock, "北城天街", GUANYINQIAO, "landmark")
    if session.get_bind().dialect.name == "sqlite":
        assert again.id == moved.id
    assert best(session, "北城天街停车难").region_code == GUANYINQIAO


def test_tianjins_real_names_resolve_in_full_and_short_form(session):
    path = shared_file("admin_divisions_tianjin_2021.csv")
    regions.import_divisions(session, path)
    full = best(session, "和平区劝业场街道花园路社区居委会门口")
    assert full.region_code == "120101001001" and full.confidence > 0.95
    short = best(session, "劝业场花园路")
    assert short.region_code == "120101001001" and short.confidence >= gazetteer.CONFIDENT
    village = best(session, "增兴窑村委会")
    assert village.name.endswith("增兴窑村委会") and village.region_code == "120110003201"


# ---------------------------------------------------------------------------------------------
# The API


api = cases.api  # a fixture
login = cases.login


def chain_of(city) -> tuple[str, str]:
    """A community of the demo city and a text naming its street and itself."""
    community = next(r for r in city.plan.regions if r.code == city.grid.code[:12])
    street = next(r for r in city.plan.regions if r.code == community.parent_code)
    return community.code, f"{street.name}{community.name}路灯不亮"


def test_staff_resolve_text_and_everyone_else_is_refused(api, city):
    code, text = chain_of(city)
    assert api.get("/api/v1/gazetteer/resolve", params={"q": text}).status_code == 401
    resident = api.get(
        "/api/v1/gazetteer/resolve", params={"q": text}, headers=login(api, "resident")
    )
    assert resident.status_code == 403 and "only staff" in resident.json()["detail"]

    response = api.get(
        "/api/v1/gazetteer/resolve", params={"q": text}, headers=login(api, "operator")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ambiguous"] is False
    top = body["matches"][0]
    assert top["region_code"] == code and top["level_label"] == "社区/村"
    assert top["confidence"] >= gazetteer.CONFIDENT and top["lon"] is not None
    nothing = api.get(
        "/api/v1/gazetteer/resolve", params={"q": "噪音扰民"}, headers=login(api, "grid_worker")
    ).json()
    assert nothing == {"matches": [], "ambiguous": True}
    empty = api.get("/api/v1/gazetteer/resolve", params={"q": ""}, headers=login(api, "operator"))
    assert empty.status_code == 422


def test_only_an_admin_adds_and_removes_entries_staff_read_them(api, city):
    body = {"name": "江州大剧院", "region_code": city.grid.code, "kind": "landmark"}
    assert api.post("/api/v1/gazetteer/entries", json=body).status_code == 401
    assert api.get("/api/v1/gazetteer/entries").status_code == 401
    admin, dispatcher = login(api, "admin"), login(api, "dispatcher")
    refused = api.post("/api/v1/gazetteer/entries", json=body, headers=dispatcher)
    assert refused.status_code == 403 and "only an administrator" in refused.json()["detail"]

    created = api.post("/api/v1/gazetteer/entries", json=body, headers=admin)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["kind_label"] == "地标" and entry["region_name"].endswith("第1网格")
    assert api.post("/api/v1/gazetteer/entries", json=body, headers=admin).status_code == 409
    bad = api.post("/api/v1/gazetteer/entries", json={**body, "name": "院"}, headers=admin)
    assert bad.status_code == 422 and "至少 2 个字" in bad.json()["detail"]

    listed = api.get("/api/v1/gazetteer/entries", params={"q": "大剧院"}, headers=dispatcher)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert listed.json()["items"][0]["region_name"] == entry["region_name"]
    resident = api.get("/api/v1/gazetteer/entries", headers=login(api, "resident"))
    assert resident.status_code == 403
    found = api.get(
        "/api/v1/gazetteer/resolve", params={"q": "江州大剧院门口乱停车"}, headers=dispatcher
    ).json()
    assert found["matches"][0]["region_code"] == city.grid.code

    url = f"/api/v1/gazetteer/entries/{entry['id']}"
    assert api.delete(url, headers=dispatcher).status_code == 403
    assert api.delete(url, headers=admin).status_code == 204
    assert api.delete(url, headers=admin).status_code == 404
    assert api.get("/api/v1/gazetteer/entries", headers=admin).json()["total"] == 0


def test_listing_entries_takes_a_fixed_number_of_queries(api, session, clock, city, count_queries):
    dispatcher = login(api, "dispatcher")
    codes = [r.code for r in city.plan.regions if r.level == "grid"][:3]
    entries.add_entry(session, clock, "江州大剧院", codes[0], "landmark")

    def listing() -> int:
        with count_queries() as q:
            assert api.get("/api/v1/gazetteer/entries", headers=dispatcher).status_code == 200
        return q.count

    few = listing()
    for i, code in enumerate(codes):
        entries.add_entry(session, clock, f"江州第{i}中学", code, "landmark")
    assert listing() == few


# ---------------------------------------------------------------------------------------------
# The CLI

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def said(result) -> str:
    """The output as one line (rich wraps long messages at the terminal width)."""
    return " ".join(result.output.split())


def test_gazetteer_add_list_resolve_and_remove(cli_env, tmp_path):
    assert run("init").exit_code == 0
    path = tmp_path / "chongqing.csv"
    path.write_text(TREE, "utf-8")
    assert run("regions", "import", str(path)).exit_code == 0

    added = run("gazetteer", "add", "观音桥步行街", "--region", JIANXIN, "--kind", "landmark",
                "--lon", "106.5318", "--lat", "29.5755")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "观音桥步行街" in said(added) and JIANXIN in said(added)
    listed = json.loads(run("gazetteer", "list", "--json").output)
    assert listed["total"] == 1
    item = listed["items"][0]
    assert item["region_name"] == "江北区 观音桥街道 建新东路社区居委会" and item["lon"] == 106.5318
    assert "观音桥步行街" in run("gazetteer", "list", "--q", "步行街").output

    resolved = json.loads(run("gazetteer", "resolve", "观音桥步行街附近噪音", "--json").output)
    assert resolved["ambiguous"] is False
    assert resolved["matches"][0]["region_code"] == JIANXIN
    table = run("gazetteer", "resolve", "新华社区门口")
    assert table.exit_code == 0 and XINHUA_JFB in said(table) and XINHUA_CTM in said(table)
    assert "ambiguous" in said(table)
    assert "no place name found" in run("gazetteer", "resolve", "噪音扰民").output

    assert run("gazetteer", "remove", str(item["id"])).exit_code == 0
    assert json.loads(run("gazetteer", "list", "--json").output)["total"] == 0


def test_gazetteer_commands_refuse_bad_input(cli_env, tmp_path):
    run("init")
    path = tmp_path / "chongqing.csv"
    path.write_text(TREE, "utf-8")
    run("regions", "import", str(path))
    unknown = run("gazetteer", "add", "北城天街", "--region", "500105999", "--kind", "road")
    assert unknown.exit_code == 1 and "no such region" in said(unknown)
    kind = run("gazetteer", "add", "北城天街", "--region", JIANXIN, "--kind", "shop")
    assert kind.exit_code == 1 and "kind must be" in said(kind)
    half = run(
        "gazetteer", "add", "北城天街", "--region", JIANXIN, "--kind", "road", "--lon", "106"
    )
    assert half.exit_code == 1 and "give both lon and lat" in said(half)
    assert run("gazetteer", "add", "北城天街", "--region", JIANXIN, "--kind", "road").exit_code == 0
    again = run("gazetteer", "add", "北城天街", "--region", JIANXIN, "--kind", "road")
    assert again.exit_code == 1 and "already in the gazetteer" in said(again)
    missing = run("gazetteer", "remove", "999")
    assert missing.exit_code == 1 and "no such gazetteer entry" in said(missing)
    empty = run("gazetteer", "resolve", " ")
    assert empty.exit_code == 1 and "the address text is empty" in said(empty)
