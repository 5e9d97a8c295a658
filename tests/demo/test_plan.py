"""The demo city plan: realistic counts, well-formed codes, children tiling parents, determinism.
Also the Chinese name generators it uses."""

from __future__ import annotations

import random
import re
import time
from collections import Counter, defaultdict

import numpy as np
import pytest
import shapely

from chengzhi.demo import names
from chengzhi.demo.plan import CityPlan, PlannedRegion, plan_city
from chengzhi.geo.ordering import reading_order

REL = 1e-9
LEVELS = ["city", "district", "street", "community", "grid"]
CODE_LENGTH = {"city": 2, "district": 6, "street": 9, "community": 12, "grid": 15}


@pytest.fixture(scope="module")
def plan() -> CityPlan:
    return plan_city("small", 7)


def children_of(plan: CityPlan) -> dict[str, list[PlannedRegion]]:
    out: dict[str, list[PlannedRegion]] = defaultdict(list)
    for r in plan.regions:
        if r.parent_code is not None:
            out[r.parent_code].append(r)
    return out


def test_small_plan_is_quick() -> None:
    start = time.perf_counter()
    plan_city("small", 123)
    assert time.perf_counter() - start < 2.0


def test_counts_per_level(plan: CityPlan) -> None:
    counts = Counter(r.level for r in plan.regions)
    assert counts["city"] == 1
    assert counts["district"] == 2
    assert 6 <= counts["street"] <= 12
    assert 30 <= counts["community"] <= 50
    assert 300 <= counts["grid"] <= 500
    assert plan.counts() == {level: counts[level] for level in LEVELS}


def test_city(plan: CityPlan) -> None:
    city = plan.regions[0]
    assert (plan.code, plan.name, plan.scale, plan.seed) == ("50", "江州市", "small", 7)
    assert (city.code, city.name, city.level, city.parent_code) == ("50", "江州市", "city", None)
    lon, lat = city.polygon.centroid.coords[0]
    assert abs(lon - 106.5) < 0.05 and abs(lat - 29.6) < 0.05
    minx, miny, maxx, maxy = city.polygon.bounds
    assert 0.06 < maxx - minx < 0.2 and 0.05 < maxy - miny < 0.2


def test_parents_come_before_children_level_by_level(plan: CityPlan) -> None:
    position = {r.code: i for i, r in enumerate(plan.regions)}
    levels = [LEVELS.index(r.level) for r in plan.regions]
    assert levels == sorted(levels)
    for r in plan.regions[1:]:
        assert r.parent_code in position
        assert position[r.parent_code] < position[r.code]
    assert len(position) == len(plan.regions)  # codes are unique


def test_codes_follow_the_digit_rules(plan: CityPlan) -> None:
    by_code = {r.code: r for r in plan.regions}
    for r in plan.regions:
        assert r.code.isdigit() and len(r.code) == CODE_LENGTH[r.level], r.code
        if r.parent_code is None:
            continue
        parent = by_code[r.parent_code]
        assert LEVELS.index(r.level) == LEVELS.index(parent.level) + 1
        assert r.code.startswith(parent.code)
        seq = int(r.code[len(parent.code) :])
        if r.level == "district":
            assert r.code[2:4] in ("01", "02")
            assert (r.code[2:4] == "02") == r.name.endswith("县"), r.name
            assert r.name.endswith(("区", "县"))
        elif r.level == "street":
            if r.name.endswith("街道"):
                assert 1 <= seq <= 99 and r.urban
            elif r.name.endswith("镇"):
                assert 100 <= seq <= 199 and not r.urban
            else:
                assert r.name.endswith("乡") and 200 <= seq <= 399 and not r.urban
        elif r.level == "community":
            if r.name.endswith("社区"):
                assert 1 <= seq <= 199 and r.urban
            else:
                assert r.name.endswith("村") and 200 <= seq <= 399 and not r.urban
        elif r.level == "grid":
            assert 1 <= seq <= 999
            assert r.name == f"{parent.name}第{seq}网格"
            assert r.urban == parent.urban


