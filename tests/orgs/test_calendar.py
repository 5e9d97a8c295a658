"""The working calendar (工作日历) and units' office hours (办公时间): the official holidays with
the admin's entries over them, what the stage clocks count, the API (admins write) and the CLI.

The `clock` fixture stands at Monday 2026-11-02 17:00 in Shanghai (09:00 UTC), half an hour
before the default office hours close; 2026-11-03 is an ordinary Tuesday."""

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.cases import service
from chengzhi.cli.main import app
from chengzhi.demo.build import DEMO_PASSWORD
from chengzhi.deps import get_clock
from chengzhi.errors import InvalidInput, NotFound
from chengzhi.models import CalendarDay, OrgUnit, Person, Role
from chengzhi.orgs import calendar
from chengzhi.orgs import service as orgs
from chengzhi.regions import service as regions
from tests.cases.conftest import appeal

TREE = "code,name\n12,天津市\n120101,和平区\n120101001,劝业场街道\n120101001001,花园社区\n"
STREET = "S120101001"  # 劝业场街道办事处, made by scaffold_units
PASSWORD = "calendar-test-2026"
TYPHOON = date(2026, 11, 3)  # an ordinary Tuesday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Shanghai is UTC+8 (no DST): local Tuesday 09:00 is 01:00 UTC.
TUESDAY_0900 = utc(2026, 11, 3, 1, 0)


@pytest.fixture
def tree(session, tmp_path):
    """One city, district, street and community, with the units every city has."""
    path = tmp_path / "tree.csv"
    path.write_text(TREE, "utf-8")
    regions.import_divisions(session, path)
    orgs.scaffold_units(session)


# ---------------------------------------------------------------------------------------------
# Calendar entries over the official calendar


def by_day(year_calendar: calendar.YearCalendar) -> dict[date, calendar.DayEntry]:
    return {d.day: d for d in year_calendar.days}


def test_2025_lists_the_national_day_holidays_and_the_make_up_working_days(session):
    found = calendar.list_days(session, 2025)
    assert (found.year, found.covered, found.warning) == (2025, True, None)
    days = by_day(found)
    golden_week = [days[date(2025, 10, d)] for d in range(1, 9)]
    assert all(not d.working and d.source == "official" for d in golden_week)
    assert [d.name for d in golden_week].count("国庆节") == 7
    assert days[date(2025, 10, 6)].name == "中秋"  # 2025: Mid-autumn inside the golden week
    for make_up in (date(2025, 9, 28), date(2025, 10, 11)):  # a Sunday and a Saturday
        assert days[make_up] == calendar.DayEntry(make_up, True, "国庆节调休上班", "official")
    assert days[date(2025, 1, 26)].name == "春节调休上班"
    assert date(2025, 10, 18) not in days  # an ordinary weekend is no special day
    assert [d.day for d in found.days] == sorted(days)
    assert all(d.day.year == 2025 for d in found.days)


def test_an_admin_entry_wins_over_the_official_one_and_names_it(session, clock):
    calendar.set_day(session, clock, date(2025, 10, 11), False, "台风停工", None)
    calendar.set_day(session, clock, date(2025, 10, 14), False, " 防汛停工 ", None)
    days = by_day(calendar.list_days(session, 2025))
    assert days[date(2025, 10, 11)] == calendar.DayEntry(
        date(2025, 10, 11), False, "台风停工", "admin", "国庆节调休上班"
    )
    assert days[date(2025, 10, 14)] == calendar.DayEntry(
        date(2025, 10, 14), False, "防汛停工", "admin", None
    )
    assert date(2025, 10, 14) not in by_day(calendar.list_days(session, 2024))


def test_setting_a_day_again_replaces_its_entry(session, clock):
    first = calendar.set_day(session, clock, TYPHOON, False, "台风停工", None)
    again = calendar.set_day(session, clock, TYPHOON, True, "补班", None)
    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 1
    entry = by_day(calendar.list_days(session, 2026))[TYPHOON]
    assert (entry.working, entry.name, entry.source) == (True, "补班", "admin")


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "a name is required"), ("   ", "a name is required"), ("长" * 65, "longer than 64")],
)
def test_a_day_needs_a_short_name(session, clock, name, message):
    with pytest.raises(InvalidInput, match=message):
        calendar.set_day(session, clock, TYPHOON, False, name, None)
    calendar.set_day(session, clock, TYPHOON, False, "长" * 64, None)  # 64 is allowed
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 1


