"""Working time on the real Chinese holiday calendar, with expected values worked out by hand.

Default office hours: 08:30–12:00 (3.5 h) and 13:30–17:30 (4 h), 7.5 h a working day.
All local times below are Beijing time (UTC+8); `bj()` turns them into the UTC instants the
module takes and returns.

Holiday facts used here, checked against chinesecalendar 1.11.0 (get_holiday_detail):
* Spring Festival 2026: off Sun 15 – Mon 23 Feb (9 days); make-up working days Sat 14 Feb and
  Sat 28 Feb; the first working day after the break is Tue 24 Feb.
* National Day + Mid-Autumn 2025: off Wed 1 – Wed 8 Oct (8 days; 6 Oct is Mid-Autumn); make-up
  working days Sun 28 Sep and Sat 11 Oct; the last working day before is Tue 30 Sep, the first
  after is Thu 9 Oct.
* 2027 is not covered: chinese_calendar raises NotImplementedError for it (and for < 2004).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chengzhi import worktime
from chengzhi.worktime import (
    Light,
    Limit,
    OfficeHours,
    WorkCalendar,
    deadline,
    light,
    threshold_times,
    used,
    working_time,
)

BEIJING = ZoneInfo("Asia/Shanghai")
HOURS = OfficeHours()
ALWAYS = OfficeHours.always()
CAL = WorkCalendar()


def bj(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """A Beijing wall time as the aware UTC instant the module works with."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=BEIJING).astimezone(UTC)


def due(start: datetime, amount: float, unit: str, hours: OfficeHours = HOURS, cal=CAL):
    return deadline(start, Limit(amount, unit), hours, cal).at


def hours_between(start: datetime, end: datetime, hours: OfficeHours = HOURS, **kw) -> float:
    return working_time(start, end, hours, CAL, **kw).seconds / 3600


# ---------------------------------------------------------------------------------------------
# The official calendar itself (so the facts above are checked, not assumed)


def test_the_2026_spring_festival_and_2025_national_day_facts_hold_in_chinese_calendar() -> None:
    for day in [date(2026, 2, 14), date(2026, 2, 28), date(2025, 9, 28), date(2025, 10, 11)]:
        assert day.weekday() >= 5 and CAL.is_working_day(day), day  # make-up weekend days
    spring = [date(2026, 2, 15) + timedelta(days=i) for i in range(9)]
    national = [date(2025, 10, 1) + timedelta(days=i) for i in range(8)]
    assert not any(CAL.is_working_day(day) for day in spring + national)
    assert CAL.is_working_day(date(2026, 2, 24)) and CAL.is_working_day(date(2025, 10, 9))
    assert CAL.covers(date(2026, 12, 31)) and not CAL.covers(date(2027, 1, 1))


# ---------------------------------------------------------------------------------------------
# Across the Spring Festival 2026 and National Day 2025 breaks


def test_four_working_hours_from_16_00_on_the_last_day_before_spring_festival() -> None:
    # Sat 14 Feb (make-up day) 16:00–17:30 = 1.5 h; break 15–23 Feb; 2.5 h more from
    # Tue 24 Feb 08:30 -> 11:00.
    assert due(bj(2026, 2, 14, 16), 4, "working_hours") == bj(2026, 2, 24, 11)


def test_the_make_up_saturday_before_spring_festival_is_worked() -> None:
    # Fri 13 Feb 16:00–17:30 = 1.5 h, then Sat 14 Feb 08:30 + 2.5 h -> 11:00 the same Saturday.
    assert due(bj(2026, 2, 13, 16), 4, "working_hours") == bj(2026, 2, 14, 11)


def test_five_working_days_over_spring_festival() -> None:
    # From Thu 12 Feb 10:00, one working day ends 10:00 the next working day:
    # Fri 13 (1), Sat 14 make-up (2), [15–23 off], Tue 24 (3), Wed 25 (4), Thu 26 (5).
    assert due(bj(2026, 2, 12, 10), 5, "working_days") == bj(2026, 2, 26, 10)


def test_the_make_up_saturday_after_spring_festival_is_worked() -> None:
    # From Thu 26 Feb 10:00: Fri 27 (1), Sat 28 make-up (2), Sun 1 Mar off, Mon 2 Mar (3).
    assert due(bj(2026, 2, 26, 10), 3, "working_days") == bj(2026, 3, 2, 10)


