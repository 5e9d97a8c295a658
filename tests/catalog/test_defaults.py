"""The default matter catalogue: the GB/T 47678.5-2026 directory, the 12345 topic tree, and the
loader's checks on bad files. Pure: no database."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from chengzhi.catalog.defaults import (
    DEFAULT_FILES,
    LIMIT_KEYS,
    STAGES,
    UNITS,
    CatalogError,
    Category,
    DutyList,
    HandlingLevel,
    Kind,
    approx_hours,
    known_sectors,
    load_catalog,
    load_default_catalog,
)
from chengzhi.worktime import Limit

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "docs" / "reference"
REFERENCE_FILE = REFERENCE / "domain-china.md"


@pytest.fixture(scope="module")
def catalog() -> list[Category]:
    return load_default_catalog()


@pytest.fixture(scope="module")
def by_key(catalog: list[Category]) -> dict[str, Category]:
    return {c.key: c for c in catalog}


def leaves(catalog: list[Category], kind: Kind) -> list[Category]:
    return [c for c in catalog if c.kind == kind and c.is_leaf]


# --- the shipped files -------------------------------------------------------------------------


def test_both_default_files_load(catalog):
    assert {c.source for c in catalog} == {"urban_management.yaml", "hotline_topics.yaml"}
    assert load_default_catalog() is not load_default_catalog()  # callers get their own list


def test_there_are_exactly_153_components_and_250_matters_in_their_major_classes(catalog):
    components, matters = leaves(catalog, Kind.COMPONENT), leaves(catalog, Kind.MATTER)
    assert len(components) == 153 and len(matters) == 250
    assert Counter(c.parent_code for c in components) == {
        "01": 76, "02": 44, "03": 16, "04": 14, "05": 3,
    }  # fmt: skip
    assert Counter(c.parent_code for c in matters) == {
        "01": 76, "02": 44, "03": 16, "04": 14, "05": 3,
        "06": 51, "07": 7, "08": 16, "09": 21, "10": 2,
    }  # fmt: skip
    assert all(re.fullmatch(r"\d{5}", c.code) and c.level == 2 for c in components + matters)


KNOWN = [  # (kind, code, name) as printed in reference/domain-china.md §1.3
    ("component", "01001", "供水井盖"),
    ("component", "01049", "燃气调压站（箱）"),
    ("component", "01077", "综合杆"),
    ("component", "02044", "公路隧道"),
    ("component", "03016", "烟头收集器或灭烟处"),
    ("component", "04014", "林地及林地管护设施"),
    ("component", "05009", "文物古迹"),
    ("matter", "01001", "供水井盖异常"),
    ("matter", "01066", "紧急报警点异常SOS"),
    ("matter", "05009", "文物古迹异常"),
    ("matter", "06001", "私搭乱建"),
    ("matter", "06010", "暴露垃圾"),
    ("matter", "06052", "无障碍坡道破损"),
    ("matter", "07008", "公益性宣传品缺损"),
    ("matter", "08011", "渣土运输车辆未安装密闭装置"),
    ("matter", "09022", "占道促销宣传"),
    ("matter", "10002", "架空线缆脱落"),
]


@pytest.mark.parametrize(("kind", "code", "name"), KNOWN)
def test_known_codes_carry_the_standard_names(by_key, kind, code, name):
    assert by_key[f"{kind}:{code}"].name == name


@pytest.mark.parametrize("key", ["component:01016", "matter:06031", "matter:07005", "matter:09007"])
def test_the_gaps_in_the_standard_numbering_stay_gaps(by_key, key):
    assert key not in by_key


def test_exposed_rubbish_has_the_published_four_working_hour_limit(by_key):
    rubbish = by_key["matter:06010"]
    assert rubbish.limits.handle == Limit(4, "working_hours")
    assert rubbish.handling_level == HandlingLevel.STREET and rubbish.duty_list == DutyList.BASIC
    assert rubbish.legal_basis == "《城市市容和环境卫生管理条例》"
    assert any("published" in n for n in rubbish.notes)


def test_illegal_building_uses_the_published_stop_and_demolish_limits(by_key):
    building = by_key["matter:06001"]
    assert building.limits.handle == Limit(20, "working_days")  # 拆除
    assert building.urgent_limits.handle == Limit(4, "working_hours")  # 停工
    assert building.whistle and building.legal_basis == "《城乡规划法》"


def reference_tables() -> tuple[dict[str, str], dict[str, str]]:
    if not REFERENCE_FILE.exists():
        pytest.skip("reference/domain-china.md not available (../shared/docs)")
    text = REFERENCE_FILE.read_text("utf-8")
    table_a = text.split("#### Table A.1")[1].split("#### Table C.1")[0]
    events = text.split("#### Table C.1")[1].split("**Confusable pairs")[0].split("- **06 ")[1]
    item = re.compile(r"(\d{5}) ([^\s·.]+)")
    return dict(item.findall(table_a)), dict(item.findall(events))


def test_the_whole_directory_matches_the_reference_tables(catalog):
    components, events = reference_tables()
    assert len(components) == 153 and len(events) == 97
    assert {c.code: c.name for c in leaves(catalog, Kind.COMPONENT)} == components
    mirrored = {
        code: "紧急报警点异常SOS" if code == "01066" else f"{name}异常"
        for code, name in components.items()
    }
    assert {c.code: c.name for c in leaves(catalog, Kind.MATTER)} == mirrored | events


def test_mirror_matters_are_handled_like_their_components(by_key, catalog):
    for component in leaves(catalog, Kind.COMPONENT):
        matter = by_key[f"matter:{component.code}"]
        assert (matter.sector, matter.handling_level, matter.limits) == (
            component.sector,
            component.handling_level,
            component.limits,
        )


def test_codes_are_unique_within_each_kind(catalog):
    keys = [c.key for c in catalog]
    assert len(keys) == len(set(keys))


def test_every_sector_is_a_department_line_in_sectors_yaml(catalog):
    used = {c.sector for c in catalog} - {None}
    assert used <= known_sectors()
    assert {"chengguan", "utility", "renshe", "xiaofang"} <= used


def test_every_category_has_every_limit_after_inheritance(catalog):
    for c in catalog:
        for key in LIMIT_KEYS:
            for stage in STAGES:
                limit = getattr(c, key)[stage]
                assert limit.amount > 0 and limit.unit in UNITS, (c.key, key, stage)


def test_urgent_limits_are_no_longer_than_normal_and_critical_ones_are_wall_clock(catalog):
    for c in catalog:
        for stage in STAGES:
            normal, urgent, critical = (getattr(c, k)[stage] for k in LIMIT_KEYS)
            assert approx_hours(critical) <= approx_hours(urgent) <= approx_hours(normal), c.key
            assert critical.wall_clock, c.key


def test_duty_lists_agree_with_handling_levels(catalog):
    territorial = {HandlingLevel.GRID, HandlingLevel.COMMUNITY, HandlingLevel.STREET}
    for c in catalog:
        assert (c.duty_list == DutyList.BASIC) == (c.handling_level in territorial), c.key
        assert c.sector is not None or c.duty_list == DutyList.BASIC, c.key


def test_every_leaf_has_keywords_names_and_law_names_in_brackets(catalog):
    for c in catalog:
        if c.is_leaf:
            assert c.keywords and c.name and c.name_en, c.key
        assert c.legal_basis is None or re.fullmatch(r"(《[^《》]+》)+", c.legal_basis), c.key


def test_the_hotline_tree_has_three_levels_of_the_expected_size(catalog):
    topics = [c for c in catalog if c.kind == Kind.TOPIC]
    per_level = Counter(c.level for c in topics)
    assert set(per_level) == {1, 2, 3}
    assert 12 <= per_level[1] <= 16 and 80 <= per_level[2] <= 120 and 350 <= per_level[3] <= 450
    assert all(c.is_leaf == (c.level == 3) for c in topics)
    shapes = {1: r"[A-Z]", 2: r"[A-Z]\d{2}", 3: r"[A-Z]\d{4}"}
    assert all(re.fullmatch(shapes[c.level], c.code) for c in topics)
    names = {c.name for c in topics if c.level == 1}
    assert {"城乡建设", "城市管理", "劳动和社会保障", "市场监管与消费维权", "公安政法"} <= names


def test_hotline_topics_carry_the_published_dispatch_and_utility_limits(by_key):
    leak, outage = by_key["topic:D0301"], by_key["topic:D0101"]
    assert by_key["topic:A0101"].limits.dispatch == Limit(5, "minutes")
    assert outage.limits.handle == Limit(24, "hours") and outage.sector == "utility"
    assert approx_hours(leak.critical_limits.handle) <= 1
    assert by_key["topic:G0101"].legal_basis == "《保障农民工工资支付条例》"


# --- the loader's checks -------------------------------------------------------------------------


def limits(handle: Any = None, unit: str = "hours") -> dict[str, Any]:
    stages = {s: {"amount": 1, "unit": unit} for s in STAGES}
    if handle is not None:
        stages["handle"] = handle
    return stages


def minimal() -> dict[str, Any]:
    return {
        "defaults": {
            "handling_level": "street",
            "sector": None,
            "duty_list": "basic",
            "whistle": False,
            "reopen": True,
            "legal_basis": None,
            "limits": limits({"amount": 3, "unit": "working_days"}, unit="working_hours"),
            "urgent_limits": limits({"amount": 4, "unit": "hours"}, unit="hours"),
            "critical_limits": limits({"amount": 2, "unit": "hours"}, unit="minutes"),
        },
        "matters": [
            {
                "code": "06",
                "name": "市容环境类",
                "name_en": "City appearance",
                "sector": "chengguan",
                "note": "group note",
                "keywords": ["不继承"],
                "children": [
                    {
                        "code": "06010",
                        "name": "暴露垃圾",
                        "name_en": "Exposed rubbish",
                        "limits": {"handle": {"amount": 4, "unit": "working_hours"}},
                        "keywords": ["垃圾"],
                        "note": "leaf note",
                    },
                    {
                        "code": "06013",
                        "name": "道路破损",
                        "name_en": "Damaged road",
                        "handling_level": "district",
                        "duty_list": "upward",
                        "keywords": ["路面"],
                    },
                ],
            }  # fmt: skip
        ],
    }


def write(tmp_path: Path, doc: dict[str, Any], name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def leaf(doc: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return doc["matters"][0]["children"][index]


def test_a_minimal_file_loads_and_children_inherit_from_parents_and_defaults(tmp_path):
    cats = {c.code: c for c in load_catalog([write(tmp_path, minimal(), "ok.yaml")])}
    rubbish, road = cats["06010"], cats["06013"]
    assert rubbish.sector == "chengguan" and rubbish.parent_code == "06"
    assert rubbish.path == ("06", "06010") and rubbish.kind == Kind.MATTER
    assert rubbish.limits.handle == Limit(4, "working_hours")
    assert rubbish.limits.sign == Limit(1, "working_hours")  # merged stage by stage
    assert road.limits.handle == Limit(3, "working_days")  # from defaults
    assert rubbish.keywords == ("垃圾",)  # keywords are not inherited
    assert rubbish.notes == ("group note", "leaf note") and road.notes == ("group note",)
    assert not cats["06"].is_leaf and rubbish.is_leaf


def test_a_flat_node_attaches_to_its_parent_by_code(tmp_path):
    doc = minimal()
    doc["matters"].append(
        {"parent": "06", "code": "06080", "name": "扩展", "name_en": "Local", "keywords": ["扩展"]}
    )
    cats = {c.code: c for c in load_catalog([write(tmp_path, doc, "ok.yaml")])}
    assert cats["06080"].parent_code == "06" and cats["06080"].sector == "chengguan"


BAD = [
    ("unknown sector", lambda d: leaf(d).update(sector="nope"), "06010", "unknown sector 'nope'"),
    (
        "bad unit",
        lambda d: leaf(d)["limits"]["handle"].update(unit="fortnights"),
        "06010",
        "bad unit 'fortnights'",
    ),
    (
        "zero limit",
        lambda d: leaf(d)["limits"]["handle"].update(amount=0),
        "06010",
        "amount must be a number > 0",
    ),
    (
        "infinite limit",
        lambda d: leaf(d)["limits"]["handle"].update(amount=float("inf")),
        "06010",
        "amount must be finite",
    ),
    (
        "negative limit",
        lambda d: leaf(d)["limits"]["handle"].update(amount=-2),
        "06010",
        "amount must be a number > 0",
    ),
    (
        "unknown stage",
        lambda d: leaf(d)["limits"].update(close={"amount": 1, "unit": "hours"}),
        "06010",
        "unknown stage 'close'",
    ),
    (
        "duplicate code",
        lambda d: d["matters"][0]["children"].append(dict(leaf(d))),
        "06010",
        "duplicate matter code",
    ),
    (
        "missing parent",
        lambda d: d["matters"].append(
            {"parent": "07", "code": "07001", "name": "小广告", "name_en": "x", "keywords": ["x"]}
        ),
        "07001",
        "missing parent '07'",
    ),
    (
        "code outside its parent",
        lambda d: leaf(d).update(code="07010"),
        "07010",
        "does not extend its parent",
    ),
    (
        "code of the wrong shape",
        lambda d: leaf(d).update(code="0601"),
        "0601",
        r"level-2 matter code must match",
    ),
    (
        "missing limit",
        lambda d: d["defaults"]["limits"].pop("verify"),
        "06",
        "limits.verify is not set",
    ),
    (
        "urgent longer than normal",
        lambda d: leaf(d).update(urgent_limits={"handle": {"amount": 2, "unit": "working_days"}}),
        "06010",
        "urgent_limits.handle .* is longer than limits.handle",
    ),
    (
        "critical not wall-clock",
        lambda d: leaf(d).update(
            critical_limits={"handle": {"amount": 1, "unit": "working_hours"}}
        ),
        "06010",
        "critical_limits.handle must be wall-clock",
    ),
    (
        "unknown attribute",
        lambda d: leaf(d).update(secter="chengguan"),
        "06010",
        "unknown attribute 'secter'",
    ),
    (
        "bad handling level",
        lambda d: leaf(d).update(handling_level="province"),
        "06010",
        "handling_level 'province' is not one of",
    ),
    (
        "bad duty list",
        lambda d: leaf(d).update(duty_list="maybe"),
        "06010",
        "duty_list 'maybe' is not one of",
    ),
    ("whistle not a bool", lambda d: leaf(d).update(whistle="yes please"), "06010", "whistle"),
    (
        "law without brackets",
        lambda d: leaf(d).update(legal_basis="城乡规划法"),
        "06010",
        "legal_basis must be null or law names",
    ),
    (
        "basic duty at district level",
        lambda d: leaf(d).update(handling_level="district"),
        "06010",
        "a basic duty is handled by grid, community or street",
    ),
    (
        "territorial upward duty",
        lambda d: leaf(d, 1).update(sector=None),
        "06013",
        r"sector null\) must be a basic duty",
    ),
    ("leaf without keywords", lambda d: leaf(d).pop("keywords"), "06010", "a leaf needs keywords"),
    ("empty name", lambda d: leaf(d).update(name=" "), "06010", "name must be a non-empty"),
    ("missing name", lambda d: leaf(d).pop("name_en"), "06010", "name_en must be a non-empty"),
    (
        "list where a word belongs",
        lambda d: leaf(d).update(handling_level=["street"], sector=["x"]),
        "06010",
        "handling_level .* is not one of",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "code", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_the_loader_rejects_bad_input_naming_the_file_and_the_code(tmp_path, mutate, code, reason):
    doc = minimal()
    mutate(doc)
    path = write(tmp_path, doc)
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    assert any(
        p.source == str(path) and p.where == code and re.search(reason, p.reason)
        for p in caught.value.problems
    ), caught.value.problems
    assert "bad.yaml" in caught.value.message


def test_an_unquoted_code_is_refused_rather_than_read_as_a_number(tmp_path):
    path = tmp_path / "bad.yaml"
    text = yaml.safe_dump(minimal(), allow_unicode=True, sort_keys=False)
    path.write_text(text.replace("code: '06010'", "code: 06010"), "utf-8")
    with pytest.raises(CatalogError, match=r"bad\.yaml:06 \(child 暴露垃圾\): code must be a"):
        load_catalog([path])


def test_a_code_repeated_in_a_second_file_is_a_duplicate(tmp_path):
    first = write(tmp_path, minimal(), "first.yaml")
    second = write(tmp_path, minimal(), "second.yaml")
    with pytest.raises(CatalogError, match=r"second\.yaml:06: duplicate matter code \(first in"):
        load_catalog([first, second])


def test_unreadable_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("matters: [\n", "utf-8")
    with pytest.raises(CatalogError, match=r"broken\.yaml:-: cannot read"):
        load_catalog([path])


def test_every_problem_is_reported_at_once(tmp_path):
    doc = minimal()
    leaf(doc).update(sector="nope")
    leaf(doc, 1).update(whistle="sometimes")
    with pytest.raises(CatalogError) as caught:
        load_catalog([write(tmp_path, doc)])
    assert {p.where for p in caught.value.problems} == {"06010", "06013"}


def test_a_city_may_check_against_its_own_sector_list(tmp_path):
    path = write(tmp_path, minimal(), "ok.yaml")
    with pytest.raises(CatalogError, match="unknown sector 'chengguan'"):
        load_catalog([path], sectors={"zhujian"})
    assert load_catalog([path], sectors={"chengguan"})


def test_the_default_files_are_all_the_data_files():
    assert {p.name for p in DEFAULT_FILES} == {
        p.name for p in DEFAULT_FILES[0].parent.glob("*.yaml")
    }