def test_years_outside_1990_to_2200_are_refused(session, clock):
    for year in (1989, 2201):
        with pytest.raises(InvalidInput, match="year must be 1990–2200"):
            calendar.list_days(session, year)
        with pytest.raises(InvalidInput, match="year must be 1990–2200"):
            calendar.set_day(session, clock, date(year, 6, 1), False, "停工", None)
    assert calendar.list_days(session, 1990).covered is False
    assert calendar.list_days(session, 2200).year == 2200
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 0


def test_a_year_the_official_calendar_does_not_cover_warns_and_lists_admin_entries(session, clock):
    calendar.set_day(session, clock, date(2199, 5, 4), False, "地方节日", None)
    found = calendar.list_days(session, 2199)
    assert found.covered is False
    assert "2199" in found.warning and "no official holiday data for 2199" in found.warning
    assert found.days == [calendar.DayEntry(date(2199, 5, 4), False, "地方节日", "admin")]


def test_removing_an_entry_that_does_not_exist_is_not_found(session, clock):
    with pytest.raises(NotFound, match="no calendar entry for 2026-11-03"):
        calendar.remove_day(session, TYPHOON)
    calendar.set_day(session, clock, TYPHOON, False, "台风停工", None)
    calendar.remove_day(session, TYPHOON)
    assert TYPHOON not in by_day(calendar.list_days(session, 2026))


# ---------------------------------------------------------------------------------------------
# The cached WorkCalendar


def test_the_work_calendar_is_reused_until_the_entries_change(session, clock):
    plain = calendar.work_calendar(session)
    assert calendar.work_calendar(session) is plain and plain.is_working_day(TYPHOON)

    calendar.set_day(session, clock, TYPHOON, False, "台风停工", None)
    closed = calendar.work_calendar(session)
    assert closed is not plain and not closed.is_working_day(TYPHOON)
    assert calendar.work_calendar(session) is closed

    calendar.set_day(session, clock, TYPHOON, True, "照常上班", None)  # updated in place
    open_again = calendar.work_calendar(session)
    assert open_again is not closed and open_again.is_working_day(TYPHOON)
    assert TYPHOON in open_again.workdays

    calendar.set_day(session, clock, TYPHOON, True, "改个名字", None)  # names do not count
    assert calendar.work_calendar(session) is open_again

    calendar.remove_day(session, TYPHOON)
    restored = calendar.work_calendar(session)
    assert restored is not open_again and restored.is_working_day(TYPHOON)
    assert not restored.holidays and not restored.workdays


def test_a_delete_and_reinsert_that_reuses_the_id_rebuilds_the_calendar(session, clock):
    calendar.set_day(session, clock, TYPHOON, False, "台风停工", None)
    before = calendar.work_calendar(session)
    calendar.remove_day(session, TYPHOON)
    calendar.set_day(session, clock, date(2026, 11, 4), False, "台风停工", None)  # SQLite: same id
    after = calendar.work_calendar(session)
    assert after.is_working_day(TYPHOON) and not after.is_working_day(date(2026, 11, 4))
    assert before.is_working_day(date(2026, 11, 4))


def test_replacing_two_entries_rebuilds_the_calendar(session, clock):
    calendar.set_day(session, clock, date(2026, 10, 20), False, "停工", None)
    calendar.set_day(session, clock, date(2026, 10, 28), False, "停工", None)
    calendar.work_calendar(session)
    calendar.remove_day(session, date(2026, 10, 20))
    calendar.remove_day(session, date(2026, 10, 28))
    # On SQLite these take ids 1 and 2 again: 20261022 + 2 × 20261027 == 20261020 + 2 × 20261028.
    calendar.set_day(session, clock, date(2026, 10, 22), False, "停工", None)
    calendar.set_day(session, clock, date(2026, 10, 27), False, "停工", None)
    rebuilt = calendar.work_calendar(session)
    assert rebuilt.holidays == {date(2026, 10, 22), date(2026, 10, 27)}


# ---------------------------------------------------------------------------------------------
# What the stage clocks count


def filed(session, clock, city):
    """暴露垃圾 (matter 06010) filed now: the dispatch stage, 1 working hour, no unit yet."""
    case = service.register_case(session, clock, city.actors["operator"], appeal(city))
    return service.file_case(session, clock, city.actors["dispatcher"], case.number)