def test_four_working_hours_from_16_00_on_the_last_day_before_national_day() -> None:
    # Tue 30 Sep 16:00–17:30 = 1.5 h; break 1–8 Oct; Thu 9 Oct 08:30 + 2.5 h -> 11:00.
    assert due(bj(2025, 9, 30, 16), 4, "working_hours") == bj(2025, 10, 9, 11)


def test_ten_working_days_over_national_day_count_both_make_up_days() -> None:
    # From Fri 26 Sep 09:00: Sun 28 make-up (1), Mon 29 (2), Tue 30 (3), [1–8 Oct off],
    # Thu 9 (4), Fri 10 (5), Sat 11 make-up (6), Mon 13 (7), Tue 14 (8), Wed 15 (9), Thu 16 (10).
    assert due(bj(2025, 9, 26, 9), 10, "working_days") == bj(2025, 10, 16, 9)


def test_a_whole_make_up_sunday_ends_at_its_close_not_the_next_morning() -> None:
    # Sat 27 Sep is off, so counting starts Sun 28 Sep 08:30; 7.5 h fill the day -> 17:30.
    assert due(bj(2025, 9, 27, 10), 1, "working_days") == bj(2025, 9, 28, 17, 30)


def test_working_time_across_national_day_counts_only_the_days_either_side() -> None:
    # Tue 30 Sep 09:00–12:00 (3 h) + 13:30–17:30 (4 h) + Thu 9 Oct 08:30–09:00 (0.5 h) = 7.5 h.
    assert hours_between(bj(2025, 9, 30, 9), bj(2025, 10, 9, 9)) == 7.5


# ---------------------------------------------------------------------------------------------
# Office-hours edges (Mon 9 – Fri 13 Mar 2026 is an ordinary working week)


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        (bj(2026, 3, 9, 12, 30), 1, bj(2026, 3, 9, 14, 30)),  # lunch: counts from 13:30
        (bj(2026, 3, 9, 20), 1, bj(2026, 3, 10, 9, 30)),  # evening: counts from 08:30 next day
        (bj(2026, 3, 9, 7), 1, bj(2026, 3, 9, 9, 30)),  # before opening
        (bj(2026, 3, 9, 12), 1, bj(2026, 3, 9, 14, 30)),  # exactly at the lunch break
        (bj(2026, 3, 9, 13, 30), 1, bj(2026, 3, 9, 14, 30)),  # exactly at reopening
        (bj(2026, 3, 9, 8, 30), 3.5, bj(2026, 3, 9, 12)),  # fills the morning: 12:00, not 13:30
        (bj(2026, 3, 9, 17, 30), 0.5, bj(2026, 3, 10, 9)),  # exactly at closing
        (bj(2026, 3, 9, 11), 4, bj(2026, 3, 9, 16, 30)),  # 1 h before lunch + 3 h after
        (bj(2026, 3, 13, 16), 4, bj(2026, 3, 16, 11)),  # Fri 16:00: 1.5 h, weekend, Mon 2.5 h
        (bj(2026, 3, 9, 8, 30, 1), 0.25, bj(2026, 3, 9, 8, 45, 1)),  # seconds are kept
    ],
)
def test_office_hours_edges(start: datetime, amount: float, expected: datetime) -> None:
    assert due(start, amount, "working_hours") == expected


def test_one_working_day_from_monday_10_00_ends_tuesday_10_00() -> None:
    assert due(bj(2026, 3, 9, 10), 1, "working_days") == bj(2026, 3, 10, 10)
    assert due(bj(2026, 3, 9, 10), 0.5, "working_days") == bj(2026, 3, 9, 15, 15)  # 2 + 1.75 h


def test_working_time_within_and_between_days() -> None:
    assert hours_between(bj(2026, 3, 9, 12, 30), bj(2026, 3, 9, 13, 30)) == 0  # lunch
    assert hours_between(bj(2026, 3, 9, 17), bj(2026, 3, 10, 9)) == 1  # 0.5 h + 0.5 h
    assert hours_between(bj(2026, 3, 13, 17), bj(2026, 3, 16, 9)) == 1  # over a weekend
    assert hours_between(bj(2026, 3, 9, 10), bj(2026, 3, 9, 10)) == 0
    assert hours_between(bj(2026, 3, 9), bj(2026, 3, 16)) == 5 * 7.5