def test_both_kinds_at_street_and_community_level(plan: CityPlan) -> None:
    street_kinds = {r.name[-1] for r in plan.by_level("street")}
    assert {"道", "镇"} <= street_kinds  # 街道 and 镇
    assert {r.urban for r in plan.by_level("community")} == {True, False}


def kind_block(r: PlannedRegion) -> tuple[str, int]:
    """The numbering block a region belongs to and the block's first sequence number."""
    if r.level == "district":
        return (r.code[2:4], 1 if r.code[2:4] == "01" else 21)
    if r.level == "street":
        return {"道": ("street", 1), "镇": ("town", 100), "乡": ("township", 200)}[r.name[-1]]
    if r.level == "community":
        return ("community", 1) if r.urban else ("village", 200)
    return ("grid", 1)


def test_sequences_are_consecutive_within_each_kind(plan: CityPlan) -> None:
    for parent, kids in children_of(plan).items():
        blocks: dict[tuple[str, int], list[int]] = defaultdict(list)
        for k in kids:
            tail = k.code[len(parent) :] if k.level != "district" else k.code[4:]
            blocks[kind_block(k)].append(int(tail))
        for (kind, first), seqs in blocks.items():
            assert sorted(seqs) == list(range(first, first + len(seqs))), (parent, kind)


def test_grids_are_numbered_in_reading_order(plan: CityPlan) -> None:
    for parent, kids in children_of(plan).items():
        if kids[0].level != "grid":
            continue
        kids = sorted(kids, key=lambda r: r.code)
        assert reading_order([k.polygon for k in kids]) == list(range(len(kids))), parent


def test_children_tile_their_parent(plan: CityPlan) -> None:
    by_code = {r.code: r for r in plan.regions}
    for code, kids in children_of(plan).items():
        parent = by_code[code].polygon
        geoms = np.asarray([k.polygon for k in kids], dtype=object)
        assert all(k.polygon.geom_type == "Polygon" for k in kids)
        assert shapely.is_valid(geoms).all()
        area = parent.area
        assert abs(shapely.area(geoms).sum() - area) <= REL * area, code
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pair = left < right
        overlap = shapely.area(shapely.intersection(geoms[left[pair]], geoms[right[pair]]))
        assert overlap.sum() <= REL * area, code
        assert shapely.union_all(geoms).symmetric_difference(parent).area <= REL * area, code


def test_every_level_covers_the_city(plan: CityPlan) -> None:
    city = plan.regions[0].polygon
    for level in LEVELS[1:]:
        geoms = np.asarray([r.polygon for r in plan.by_level(level)], dtype=object)
        assert abs(shapely.area(geoms).sum() - city.area) <= REL * city.area, level


def test_names_are_unique_among_siblings(plan: CityPlan) -> None:
    for code, kids in children_of(plan).items():
        assert len({k.name for k in kids}) == len(kids), code
    assert all(re.fullmatch(r"[\u4e00-\u9fff0-9第]+", r.name) for r in plan.regions)


def test_population_and_households_add_up(plan: CityPlan) -> None:
    by_code = {r.code: r for r in plan.regions}
    for code, kids in children_of(plan).items():
        assert by_code[code].population == sum(k.population for k in kids), code
        assert by_code[code].households == sum(k.households for k in kids), code
    for r in plan.regions:
        assert 0 < r.households <= r.population, r.code
    city = plan.regions[0]
    assert 200_000 <= city.population <= 400_000
    assert 2.3 <= city.population / city.households <= 3.0