def dispatched(session, clock, city):
    """Dispatched now to the street office (属地): the sign stage, 1 working hour."""
    case = filed(session, clock, city)
    return service.dispatch_case(session, clock, city.actors["dispatcher"], case.number)


def test_a_typhoon_closure_moves_the_due_time_of_a_stage_started_the_day_before(
    session, clock, city
):
    # Monday 17:00 + 30 min to closing, then Tuesday 08:30–09:00.
    before = filed(session, clock, city)
    assert (before.yellow_at, before.due_at) == (utc(2026, 11, 3, 0, 48), TUESDAY_0900)

    calendar.set_day(session, clock, TYPHOON, False, "台风停工", None)
    closed = filed(session, clock, city)
    assert closed.due_at == utc(2026, 11, 4, 1, 0)  # Wednesday 09:00: Tuesday does not count
    assert closed.yellow_at == utc(2026, 11, 4, 0, 48)
    assert before.due_at == TUESDAY_0900  # a clock already started keeps its instants

    calendar.remove_day(session, TYPHOON)
    again = filed(session, clock, city)
    assert (again.yellow_at, again.due_at) == (before.yellow_at, before.due_at)


def test_an_admin_working_day_on_a_weekend_counts(session, clock, city):
    clock.advance(days=4)  # Friday 2026-11-06, 17:00
    friday = filed(session, clock, city)
    assert friday.due_at == utc(2026, 11, 9, 1, 0)  # Monday 09:00
    calendar.set_day(session, clock, date(2026, 11, 7), True, "补班", None)
    make_up = filed(session, clock, city)
    assert make_up.due_at == utc(2026, 11, 7, 1, 0)  # Saturday 09:00


def test_the_handling_units_office_hours_decide_its_clock(session, clock, city):
    street = session.get(OrgUnit, city.actors["street_staff"].unit_id)
    default = dispatched(session, clock, city)
    assert default.unit_id == street.id and default.stage == "sign"
    assert default.due_at == TUESDAY_0900

    calendar.set_office_hours(session, street.code, always=True)
    around_the_clock = dispatched(session, clock, city)
    assert around_the_clock.due_at == utc(2026, 11, 2, 10, 0)  # Monday 18:00, an hour later
    assert around_the_clock.due_at < default.due_at
    # Before dispatch no unit handles the case: the city's default hours, whatever the street's.
    assert filed(session, clock, city).due_at == TUESDAY_0900

    calendar.set_office_hours(session, street.code, [["09:00", "12:00"], ["14:00", "17:15"]])
    own = dispatched(session, clock, city)
    assert own.due_at == utc(2026, 11, 3, 1, 45)  # 15 min on Monday, 45 on Tuesday from 09:00

    calendar.set_office_hours(session, street.code)
    assert dispatched(session, clock, city).due_at == TUESDAY_0900


# ---------------------------------------------------------------------------------------------
# Office hours


def test_office_hours_default_own_periods_and_around_the_clock(session, tree):
    unit = orgs.find_unit(session, STREET)
    assert unit.office_hours is None and calendar.office_hours(unit) == calendar.DEFAULT_HOURS
    assert calendar.office_hours(None) == calendar.DEFAULT_HOURS

    calendar.set_office_hours(session, STREET, [["08:00", "12:00"], ["14:00", "18:00"]])
    assert unit.office_hours == {"periods": [["08:00", "12:00"], ["14:00", "18:00"]]}
    hours = calendar.office_hours(unit)
    assert not hours.around_the_clock and hours.day_seconds == 8 * 3600
    assert [(calendar.hhmm(s), calendar.hhmm(e)) for s, e in hours.periods] == [
        ("08:00", "12:00"),
        ("14:00", "18:00"),
    ]

    calendar.set_office_hours(session, STREET, always=True)
    assert unit.office_hours == {"around_the_clock": True}
    assert calendar.office_hours(unit) == calendar.ALWAYS

    calendar.set_office_hours(session, STREET)
    assert unit.office_hours is None and calendar.office_hours(unit) == calendar.DEFAULT_HOURS