def test_custom_office_hours() -> None:
    hours = OfficeHours(((time(9), time(17)),))  # one 8 h period
    assert hours.day_seconds == 8 * 3600
    assert due(bj(2026, 3, 9, 16), 2, "working_hours", hours) == bj(2026, 3, 10, 10)
    assert due(bj(2026, 3, 9, 13), 1, "working_days", hours) == bj(2026, 3, 10, 13)


@pytest.mark.parametrize(
    "periods",
    [
        (),
        ((time(12), time(8, 30)),),  # start after end
        ((time(9), time(9)),),  # empty
        ((time(13, 30), time(17, 30)), (time(8, 30), time(12))),  # not sorted
        ((time(8, 30), time(12)), (time(11), time(17))),  # overlapping
    ],
)
def test_bad_office_hours_are_refused(periods: tuple) -> None:
    with pytest.raises(ValueError):
        OfficeHours(periods)


# ---------------------------------------------------------------------------------------------
# 24×7 and wall-clock limits


def test_around_the_clock_hours_ignore_holidays_and_nights() -> None:
    # Tue 17 Feb 2026 is in the Spring Festival break; 24×7 counts it anyway.
    assert due(bj(2026, 2, 16, 22), 4, "working_hours", ALWAYS) == bj(2026, 2, 17, 2)
    assert due(bj(2026, 2, 15, 10), 1, "working_days", ALWAYS) == bj(2026, 2, 16, 10)
    assert hours_between(bj(2026, 2, 15), bj(2026, 2, 17), ALWAYS) == 48


def test_hours_and_minutes_limits_are_wall_clock_whatever_the_office_hours() -> None:
    # A whistle report-in of 30 minutes at 23:50 on a holiday night.
    assert due(bj(2026, 2, 15, 23, 50), 30, "minutes") == bj(2026, 2, 16, 0, 20)
    assert due(bj(2026, 3, 14, 20), 2, "hours") == bj(2026, 3, 14, 22)  # Saturday night
    limit = Limit(30, "minutes")
    assert used(bj(2026, 3, 14, 20), bj(2026, 3, 14, 20, 15), limit, HOURS, CAL) == 0.5


# ---------------------------------------------------------------------------------------------
# Years chinese_calendar does not cover


def test_a_limit_running_into_2027_falls_back_to_weekends_and_admin_holidays_with_a_warning() -> (
    None
):
    cal = WorkCalendar(holidays=[date(2027, 1, 1)])
    # From Mon 28 Dec 2026 10:00: Tue 29 (1), Wed 30 (2), Thu 31 (3), Fri 1 Jan admin holiday,
    # Sat 2/Sun 3 weekend, Mon 4 Jan (4), Tue 5 Jan (5).
    result = deadline(bj(2026, 12, 28, 10), Limit(5, "working_days"), HOURS, cal)
    assert result.at == bj(2027, 1, 5, 10)
    assert len(result.warnings) == 1 and "2027" in result.warnings[0]
    assert "未公布" in result.warnings[0] and "not yet published" in result.warnings[0]


def test_without_the_admin_holiday_new_years_day_2027_counts_as_a_weekday() -> None:
    # Thu 31 Dec (3), Fri 1 Jan (4), Mon 4 Jan (5).
    assert due(bj(2026, 12, 28, 10), 5, "working_days") == bj(2027, 1, 4, 10)


def test_the_same_limit_wholly_in_2026_carries_no_warning() -> None:
    # From Mon 21 Dec 2026 10:00, five ordinary working days -> Mon 28 Dec 10:00.
    result = deadline(bj(2026, 12, 21, 10), Limit(5, "working_days"), HOURS, CAL)
    assert result == worktime.Due(bj(2026, 12, 28, 10), ())


def test_a_limit_ending_at_the_close_of_31_december_does_not_read_2027() -> None:
    # From Mon 28 Dec 08:30 four whole working days end Thu 31 Dec 17:30.
    result = deadline(bj(2026, 12, 28, 8, 30), Limit(4, "working_days"), HOURS, CAL)
    assert result == worktime.Due(bj(2026, 12, 31, 17, 30), ())
    span = working_time(bj(2026, 12, 28), bj(2027, 1, 1), HOURS, CAL)  # ends at local midnight
    assert span.seconds == 4 * 7.5 * 3600 and span.warnings == ()


