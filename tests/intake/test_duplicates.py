"""Duplicate detection (重复件) on a real database: re-reports are found, other problems are not."""

import math
from datetime import timedelta

import pytest

from chengzhi.cases import service
from chengzhi.geo.index import METRES_PER_DEGREE
from chengzhi.intake import duplicates
from chengzhi.intake.duplicates import Candidate
from tests.cases import conftest
from tests.cases.conftest import City, appeal

city = conftest.city  # the small demo city with the default catalogue (a fixture)

PIPE = "幸福路12号门口自来水管爆了，水哗哗往外冒，路面都淹了，请赶紧派人来修。"
PIPE_AGAIN = "你好，幸福路12号这边水管爆裂了，水流得到处都是，路面全是水，车都开不过去。"
LAMP = "幸福路12号门口一排路灯晚上都不亮，黑漆漆的，走夜路很不安全。"
PIPE_KIND = ("topic", "D0104")  # 供水管道漏水爆管
LAMP_KIND = ("topic", "C0403")  # 路灯不亮


def moved(point: tuple[float, float], east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    lon, lat = point
    per_lon = METRES_PER_DEGREE * math.cos(math.radians(lat))
    return lon + east_m / per_lon, lat + north_m / METRES_PER_DEGREE


def report(session, clock, city: City, description=PIPE, category=PIPE_KIND, east_m=0.0):
    """A case in the grid worker's grid, `east_m` metres east of its point."""
    lon, lat = moved(city.point(), east_m)
    new = appeal(
        city,
        category=category,
        title="水管爆裂",
        description=description,
        lon=lon,
        lat=lat,
        region_code=city.grid.code,
    )
    return service.register_case(session, clock, city.actors["operator"], new)


def category_id(session, ref: tuple[str, str]) -> int:
    return service.find_category(session, ref).id


def look(session, clock, city: City, text=PIPE_AGAIN, category=PIPE_KIND, east_m=15.0, **kw):
    """The candidates for a new appeal `east_m` metres east of the grid worker's grid point."""
    lon, lat = moved(city.point(), east_m)
    args = dict(
        text=text,
        category_id=category_id(session, category) if category else None,
        region_code=city.grid.code,
        lon=lon,
        lat=lat,
        at=clock.now(),
    )
    return duplicates.find(session, **{**args, **kw})


def test_a_re_report_of_the_same_problem_is_sure(session, clock, city):
    first = report(session, clock, city)
    clock.advance(hours=3)
    found = look(session, clock, city)
    verdict, best = duplicates.verdict(found)
    assert verdict == "sure"
    assert best is not None and best.case_id == first.id and best.number == first.number
    assert best.same_category and best.hours == 3.0
    assert best.distance_m is not None and 10 < best.distance_m < 20
    assert 0 < best.text_similarity < 1 and duplicates.SURE <= best.score <= 1


def test_a_different_problem_at_the_same_spot_is_not_a_duplicate(session, clock, city):
    report(session, clock, city)
    clock.advance(hours=1)
    found = look(session, clock, city, text=LAMP, category=LAMP_KIND, east_m=0)
    assert duplicates.verdict(found)[0] is None


def test_the_same_category_a_few_hundred_metres_away_is_at_most_likely(session, clock, city):
    report(session, clock, city)
    clock.advance(hours=1)
    other = "人民路88号小学旁边地下水管破裂，大量自来水流到马路上，已经流了一个多小时。"
    assert duplicates.verdict(look(session, clock, city, text=other, east_m=150))[0] != "sure"
    assert look(session, clock, city, text=other, east_m=280) == []


def test_the_same_words_far_away_are_not_a_duplicate(session, clock, city):
    """Even told it is the same grid, 800 m away is another spot."""
    report(session, clock, city)
    clock.advance(hours=1)
    assert look(session, clock, city, text=f"水管爆裂。{PIPE}", east_m=800) == []
    assert look(session, clock, city, text=f"水管爆裂。{PIPE}", east_m=0)[0].text_similarity == 1


def test_ended_and_merged_cases_are_never_candidates(session, clock, city):
    operator, dispatcher = city.actors["operator"], city.actors["dispatcher"]
    closed, cancelled, merged, kept = (report(session, clock, city) for _ in range(4))
    service.close_case(session, clock, operator, closed.number, "已告知市民抢修安排")
    service.cancel_case(session, clock, dispatcher, cancelled.number, "重复来电")
    service.merge_case(session, clock, dispatcher, merged.number, kept.number, "重复件")
    session.flush()
    clock.advance(hours=1)
    found = look(session, clock, city)
    assert [c.case_id for c in found] == [kept.id]
    assert {closed.status, cancelled.status, merged.status} == {"closed", "cancelled", "merged"}


def test_only_cases_registered_within_the_window_before_the_appeal_count(session, clock, city):
    start = clock.now()
    first = report(session, clock, city)
    clock.advance(hours=71)
    assert [c.case_id for c in look(session, clock, city)] == [first.id]
    clock.advance(hours=2)  # 73 h after the first report
    assert look(session, clock, city) == []
    assert look(session, clock, city, at=start - timedelta(minutes=1)) == []  # not yet registered


def test_without_a_place_there_are_no_candidates(session, clock, city):
    report(session, clock, city)
    assert look(session, clock, city, region_code=None) == []
    assert look(session, clock, city, region_code=city.grid.code[:6]) == []  # a district only
    assert look(session, clock, city, region_code="") == []


def test_a_street_code_searches_the_whole_street(session, clock, city):
    first = report(session, clock, city)
    found = look(session, clock, city, region_code=city.grid.code[:9], lon=None, lat=None)
    assert [c.case_id for c in found] == [first.id]
    assert found[0].distance_m is None
    assert duplicates.verdict(found)[0] != "sure"  # never merged without coordinates
    assert look(session, clock, city, region_code=other_street(city.grid.code)) == []


def other_street(code: str) -> str:
    return code[:6] + ("998" if code[6:9] != "998" else "997")


def test_the_appeal_itself_can_be_left_out(session, clock, city):
    first = report(session, clock, city)
    second = report(session, clock, city, description=PIPE_AGAIN)
    found = look(session, clock, city, exclude_case_id=second.id)
    assert [c.case_id for c in found] == [first.id]
    assert {c.case_id for c in look(session, clock, city)} == {first.id, second.id}


def test_candidates_come_best_first_up_to_the_limit(session, clock, city):
    far = report(session, clock, city, east_m=120)
    near = report(session, clock, city, description=PIPE_AGAIN)
    lamp = report(session, clock, city, description=LAMP, category=LAMP_KIND)
    found = look(session, clock, city, east_m=0)
    assert [c.case_id for c in found] == [near.id, far.id]  # the lamp scores below the floor
    assert found[0].score > found[1].score >= duplicates.FLOOR
    assert [c.case_id for c in look(session, clock, city, east_m=0, limit=1)] == [near.id]
    assert lamp.id not in {c.case_id for c in found}


def test_an_unclassified_appeal_is_compared_by_place_and_words(session, clock, city):
    first = report(session, clock, city)
    found = look(session, clock, city, category=None)
    assert found[0].case_id == first.id and not found[0].same_category
    assert duplicates.verdict(found)[0] == "likely"


def test_a_sibling_category_counts_for_half(session, clock, city):
    first = report(session, clock, city)
    same = look(session, clock, city)[0]
    sibling = look(session, clock, city, category=("topic", "D0101"))[0]  # 停水, also under D01
    assert sibling.case_id == first.id and not sibling.same_category
    expected = duplicates.W_CATEGORY * (1 - duplicates.SAME_PARENT)
    assert same.score - sibling.score == pytest.approx(expected, abs=1e-3)


def test_the_read_is_an_index_range_scan_on_place_and_status(session, clock, city):
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL chooses by its statistics")
    bounds = duplicates.place_range(city.grid.code)
    assert bounds is not None
    compiled = duplicates.NEARBY.compile(session.get_bind())
    state = compiled.construct_expanded_state(duplicates.nearby_params(bounds, clock.now(), None))
    sql, params = state.statement, state.positional_parameters
    plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
    cases = next(row[-1] for row in plan if "SEARCH cases" in row[-1])
    assert "ix_cases_status_region_registered" in cases and "region_code>?" in cases


# --- pure parts ---------------------------------------------------------------------------------


def candidate(score: float) -> Candidate:
    return Candidate(1, "2026110200000001", score, 10.0, 1.0, True, 0.5)


def test_the_verdict_follows_the_thresholds():
    assert duplicates.verdict([]) == (None, None)
    assert duplicates.verdict([candidate(duplicates.SURE)])[0] == "sure"
    assert duplicates.verdict([candidate(duplicates.SURE - 0.01)])[0] == "likely"
    low = candidate(duplicates.LIKELY - 0.01)
    assert duplicates.verdict([low]) == (None, low)


def test_the_place_range_is_the_community_or_the_street():
    assert duplicates.place_range("500101001002003") == ("500101001002", "500101001002:")
    assert duplicates.place_range("500101001002") == ("500101001002", "500101001002:")
    assert duplicates.place_range("500101001") == ("500101001", "500101001:")
    assert duplicates.place_range("500101") is None
    assert duplicates.place_range(None) is None


def test_text_similarity_reads_chinese_and_ignores_personal_data():
    a = duplicates.grams("幸福路12号水管爆了，13800138000")
    b = duplicates.grams("幸福路 12号水管爆了！")
    assert duplicates.similarity(a, b) == 1.0 and "38" not in a  # the phone number is gone
    assert duplicates.similarity(a, duplicates.grams("人民路路灯不亮")) < 0.1
    assert duplicates.similarity(a, frozenset()) == 0.0


def test_the_place_factor_falls_to_zero_by_300_m():
    assert duplicates.place_factor(10, same_grid=False) == 1.0
    assert duplicates.place_factor(175, same_grid=False) == pytest.approx(0.5)
    assert duplicates.place_factor(300, same_grid=True) == 0.0
    no_coordinates = duplicates.place_factor(None, same_grid=True)
    assert no_coordinates * 1.0 < duplicates.SURE  # the best evidence cannot make it sure


def test_a_batch_reads_each_place_once_and_answers_as_find_does(session, clock, city):
    old = report(session, clock, city)
    clock.advance(hours=80)  # outside the window of the later appeal
    recent = report(session, clock, city, east_m=20)
    start = clock.now()
    clock.advance(hours=5)
    batch = duplicates.Batch(session, start, clock.now())
    for hours, east_m in ((0, 15.0), (3, 40.0)):
        at = start + timedelta(hours=hours)
        args = dict(
            text=PIPE_AGAIN,
            category_id=category_id(session, PIPE_KIND),
            region_code=city.grid.code,
            lon=moved(city.point(), east_m)[0],
            lat=city.point()[1],
            at=at,
        )
        assert batch.find(**args) == duplicates.find(session, **args)
    assert len(batch.rows) == 1  # one read for the community
    found = batch.find(**{**args, "at": start + timedelta(hours=3)})
    assert [c.case_id for c in found] == [recent.id] and old.id not in [c.case_id for c in found]