@pytest.mark.parametrize(
    ("periods", "always", "message"),
    [
        ([["08:30", "12:00"], ["11:30", "17:30"]], False, "must not overlap"),
        ([["13:30", "17:30"], ["08:30", "12:00"]], False, "sorted"),
        ([["12:00", "08:30"]], False, "the start must be before the end"),
        ([["08:30", "08:30"]], False, "the start must be before the end"),
        ([], False, "at least one working period"),
        ([["8:30", "12:00"]], False, "two HH:MM times"),
        ([["08:30", "24:00"]], False, "two HH:MM times"),
        ([["08:30", "12:60"]], False, "two HH:MM times"),
        ([["08:30"]], False, "two HH:MM times"),
        ([["08:30", "12:00", "13:00"]], False, "two HH:MM times"),
        ([["08:30", "12:00"]], True, "around-the-clock hours take no periods"),
    ],
)
def test_invalid_office_hours_are_refused_and_change_nothing(
    session, tree, periods, always, message
):
    calendar.set_office_hours(session, STREET, [["09:00", "17:00"]])
    with pytest.raises(InvalidInput, match=message):
        calendar.set_office_hours(session, STREET, periods, always=always)
    assert orgs.find_unit(session, STREET).office_hours == {"periods": [["09:00", "17:00"]]}


def test_office_hours_of_an_unknown_unit_are_not_found(session, tree):
    with pytest.raises(NotFound, match="no such org unit"):
        calendar.set_office_hours(session, "S999", always=True)


# ---------------------------------------------------------------------------------------------
# The API


@pytest.fixture
def api(client, session, clock, tree):
    for role in (Role.ADMIN, Role.DISPATCHER, Role.STREET_STAFF):
        orgs.create_person(session, clock, "测试", role, username=role.value, password=PASSWORD)
    client.app.dependency_overrides[get_clock] = lambda: clock
    return client


def login(api, username: str, password: str = PASSWORD) -> dict:
    body = api.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert body.status_code == 200, body.text
    api.cookies = {}  # the bearer token only, so a request without it is anonymous
    return {"Authorization": f"Bearer {body.json()['token']}"}


def test_anyone_logged_in_reads_a_years_calendar(api):
    staff = login(api, "street_staff")
    response = api.get("/api/v1/calendar", params={"year": 2025}, headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["year"], body["covered"], body["warning"]) == (2025, True, None)
    days = {d["day"]: d for d in body["days"]}
    assert days["2025-10-01"] == {
        "day": "2025-10-01",
        "working": False,
        "name": "国庆节",
        "source": "official",
        "official": None,
    }
    assert days["2025-10-11"]["working"] is True and days["2025-10-11"]["name"] == "国庆节调休上班"
    assert api.get("/api/v1/calendar", headers=staff).json()["year"] == 2026  # the clock's year
    uncovered = api.get("/api/v1/calendar", params={"year": 2199}, headers=staff).json()
    assert uncovered["covered"] is False and "2199" in uncovered["warning"]
    for year in (1989, 2201, "next"):
        assert api.get("/api/v1/calendar", params={"year": year}, headers=staff).status_code == 422
    assert api.get("/api/v1/calendar", params={"year": 2025}).status_code == 401


def test_an_admin_sets_and_removes_a_day_and_others_may_not(api, session):
    admin, dispatcher = login(api, "admin"), login(api, "dispatcher")
    url, body = "/api/v1/calendar/days/2026-11-03", {"working": False, "name": "台风停工"}
    refused = api.put(url, json=body, headers=dispatcher)
    assert refused.status_code == 403 and "administrators only" in refused.json()["detail"]
    assert api.put(url, json=body).status_code == 401
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 0

    response = api.put(url, json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "day": "2026-11-03",
        "working": False,
        "name": "台风停工",
        "source": "admin",
        "official": None,
    }
    entry = session.scalar(select(CalendarDay))
    admin_id = session.scalar(select(Person.id).where(Person.username == "admin"))
    assert entry.created_by_id == admin_id
    listed = api.get("/api/v1/calendar", params={"year": 2026}, headers=dispatcher).json()
    assert {"day": "2026-11-03", "source": "admin"}.items() <= next(
        d for d in listed["days"] if d["day"] == "2026-11-03"
    ).items()
    assert not calendar.work_calendar(session).is_working_day(TYPHOON)

    assert api.delete(url, headers=dispatcher).status_code == 403
    assert api.delete(url).status_code == 401
    assert api.delete(url, headers=admin).status_code == 204
    assert calendar.work_calendar(session).is_working_day(TYPHOON)
    gone = api.delete(url, headers=admin)
    assert gone.status_code == 404 and "no calendar entry" in gone.json()["detail"]
    # Over an official holiday, the answer names the entry it replaces.
    body = {"working": True, "name": "抢险值守"}
    over = api.put("/api/v1/calendar/days/2025-10-02", json=body, headers=admin).json()
    assert (over["source"], over["official"]) == ("admin", "国庆节")