def test_admin_working_days_and_holidays_apply_in_uncovered_years() -> None:
    cal = WorkCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 2)])
    # Thu 31 Dec 16:00–17:30 = 1.5 h; Fri 1 Jan off; Sat 2 Jan worked: 08:30 + 2.5 h -> 11:00.
    result = deadline(bj(2026, 12, 31, 16), Limit(4, "working_hours"), HOURS, cal)
    assert result.at == bj(2027, 1, 2, 11) and len(result.warnings) == 1


def test_working_time_into_2027_warns_too() -> None:
    span = working_time(bj(2026, 12, 31, 9), bj(2027, 1, 4, 9), HOURS, CAL)
    # Thu 31 Dec 09:00–17:30 = 7 h; Fri 1 Jan (weekday fallback) 7.5 h; Mon 4 Jan 0.5 h.
    assert span.seconds == 15 * 3600 and len(span.warnings) == 1


def test_years_before_2004_fall_back_with_their_own_warning() -> None:
    # Wed 31 Dec 2003 16:00: 1.5 h, Thu 1 Jan 2004 is New Year's Day (covered), Fri 2 Jan 11:00.
    result = deadline(bj(2003, 12, 31, 16), Limit(4, "working_hours"), HOURS, CAL)
    assert result.at == bj(2004, 1, 2, 11)
    assert len(result.warnings) == 1 and "2003" in result.warnings[0]
    assert "no official holiday data" in result.warnings[0]


def test_admin_entries_override_the_official_calendar() -> None:
    cal = WorkCalendar(holidays=[date(2026, 3, 10)], workdays=[date(2026, 3, 14)])
    # From Mon 9 Mar 10:00: Tue 10 off (admin), Wed 11 (1), Thu 12 (2), Fri 13 (3), Sat 14 (4).
    assert due(bj(2026, 3, 9, 10), 4, "working_days", cal=cal) == bj(2026, 3, 14, 10)
    with pytest.raises(ValueError):
        WorkCalendar(holidays=[date(2026, 3, 10)], workdays=[date(2026, 3, 10)])


def test_the_calendar_asks_chinese_calendar_once_per_date(monkeypatch) -> None:
    asked: list[date] = []

    def counting(day: date) -> bool:
        asked.append(day)
        return chinese_calendar.utils.is_workday(day)

    monkeypatch.setattr(worktime.chinese_calendar, "is_workday", counting)
    cal = WorkCalendar()
    for _ in range(3):
        deadline(bj(2026, 3, 9, 10), Limit(5, "working_days"), HOURS, cal)
    assert len(asked) == len(set(asked)) == 8  # Mon 9 … Mon 16 Mar


# ---------------------------------------------------------------------------------------------
# Pauses (suspension 挂起 stops the clock)


def test_a_two_hour_suspension_in_office_hours_makes_the_deadline_two_hours_later() -> None:
    start, limit = bj(2026, 3, 9, 8, 30), Limit(4, "working_hours")
    # Unpaused: 08:30–12:00 (3.5 h) + 13:30–14:00 -> 14:00.
    assert deadline(start, limit, HOURS, CAL).at == bj(2026, 3, 9, 14)
    # Paused 09:00–11:00: 08:30–09:00 (0.5) + 11:00–12:00 (1) + 13:30–16:00 (2.5) -> 16:00.
    pause = [(bj(2026, 3, 9, 9), bj(2026, 3, 9, 11))]
    assert deadline(start, limit, HOURS, CAL, pauses=pause).at == bj(2026, 3, 9, 16)
    assert hours_between(start, bj(2026, 3, 9, 16), pauses=pause) == 4
    assert used(start, bj(2026, 3, 9, 16), limit, HOURS, CAL, pauses=pause) == 1.0
    assert used(start, bj(2026, 3, 9, 14), limit, HOURS, CAL, pauses=pause) == 0.5


def test_an_open_pause_runs_to_the_end_of_the_span() -> None:
    # Worked 08:30–11:00 = 2.5 h, suspended since 11:00 and still suspended at 16:00.
    pause = [(bj(2026, 3, 9, 11), None)]
    assert hours_between(bj(2026, 3, 9, 8, 30), bj(2026, 3, 9, 16), pauses=pause) == 2.5
    with pytest.raises(ValueError):
        deadline(bj(2026, 3, 9, 8, 30), Limit(4, "working_hours"), HOURS, CAL, pauses=pause)