def test_urban_core_is_denser_than_the_countryside(plan: CityPlan) -> None:
    communities = plan.by_level("community")
    urban = [r for r in communities if r.urban]
    rural = [r for r in communities if not r.urban]

    def density(rs: list[PlannedRegion]) -> float:
        return sum(r.population for r in rs) / sum(r.polygon.area for r in rs)

    assert density(urban) > 2 * density(rural)
    assert np.mean([r.population for r in urban]) > np.mean([r.population for r in rural])
    grids = plan.by_level("grid")
    urban_hh = np.mean([g.households for g in grids if g.urban])
    rural_hh = np.mean([g.households for g in grids if not g.urban])
    assert 300 <= urban_hh <= 500
    assert rural_hh < urban_hh


def test_same_seed_same_plan(plan: CityPlan) -> None:
    again = plan_city("small", 7)
    assert [fingerprint(r) for r in again.regions] == [fingerprint(r) for r in plan.regions]


def test_other_seed_other_plan(plan: CityPlan) -> None:
    other = plan_city("small", 8)
    assert [r.name for r in other.regions] != [r.name for r in plan.regions]
    assert not other.regions[0].polygon.equals(plan.regions[0].polygon)


def fingerprint(r: PlannedRegion) -> tuple:
    return (
        r.code, r.name, r.level, r.parent_code, r.population, r.households, r.urban,
        shapely.to_wkb(r.polygon),
    )  # fmt: skip


def test_unknown_scale_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_city("galaxy", 1)


@pytest.mark.slow
def test_city_scale_counts() -> None:
    counts = plan_city("city", 1).counts()
    assert 7 <= counts["district"] <= 9
    assert 70 <= counts["street"] <= 90
    assert 700 <= counts["community"] <= 900
    assert 7_000 <= counts["grid"] <= 9_000


# -- names ---------------------------------------------------------------------------------


def test_region_names_have_the_right_suffix_and_are_unique() -> None:
    rng = random.Random(3)
    makers = {
        "区": lambda taken: names.district_name(rng, taken),
        "县": lambda taken: names.district_name(rng, taken, kind="county"),
        "自治县": lambda taken: names.district_name(rng, taken, kind="autonomous"),
        "街道": lambda taken: names.street_name(rng, taken),
        "镇": lambda taken: names.town_name(rng, taken),
        "乡": lambda taken: names.town_name(rng, taken, township=True),
        "社区": lambda taken: names.community_name(rng, taken),
        "村": lambda taken: names.village_name(rng, taken),
    }
    for suffix, make in makers.items():
        taken: set[str] = set()
        made = [make(taken) for _ in range(300)]
        assert len(set(made)) == 300, suffix
        assert taken == set(made)
        assert all(n.endswith(suffix) for n in made), suffix
        assert all(len(n) >= len(suffix) + 2 for n in made), suffix


def test_names_never_repeat_even_when_the_words_run_out() -> None:
    taken: set[str] = set()
    made = [names.district_name(random.Random(0), taken) for _ in range(50)]
    assert len(set(made)) == 50


def test_names_are_deterministic() -> None:
    a = [names.community_name(random.Random(5), set()) for _ in range(3)]
    b = [names.community_name(random.Random(5), set()) for _ in range(3)]
    assert a == b
    np_rng = np.random.default_rng(1)
    assert names.person_name(np_rng)  # numpy generators work too


def test_person_names() -> None:
    rng = random.Random(11)
    people = [names.person_name(rng) for _ in range(5_000)]
    assert all(2 <= len(p) <= 4 for p in people)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", p) for p in people)
    surnames = Counter(p[0] for p in people)
    assert {s for s, _ in surnames.most_common(5)} <= {"王", "李", "张", "刘", "陈", "杨"}
    assert len(set(people)) > 2_500


def test_phone_numbers() -> None:
    rng = random.Random(2)
    phones = [names.phone(rng) for _ in range(2_000)]
    assert all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    assert {p[:2] for p in phones} >= {"13", "15", "18"}
    assert len(set(phones)) == len(phones)


def test_grid_name() -> None:
    assert names.grid_name("七星岗社区", 3) == "七星岗社区第3网格"