@pytest.mark.parametrize(
    ("day", "body"),
    [
        ("2026-11-03", {"working": False, "name": ""}),
        ("2026-11-03", {"working": False, "name": "   "}),
        ("2026-11-03", {"working": False, "name": "长" * 65}),
        ("2026-11-03", {"name": "台风停工"}),
        ("2026-11-03", {"working": "sometimes", "name": "台风停工"}),
        ("2026-13-03", {"working": False, "name": "台风停工"}),
        ("2300-01-02", {"working": False, "name": "台风停工"}),
        ("1989-12-29", {"working": False, "name": "台风停工"}),
    ],
)
def test_bad_days_and_names_are_refused(api, session, day, body):
    response = api.put(f"/api/v1/calendar/days/{day}", json=body, headers=login(api, "admin"))
    assert response.status_code == 422, response.text
    assert session.scalar(select(func.count()).select_from(CalendarDay)) == 0


def test_an_admin_sets_a_units_office_hours_and_others_read_them(api, session):
    admin, staff = login(api, "admin"), login(api, "street_staff")
    url = f"/api/v1/orgs/units/{STREET}/office-hours"
    shown = api.get(url, headers=staff)
    assert shown.status_code == 200, shown.text
    assert shown.json() == {
        "unit_code": STREET,
        "unit_name": "劝业场街道办事处",
        "default": True,
        "around_the_clock": False,
        "periods": [["08:30", "12:00"], ["13:30", "17:30"]],
        "working_day_hours": 7.5,
    }
    assert api.get(url).status_code == 401

    own = {"periods": [["08:00", "12:00"], ["14:00", "18:00"]]}
    assert api.put(url, json=own, headers=staff).status_code == 403
    assert api.put(url, json=own).status_code == 401
    assert orgs.find_unit(session, STREET).office_hours is None
    response = api.put(url, json=own, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["periods"] == own["periods"]
    assert response.json()["default"] is False and response.json()["working_day_hours"] == 8

    always = api.put(url, json={"around_the_clock": True}, headers=admin).json()
    assert always["around_the_clock"] is True and always["periods"] == []
    assert always["working_day_hours"] == 24
    assert api.get(url, headers=staff).json() == always

    back = api.put(url, json={}, headers=admin).json()
    assert back["default"] is True and back["working_day_hours"] == 7.5
    missing = api.put("/api/v1/orgs/units/S999/office-hours", json={}, headers=admin)
    assert missing.status_code == 404
    assert api.get("/api/v1/orgs/units/S999/office-hours", headers=staff).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"periods": [["08:30", "12:00"], ["11:00", "17:30"]]}, "must not overlap"),
        ({"periods": [["8:30", "12:00"]]}, "two HH:MM times"),
        ({"periods": [["08:30", "12:00"]], "around_the_clock": True}, "take no periods"),
    ],
)
def test_invalid_office_hours_over_the_api_are_refused(api, session, body, message):
    url = f"/api/v1/orgs/units/{STREET}/office-hours"
    response = api.put(url, json=body, headers=login(api, "admin"))
    assert response.status_code == 422 and message in response.json()["detail"]
    assert orgs.find_unit(session, STREET).office_hours is None