def test_overlapping_pauses_count_once() -> None:
    # 09:00–10:30 and 10:00–11:00 (and 09:30–10:00 inside) stop the clock 09:00–11:00 only:
    # 08:30–16:00 is 6 h of working time, less 2 h -> 4 h.
    pauses = [
        (bj(2026, 3, 9, 10), bj(2026, 3, 9, 11)),
        (bj(2026, 3, 9, 9), bj(2026, 3, 9, 10, 30)),
        (bj(2026, 3, 9, 9, 30), bj(2026, 3, 9, 10)),
    ]
    assert hours_between(bj(2026, 3, 9, 8, 30), bj(2026, 3, 9, 16), pauses=pauses) == 4
    nested = [(bj(2026, 3, 9, 9), bj(2026, 3, 9, 11)), (bj(2026, 3, 9, 9, 30), bj(2026, 3, 9, 10))]
    assert hours_between(bj(2026, 3, 9, 8, 30), bj(2026, 3, 9, 16), pauses=nested) == 4


def test_a_pause_over_lunch_and_before_the_start_only_removes_working_time() -> None:
    # Pause 11:00–14:00 removes 11:00–12:00 and 13:30–14:00 = 1.5 h of the 6 h in 08:30–16:00.
    lunch = [(bj(2026, 3, 9, 11), bj(2026, 3, 9, 14))]
    assert hours_between(bj(2026, 3, 9, 8, 30), bj(2026, 3, 9, 16), pauses=lunch) == 4.5
    # A pause from Sunday to 09:30 Monday removes only Monday 08:30–09:30.
    early = [(bj(2026, 3, 8, 12), bj(2026, 3, 9, 9, 30))]
    assert hours_between(bj(2026, 3, 9, 8, 30), bj(2026, 3, 9, 16), pauses=early) == 5


def test_a_pause_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        working_time(
            bj(2026, 3, 9), bj(2026, 3, 10), HOURS, CAL, [(bj(2026, 3, 9, 11), bj(2026, 3, 9, 10))]
        )


# ---------------------------------------------------------------------------------------------
# Lights and thresholds


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0, Light.GREEN), (0.79, Light.GREEN), (0.8, Light.YELLOW), (1.0, Light.YELLOW)]
    + [(1.01, Light.RED)],
)
def test_lights(fraction: float, expected: Light) -> None:
    assert light(fraction) is expected


def test_light_labels_and_a_custom_yellow_threshold() -> None:
    assert [x.zh for x in Light] == ["绿灯", "黄灯", "红灯"]
    assert Light.RED.label("en") == "red" and Light.RED == "red"
    assert light(0.85, yellow_at=0.9) is Light.GREEN
    with pytest.raises(ValueError):
        light(0.5, yellow_at=0)


def test_threshold_times_for_four_working_hours() -> None:
    start, limit = bj(2026, 3, 9, 8, 30), Limit(4, "working_hours")
    # 80 % of 4 h = 3 h 12 min -> 11:42; due 08:30 + 3.5 h + 0.5 h -> 14:00.
    yellow, due_at = threshold_times(start, limit, HOURS, CAL)
    assert (yellow, due_at) == (bj(2026, 3, 9, 11, 42), bj(2026, 3, 9, 14))
    tick = timedelta(microseconds=1)

    def at(moment: datetime) -> Light:
        return light(used(start, moment, limit, HOURS, CAL))

    lights = [at(yellow - tick), at(yellow), at(due_at), at(due_at + tick)]
    assert lights == [Light.GREEN, Light.YELLOW, Light.YELLOW, Light.RED]


def test_after_a_deadline_at_closing_time_the_light_turns_red_with_the_next_working_moment() -> (
    None
):
    # 1 working day from Friday 20:00 counts from Monday 08:30 and is due Monday 17:30. The
    # evening after is not working time: still exactly 100 % used (yellow) until Tue 08:30.
    start, limit = bj(2026, 3, 13, 20), Limit(1, "working_days")
    assert deadline(start, limit, HOURS, CAL).at == bj(2026, 3, 16, 17, 30)
    assert used(start, bj(2026, 3, 16, 22), limit, HOURS, CAL) == 1.0
    assert light(used(start, bj(2026, 3, 17, 8, 31), limit, HOURS, CAL)) is Light.RED


def test_threshold_times_for_ten_working_days() -> None:
    # From Mon 9 Mar 10:00: 8 working days -> Thu 19 Mar 10:00; 10 -> Mon 23 Mar 10:00.
    yellow, due_at = threshold_times(bj(2026, 3, 9, 10), Limit(10, "working_days"), HOURS, CAL)
    assert (yellow, due_at) == (bj(2026, 3, 19, 10), bj(2026, 3, 23, 10))


def test_a_yellow_threshold_of_one_is_the_deadline() -> None:
    start, limit = bj(2026, 3, 9, 8, 30), Limit(3.5, "working_hours")
    # The limit ends exactly at 12:00, the end of a period: both instants are 12:00, not 13:30.
    assert threshold_times(start, limit, HOURS, CAL, yellow_at=1) == (bj(2026, 3, 9, 12),) * 2


# ---------------------------------------------------------------------------------------------
# Timezones


def test_naive_datetimes_are_refused() -> None:
    naive, aware = datetime(2026, 3, 9, 10), bj(2026, 3, 9, 10)
    limit = Limit(1, "working_hours")
    for call in [
        lambda: deadline(naive, limit, HOURS, CAL),
        lambda: working_time(naive, aware, HOURS, CAL),
        lambda: working_time(aware, naive, HOURS, CAL),
        lambda: working_time(aware, aware, HOURS, CAL, [(naive, None)]),
        lambda: used(aware, naive, limit, HOURS, CAL),
        lambda: threshold_times(naive, limit, HOURS, CAL),
    ]:
        with pytest.raises(ValueError, match="naive"):
            call()


def test_results_are_utc_and_other_aware_inputs_are_the_same_instant() -> None:
    local = datetime(2026, 3, 9, 16, tzinfo=BEIJING)
    result = due(local, 4, "working_hours")
    assert result.tzinfo is UTC and result == datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # 11:00


def test_office_hours_follow_local_time_across_a_dst_change() -> None:
    # Berlin moves to CEST on Sun 29 Mar 2026; 1 working day from Fri 27 Mar 10:00 CET ends
    # Mon 30 Mar 10:00 CEST, 08:00 UTC; 2 wall hours from 01:30 CET (00:30 UTC) end 02:30 UTC.
    berlin = WorkCalendar(tz="Europe/Berlin")
    start = datetime(2026, 3, 27, 9, tzinfo=UTC)
    assert due(start, 1, "working_days", cal=berlin) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    night = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert due(night, 2, "hours", cal=berlin) == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)


def test_limits_are_validated() -> None:
    for amount, unit in [(0, "working_hours"), (-1, "hours"), (float("nan"), "minutes")]:
        with pytest.raises(ValueError):
            Limit(amount, unit)
    with pytest.raises(ValueError):
        Limit(1, "weeks")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Properties: deadline and working_time agree, and match a minute-by-minute oracle