def test_a_demo_admin_closes_a_day_and_the_next_clock_counts_it(client, session, clock, city):
    """The whole path: the HTTP write lands in the database the next case's clock reads."""
    client.app.dependency_overrides[get_clock] = lambda: clock
    admin = login(client, "admin", DEMO_PASSWORD)
    response = client.put(
        f"/api/v1/calendar/days/{TYPHOON}", json={"working": False, "name": "台风"}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert filed(session, clock, city).due_at == utc(2026, 11, 4, 1, 0)


# ---------------------------------------------------------------------------------------------
# The CLI

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_calendar_list_set_and_unset(cli_env):
    assert run("init").exit_code == 0
    listed = run("calendar", "list", "--year", "2025", "--json")
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.output)
    assert found["covered"] is True and found["warning"] is None
    days = {d["day"]: d for d in found["days"]}
    assert days["2025-10-01"]["name"] == "国庆节" and days["2025-10-11"]["working"] is True

    result = run("calendar", "set", "2026-11-03", "--holiday", "--name", "台风停工")
    assert result.exit_code == 0, result.output
    assert "2026-11-03" in result.output and "台风停工" in result.output
    assert run("calendar", "set", "2026-10-01", "--workday", "--name", "补班").exit_code == 0
    days = {
        d["day"]: d
        for d in json.loads(run("calendar", "list", "--year", "2026", "--json").output)["days"]
    }
    assert days["2026-11-03"] == {
        "day": "2026-11-03",
        "working": False,
        "name": "台风停工",
        "source": "admin",
        "official": None,
    }
    assert days["2026-10-01"]["working"] is True and days["2026-10-01"]["official"] == "国庆节"
    table = run("calendar", "list", "--year", "2026")
    assert table.exit_code == 0 and "台风停工" in table.output
    with db.transaction() as session:  # what the clocks of the next cases will count
        assert not calendar.work_calendar(session).is_working_day(TYPHOON)

    assert run("calendar", "unset", "2026-11-03").exit_code == 0
    again = run("calendar", "unset", "2026-11-03")
    assert again.exit_code == 1 and "no calendar entry" in again.output
    with db.transaction() as session:
        assert calendar.work_calendar(session).is_working_day(TYPHOON)


def test_calendar_commands_refuse_bad_input(cli_env):
    run("init")
    neither = run("calendar", "set", "2026-11-03", "--name", "台风停工")
    assert neither.exit_code == 1 and "exactly one" in neither.output
    both = run("calendar", "set", "2026-11-03", "--holiday", "--workday", "--name", "x")
    assert both.exit_code == 1 and "exactly one" in both.output
    bad_date = run("calendar", "set", "2026-13-03", "--holiday", "--name", "台风停工")
    assert bad_date.exit_code == 1 and "YYYY-MM-DD" in bad_date.output
    blank = run("calendar", "set", "2026-11-03", "--holiday", "--name", " ")
    assert blank.exit_code == 1 and "a name is required" in blank.output
    assert run("calendar", "unset", "3.11.2026").exit_code == 1
    out_of_range = run("calendar", "list", "--year", "1800")
    assert out_of_range.exit_code == 1 and "year must be" in out_of_range.output
    uncovered = json.loads(run("calendar", "list", "--year", "2199", "--json").output)
    assert uncovered["covered"] is False and "2199" in uncovered["warning"]
    assert uncovered["days"] == []
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(CalendarDay)) == 0


def test_orgs_hours_shows_and_sets_a_units_office_hours(cli_env, tmp_path):
    run("init")
    path = tmp_path / "tree.csv"
    path.write_text(TREE, "utf-8")
    assert run("regions", "import", str(path)).exit_code == 0
    added = run(
        "orgs", "add", "X1", "台站", "--kind", "street_office", "--jurisdiction", "120101001"
    )
    assert added.exit_code == 0, added.output

    shown = run("orgs", "hours", "X1")
    assert shown.exit_code == 0 and "08:30-12:00, 13:30-17:30 (默认 city default)" in shown.output
    own = run("orgs", "hours", "X1", "--periods", "08:00-12:00, 14:00-18:00")
    assert own.exit_code == 0, own.output
    assert "X1 台站: 08:00-12:00, 14:00-18:00" in own.output and "default" not in own.output
    assert "24×7" in run("orgs", "hours", "X1", "--always").output
    with db.transaction() as session:
        assert orgs.find_unit(session, "X1").office_hours == {"around_the_clock": True}

    overlap = run("orgs", "hours", "X1", "--periods", "08:00-12:00,11:00-18:00")
    assert overlap.exit_code == 1 and "must not overlap" in overlap.output
    malformed = run("orgs", "hours", "X1", "--periods", "8-12")
    assert malformed.exit_code == 1 and "HH:MM" in malformed.output
    two = run("orgs", "hours", "X1", "--always", "--default")
    assert two.exit_code == 1 and "at most one" in two.output
    assert run("orgs", "hours", "NOPE").exit_code == 1
    with db.transaction() as session:  # nothing refused landed
        assert orgs.find_unit(session, "X1").office_hours == {"around_the_clock": True}

    back = run("orgs", "hours", "X1", "--default")
    assert back.exit_code == 0 and "(默认 city default)" in back.output
    with db.transaction() as session:
        assert orgs.find_unit(session, "X1").office_hours is None