STARTS = st.datetimes(datetime(2003, 12, 1), datetime(2027, 3, 1)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
# (office hours, its working-day length in hours, worked out by hand)
HOURS_CHOICES = [(HOURS, 7.5), (OfficeHours(((time(9), time(17)),)), 8.0), (ALWAYS, 24.0)]
LIMITS = st.one_of(
    st.builds(Limit, st.floats(0.01, 60), st.just("working_hours")),
    st.builds(Limit, st.floats(0.01, 25), st.just("working_days")),
    st.builds(Limit, st.floats(0.01, 200), st.just("hours")),
    st.builds(Limit, st.floats(0.5, 3000), st.just("minutes")),
)


def expected_seconds(limit: Limit, day_hours: float) -> float:
    per_unit = {"working_hours": 3600, "hours": 3600, "minutes": 60}
    return limit.amount * per_unit.get(limit.unit, day_hours * 3600)


@settings(max_examples=300, deadline=None)
@given(STARTS, LIMITS, st.sampled_from(HOURS_CHOICES))
def test_working_time_up_to_the_deadline_is_the_limit(start, limit, choice) -> None:
    hours, day_hours = choice
    result = deadline(start, limit, hours, CAL)
    assert result.at.tzinfo is UTC and result.at >= start
    counted_on = ALWAYS if limit.unit in ("hours", "minutes") else hours
    span = working_time(start, result.at, counted_on, CAL)
    assert span.seconds == pytest.approx(expected_seconds(limit, day_hours), abs=1)
    assert span.warnings == result.warnings
    assert used(start, result.at, limit, hours, CAL) == 1.0
    assert used(start, result.at - timedelta(microseconds=1), limit, hours, CAL) < 1.0
    if limit.unit in ("hours", "minutes"):
        wall = (result.at - start).total_seconds()
        assert wall == pytest.approx(expected_seconds(limit, day_hours), abs=1e-5)


@settings(max_examples=200, deadline=None)
@given(STARTS, LIMITS, st.floats(0.05, 1.0))
def test_threshold_times_are_where_the_light_changes(start, limit, yellow_at) -> None:
    yellow, due_at = threshold_times(start, limit, HOURS, CAL, yellow_at=yellow_at)
    assert due_at == deadline(start, limit, HOURS, CAL).at and start <= yellow <= due_at
    assert light(used(start, yellow, limit, HOURS, CAL), yellow_at) is not Light.GREEN
    before = yellow - timedelta(microseconds=1)
    if before >= start:
        assert light(used(start, before, limit, HOURS, CAL), yellow_at) is Light.GREEN


@cache
def official_workday(day: date) -> bool:
    return chinese_calendar.is_workday(day)


def is_office_minute(local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    in_period = 510 <= minute < 720 or 810 <= minute < 1050  # 08:30–12:00, 13:30–17:30
    return in_period and official_workday(local.date())


def oracle_deadline(start_local: datetime, minutes: int) -> datetime:
    """Step one local minute at a time, written independently of the module."""
    t = start_local
    while minutes:
        if is_office_minute(t):
            minutes -= 1
        t += timedelta(minutes=1)
    return t


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 1)).map(
        lambda t: t.replace(second=0, microsecond=0)
    ),
    st.integers(1, 40 * 60),
)
def test_deadline_matches_a_minute_by_minute_oracle(start_local, minutes) -> None:
    start = start_local.replace(tzinfo=BEIJING).astimezone(UTC)
    expected = oracle_deadline(start_local, minutes).replace(tzinfo=BEIJING).astimezone(UTC)
    assert due(start, minutes / 60, "working_hours") == expected


def oracle_working_minutes(start_local: datetime, end_local: datetime, paused: set) -> int:
    t, minutes = start_local, 0
    while t < end_local:
        minutes += is_office_minute(t) and t not in paused
        t += timedelta(minutes=1)
    return minutes


LOCAL_MINUTES = st.datetimes(datetime(2025, 1, 1), datetime(2026, 12, 1)).map(
    lambda t: t.replace(second=0, microsecond=0)
)
PAUSES = st.lists(st.tuples(st.integers(-600, 12_000), st.integers(0, 3_000)), max_size=4)


@settings(max_examples=150, deadline=None)
@given(LOCAL_MINUTES, st.integers(0, 14 * 1440), PAUSES)
def test_working_time_matches_a_minute_by_minute_oracle(start_local, length, pauses) -> None:
    # Pauses are (offset from start, length) in minutes; they may begin before the start.
    end_local = start_local + timedelta(minutes=length)
    spans = [(start_local + timedelta(minutes=o), timedelta(minutes=n)) for o, n in pauses]
    paused = {a + timedelta(minutes=i) for a, n in spans for i in range(n // timedelta(minutes=1))}

    def utc(local: datetime) -> datetime:
        return local.replace(tzinfo=BEIJING).astimezone(UTC)

    closed = [(utc(a), utc(a + n)) for a, n in spans]
    span = working_time(utc(start_local), utc(end_local), HOURS, CAL, closed)
    assert span.seconds == 60 * oracle_working_minutes(start_local, end_local, paused)


@settings(max_examples=150, deadline=None)
@given(STARTS, LIMITS, PAUSES)
def test_deadline_with_pauses_agrees_with_working_time(start, limit, pauses) -> None:
    closed = [(start + timedelta(minutes=o), start + timedelta(minutes=o + n)) for o, n in pauses]
    result = deadline(start, limit, HOURS, CAL, pauses=closed)
    counted_on = ALWAYS if limit.unit in ("hours", "minutes") else HOURS
    span = working_time(start, result.at, counted_on, CAL, pauses=closed)
    assert span.seconds == pytest.approx(expected_seconds(limit, 7.5), abs=1)
    assert used(start, result.at, limit, HOURS, CAL, pauses=closed) == 1.0
