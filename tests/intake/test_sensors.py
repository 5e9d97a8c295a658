"""物联感知: sensor alarms become cases — the map, the payload checks, folding repeats, taking a
redelivered message once — and the `chengzhi intake mqtt` listener against the real Mosquitto
broker on 127.0.0.1:1883 (each test on topics and a client id of its own)."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from paho.mqtt.client import Client, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi import config, db
from chengzhi.cases import service as cases
from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app
from chengzhi.demo import build, plan
from chengzhi.errors import InvalidInput
from chengzhi.intake import sensor_map, sensors
from chengzhi.intake.service import AUTO
from chengzhi.models import Case, CaseEvent, IntakeKey, Role
from chengzhi.orgs.queries import Actor

BROKER = ("127.0.0.1", 1883)
TOPIC = "city/yuzhong/manhole/{device}/alarm"
runner = CliRunner()


def alarm(device: str = "MH-0001", code: str = "tilt", **fields: object) -> bytes:
    doc = {"device": device, "code": code, "value": 12.5, "at": "2026-11-02T08:00:00+08:00"}
    return json.dumps({**doc, **fields}).encode()


def send(session: Session, clock, payload: bytes, topic: str | None = None) -> sensors.Outcome:
    device = json.loads(payload).get("device", "x") if payload.startswith(b"{") else "x"
    topic = topic or TOPIC.format(device=device)
    return sensors.handle(session, clock, sensor_map.load_mapping(), topic, payload)


@dataclass(frozen=True)
class Place:
    grid: str
    lon: float
    lat: float


@pytest.fixture
def place(session, clock) -> Place:
    """A point in a grid of the small demo city, stored with the default catalogue."""
    city = plan.plan_city("small", 11)
    build.store_city(session, city, clock)
    catalog.install_defaults(session, clock)
    grid = next(r for r in city.regions if r.level == "grid")
    point = grid.polygon.representative_point()
    return Place(grid.code, point.x, point.y)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# -- the map ------------------------------------------------------------------------------------


def test_the_shipped_map_names_alarms_by_topic_and_code():
    mapping = sensor_map.load_mapping()
    assert mapping.find("city/yuzhong/manhole/MH-1/alarm", "tilt").name == "manhole_tilt"
    assert mapping.find("city/yuzhong/manhole/MH-1/alarm", "missing").urgency.value == "critical"
    assert mapping.find("city/a/streetlight/L-9/alarm", "E42").category == ("matter", "01037")
    assert mapping.find("city/a/bin/B-1/alarm", "full").category == ("matter", "06042")
    assert mapping.find("city/a/manhole/MH-1/alarm", "heartbeat") is None
    assert mapping.find("other/a/manhole/MH-1/alarm", "tilt") is None
    assert mapping.subscribe == ("city/+/+/+/alarm",)


def test_a_map_with_mistakes_names_every_one_at_once():
    doc = {
        "alarms": [
            {"name": "a", "topic": "city/#/x", "category": "matter:01003", "title": "t",
             "description": "d"},
            {"name": "b", "code": "tilt", "category": "manhole", "urgency": "very",
             "title": "{device.__class__}", "description": "{place}"},
            {"name": "b", "code": "x", "category": "matter:01003", "title": "t",
             "description": "d", "colour": "red"},
            {"name": "c", "category": "matter:01003", "title": "t", "description": "d"},
        ]
    }  # fmt: skip
    with pytest.raises(InvalidInput) as e:
        sensor_map.parse_mapping(doc, "mine.yaml")
    message = e.value.message
    assert "mine.yaml" in message
    for expected in (
        "'#' must be the whole last level",
        "category: component|matter|topic:CODE",
        "urgency",
        "{device.__class__}",
        "{place}",
        "duplicate name 'b'",
        "colour",
        "give a topic, a code or both",
    ):
        assert expected in message, expected


def test_a_map_file_that_cannot_be_read_is_refused_clearly(tmp_path):
    bad = tmp_path / "sensors.yaml"
    bad.write_text("alarms: [unclosed", "utf-8")
    with pytest.raises(InvalidInput, match="cannot read the sensor map"):
        sensor_map.load_mapping(bad)
    with pytest.raises(InvalidInput, match="cannot read the sensor map"):
        sensor_map.load_mapping(tmp_path / "missing.yaml")


def test_a_user_map_subscribes_to_its_alarms_topics_by_default(tmp_path):
    path = tmp_path / "mine.yaml"
    entry = {"category": "matter:06042", "title": "满溢 {device}", "description": "{message}"}
    path.write_text(
        yaml.safe_dump(
            {"alarms": [{"name": "bin", "topic": "x/+/bin", **entry}, {"name": "any", **entry,
             "topic": "x/#", "code": "full", "urgency": "urgent", "request_type": "complaint"}]},
            allow_unicode=True,
        ),
        "utf-8",
    )  # fmt: skip
    mapping = sensor_map.load_mapping(path)
    assert mapping.subscribe == ("x/+/bin", "x/#")
    assert mapping.find("x/1/bin", None).name == "bin"
    assert mapping.find("x/y/z", "full").request_type.value == "complaint"


def test_an_unknown_category_is_found_at_start_up(session, place):
    sensor_map.check_categories(session, sensor_map.load_mapping())  # the shipped map is sound
    entry = {"name": "odd", "code": "x", "title": "t", "description": "d"}
    mapping = sensor_map.parse_mapping({"alarms": [{**entry, "category": "matter:99999"}]})
    with pytest.raises(InvalidInput, match="odd: 事项 matter:99999 不在现行清单中"):
        sensor_map.check_categories(session, mapping)


# -- the payload --------------------------------------------------------------------------------


def test_a_payload_is_read_with_its_optional_fields():
    reading = sensors.parse_payload(alarm(lon=106.5, lat=29.5, id=7, message="倾角\x07超限"))
    assert (reading.device, reading.code, reading.lon, reading.lat) == (
        "MH-0001",
        "tilt",
        106.5,
        29.5,
    )
    assert (reading.crs, reading.value, reading.id, reading.message) == (
        "wgs84",
        12.5,
        "7",
        "倾角 超限",
    )
    assert reading.at.utcoffset().total_seconds() == 8 * 3600
    bare = sensors.parse_payload(b'{"device": "B-1"}')
    assert (bare.code, bare.lon, bare.at, bare.id) == (None, None, None, None)  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"tilt!", "not UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"code": "tilt"}', "device"),
        (b'{"device": "MH 1; drop"}', "device"),
        (b'{"device": "MH-1", "lon": 106.5}', "give both lon and lat"),
        (b'{"device": "MH-1", "lon": 206.5, "lat": 29.5}', "out of range"),
        (b'{"device": "MH-1", "lon": NaN, "lat": 29.5}', "finite number"),
        (b'{"device": "MH-1", "lon": "106.5", "lat": 29.5}', "finite number"),
        (b'{"device": "MH-1", "lon": true, "lat": 29.5}', "finite number"),
        (b'{"device": "MH-1", "crs": "bd09"}', "crs"),
        (b'{"device": "MH-1", "at": "yesterday"}', "ISO 8601"),
        (b'{"device": "MH-1", "at": "2026-11-02T08:00:00"}', "ISO 8601"),
        (b'{"device": "MH-1", "code": ["tilt"]}', "code"),
        (b'{"device": "MH-1", "id": ""}', "id"),
        (b'{"device": "MH-1", "message": 5}', "message must be text"),
        (b'{"device": "MH-1", "pad": "' + b"x" * 70_000 + b'"}', "payload over"),
    ],
)
def test_a_malformed_payload_is_refused_with_the_reason(payload, reason):
    with pytest.raises(InvalidInput, match=reason):
        sensors.parse_payload(payload)


# -- one message through intake ------------------------------------------------------------------


def test_an_alarm_opens_a_sensor_case_with_the_mapped_category_urgency_and_place(
    session, clock, place
):
    lon, lat = place.lon, place.lat
    outcome = send(session, clock, alarm(lon=lon, lat=lat, message="倾角超过阈值"))
    assert (outcome.result, outcome.alarm, outcome.device) == ("opened", "manhole_tilt", "MH-0001")
    case = cases.load_case(session, outcome.case)
    assert (case.channel, case.urgency, case.request_type) == ("sensor", "urgent", "help")
    assert (case.category.kind, case.category.code) == ("matter", "01003")
    assert case.region_code == place.grid and case.source_ref == "MH-0001"
    assert case.title == "井盖倾斜报警 MH-0001"
    assert "倾角 12.5°" in case.description and "2026-11-02 08:00:00" in case.description
    assert case.description.endswith("倾角超过阈值")
    assert case.reporter_name is None and case.reporter_phone is None
    assert outcome.dispatched and case.status == "dispatched" and case.unit_id is not None


def test_a_repeat_within_the_window_folds_into_the_open_case(session, clock, place):
    lon, lat = place.lon, place.lat
    first = send(session, clock, alarm(lon=lon, lat=lat, id="1"))
    clock.advance(minutes=30)
    again = send(session, clock, alarm(lon=lon, lat=lat, id="2", value=20.0))
    assert (again.result, again.case) == ("folded", first.case)
    assert session.scalar(select(func.count()).where(Case.source_ref == "MH-0001")) == 1
    events = session.scalars(
        select(CaseEvent).join(Case).where(Case.number == first.case, CaseEvent.action == "repeat")
    ).all()
    assert [e.data for e in events] == [{"source": "MH-0001"}]


def test_another_device_alarming_nearby_opens_its_own_case(session, clock, place):
    lon, lat = place.lon, place.lat
    first = send(session, clock, alarm("MH-0001", lon=lon, lat=lat))
    other = send(session, clock, alarm("BIN-7", "full", lon=lon, lat=lat), "city/a/bin/BIN-7/alarm")
    assert other.result == "opened" and other.case != first.case
    assert cases.load_case(session, other.case).category.code == "06042"


def test_after_the_window_a_new_case_opens(session, clock, place):
    lon, lat = place.lon, place.lat
    first = send(session, clock, alarm(lon=lon, lat=lat, id="1"))
    clock.advance(minutes=config.get_settings().sensor_fold_minutes + 1)
    later = send(session, clock, alarm(lon=lon, lat=lat, id="2"))
    assert later.result == "opened" and later.case != first.case


def test_after_the_case_is_concluded_a_new_case_opens(session, clock, place):
    lon, lat = place.lon, place.lat
    first = send(session, clock, alarm(lon=lon, lat=lat, id="1"))
    conclude(session, clock, first.case)
    clock.advance(minutes=5)
    later = send(session, clock, alarm(lon=lon, lat=lat, id="2"))
    assert later.result == "opened" and later.case != first.case


def conclude(session: Session, clock, number: str) -> None:
    """The unit the platform dispatched the case to handles it; the dispatcher verifies it."""
    case = cases.load_case(session, number)
    unit = Actor(None, Role.DEPARTMENT_STAFF, unit_id=case.unit_id)
    cases.sign_case(session, clock, unit, number)
    cases.handle_case(session, clock, unit, number, "已扶正井盖 (cover set right)")
    cases.verify_case(session, clock, AUTO, number, passed=True)
    assert case.status == "closed"


def test_the_same_message_twice_makes_one_case(session, clock, place):
    lon, lat = place.lon, place.lat
    with_id = alarm(lon=lon, lat=lat, id="m-1")
    first = send(session, clock, with_id)
    assert send(session, clock, with_id) == sensors.Outcome(
        "again", first.case, "MH-0001", "manhole_tilt", hold=first.hold
    )
    events = count(session, CaseEvent)
    without_id = alarm("MH-0002", lon=lon, lat=lat)  # the hash of the message is the key
    second = send(session, clock, without_id)
    assert send(session, clock, without_id).result == "again"
    assert second.case != first.case
    assert count(session, Case) == 2 and count(session, IntakeKey) == 2
    assert count(session, CaseEvent) > events  # the second case's, and no REPEAT for redeliveries
    assert session.scalar(select(func.count()).where(CaseEvent.action == "repeat")) == 0


@pytest.fixture
def fold_minutes(monkeypatch):
    def set_to(minutes: int) -> None:
        monkeypatch.setenv("CHENGZHI_SENSOR_FOLD_MINUTES", str(minutes))
        config.get_settings.cache_clear()

    yield set_to
    config.get_settings.cache_clear()  # before monkeypatch restores the environment


def test_with_folding_off_every_alarm_opens_a_case(session, clock, place, fold_minutes):
    fold_minutes(0)
    lon, lat = place.lon, place.lat
    first = send(session, clock, alarm(lon=lon, lat=lat, id="1"))
    second = send(session, clock, alarm(lon=lon, lat=lat, id="2"))
    assert (first.result, second.result) == ("opened", "opened")


def test_malformed_messages_are_rejected_without_writes(session, clock, place):
    lon, lat = place.lon, place.lat
    send(session, clock, alarm(lon=lon, lat=lat))
    before = [count(session, m) for m in (Case, CaseEvent, IntakeKey)]
    rejected = [
        send(session, clock, b"not json", "city/a/manhole/MH-0001/alarm"),
        send(session, clock, b'{"code": "tilt"}', "city/a/manhole/x/alarm"),
        send(session, clock, alarm(lon=lon, lat=None)),
        send(session, clock, alarm(code="heartbeat", lon=lon, lat=lat)),  # not in the map
        send(session, clock, alarm("MH-0003", lon=0.0, lat=0.0)),  # outside the city
        send(session, clock, alarm("MH-0004", lon=lon, lat=lat), "city/a/unknown/MH-4/alarm"),
    ]
    assert [o.result for o in rejected] == ["rejected"] * len(rejected)
    assert "not UTF-8 JSON" in rejected[0].reason
    assert "no alarm in the map" in rejected[3].reason
    assert (
        rejected[4].reason.startswith("坐标不在本市范围内") and rejected[4].alarm == "manhole_tilt"
    )
    assert [count(session, m) for m in (Case, CaseEvent, IntakeKey)] == before


def test_a_message_id_reused_for_another_alarm_is_refused(session, clock, place):
    lon, lat = place.lon, place.lat
    send(session, clock, alarm(lon=lon, lat=lat, id="42"))
    reused = send(session, clock, alarm(lon=lon, lat=lat, id="42", value=99.0))
    assert reused.result == "rejected" and "different request" in reused.reason


# -- the listener against the real broker -------------------------------------------------------


@pytest.fixture
def broker() -> None:
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError:
        pytest.skip("no MQTT broker on 127.0.0.1:1883")


@pytest.fixture
def prefix(broker) -> str:
    """Topics of this test's own: parallel runs never see each other's alarms."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def client_id(broker) -> Iterator[str]:
    """The listener's client id; its session is removed from the broker afterwards."""
    name = f"chengzhi-test-{uuid.uuid4().hex[:12]}"
    yield name
    cleaner = Client(CallbackAPIVersion.VERSION2, client_id=name, clean_session=True)
    cleaner.connect(*BROKER)
    cleaner.loop_start()
    time.sleep(0.3)
    cleaner.disconnect()
    cleaner.loop_stop()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def publish(*messages: tuple[str, bytes]) -> None:
    """QoS 1, each one acknowledged by the broker before this returns."""
    client = Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:12]}")
    client.connect(*BROKER)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


class Listener:
    """`chengzhi intake mqtt` in a process of its own, its output read line by line."""

    def __init__(self, *args: str) -> None:
        command = [str(Path(sys.executable).with_name("chengzhi")), "intake", "mqtt", *args]
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> None:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        self.process.kill()
        raise AssertionError(f"no {text!r} in the listener's output:\n{''.join(self.output)}")

    def finish(self, timeout: float = 120) -> str:
        code = self.process.wait(timeout)
        time.sleep(0.2)  # the reader thread drains the pipe
        while not self.lines.empty():
            self.output.append(self.lines.get())
        assert code == 0, "".join(self.output)
        return "".join(self.output)


def demo_city_point() -> tuple[float, float]:
    """A point in a grid of `demo-city --scale small --seed 2` (same seed, same place)."""
    grid = next(r for r in plan.plan_city("small", 2).regions if r.level == "grid")
    p = grid.polygon.representative_point()
    return p.x, p.y


def prefixed_map(tmp_path: Path, prefix: str) -> Path:
    """The shipped map with this test's topic prefix."""
    shipped = yaml.safe_load(sensor_map.DATA_FILE.read_text("utf-8"))
    for entry in shipped["alarms"]:
        entry["topic"] = f"{prefix}/{entry['topic']}"
    shipped["subscribe"] = [f"{prefix}/city/+/+/+/alarm"]
    path = tmp_path / "sensors.yaml"
    path.write_text(yaml.safe_dump(shipped, allow_unicode=True), "utf-8")
    return path


def sensor_cases() -> list[Case]:
    with db.transaction() as s:
        return list(s.scalars(select(Case).where(Case.channel == "sensor").order_by(Case.id)))


def test_the_listener_turns_published_alarms_into_cases(cli_env, tmp_path, prefix, client_id):
    assert run("init").exit_code == 0
    assert run("demo-city", "--scale", "small", "--seed", "2").exit_code == 0
    lon, lat = demo_city_point()
    mine = prefixed_map(tmp_path, prefix)
    manhole, bin_ = f"{prefix}/city/a/manhole/MH-1/alarm", f"{prefix}/city/a/bin/BIN-1/alarm"
    args = ("--broker", "127.0.0.1:1883", "--map", str(mine), "--client-id", client_id)

    listener = Listener(*args, "--max-messages", "5", "--seconds", "120")
    listener.wait_for("已订阅 subscribed")
    publish(
        (manhole, alarm("MH-1", lon=lon, lat=lat, id="1")),
        (manhole, alarm("MH-1", lon=lon, lat=lat, id="1")),  # the broker delivering it again
        (manhole, alarm("MH-1", lon=lon, lat=lat, id="2", value=30.0)),  # folds
        (manhole, b"{not json"),
        (bin_, alarm("BIN-1", "full", lon=lon, lat=lat, value=95)),
    )
    out = listener.finish()
    assert "收到 received 5 · 立案 opened 2 · 并入 folded 1 · 重投 again 1 · 拒收 rejected 1" in out
    assert "sensor alarm rejected" in out and "not UTF-8 JSON" in out
    found = sensor_cases()
    assert [(c.source_ref, c.urgency, c.event_count > 1) for c in found] == [
        ("MH-1", "urgent", True),
        ("BIN-1", "normal", True),
    ]

    # Alarms sent while no listener runs wait in the session the broker keeps for it.
    publish((bin_, alarm("BIN-2", "full", lon=lon, lat=lat, value=99)))
    again = run("intake", "mqtt", *args, "--max-messages", "1", "--seconds", "60")
    assert again.exit_code == 0, again.output
    assert "立案 opened 1" in again.output
    assert [c.source_ref for c in sensor_cases()] == ["MH-1", "BIN-1", "BIN-2"]


def test_the_listener_reconnects_when_the_connection_is_lost(cli_env, prefix, client_id):
    assert run("init").exit_code == 0
    topic = f"{prefix}/city/a/manhole/MH-1/alarm"
    args = ("--broker", "127.0.0.1:1883", "--topic", f"{prefix}/#", "--client-id", client_id)
    listener = Listener(*args, "--max-messages", "1", "--seconds", "120")
    listener.wait_for("已订阅 subscribed")
    # Another connection with the same client id: the broker drops the listener's.
    intruder = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                      protocol=MQTTv311)  # fmt: skip
    intruder.connect(*BROKER)
    intruder.loop(2)  # no loop thread: it never reconnects, so the two don't take turns
    listener.wait_for("连接断开 (connection lost)")
    intruder.disconnect()
    intruder.loop(0.5)
    listener.wait_for("已订阅 subscribed")
    publish((topic, alarm("MH-1", code="heartbeat")))  # no such alarm: rejected, nothing stored
    out = listener.finish()
    assert "收到 received 1" in out and "拒收 rejected 1" in out
    assert sensor_cases() == []


def test_a_message_whose_transaction_fails_is_stored_whole_on_redelivery(
    cli_env, tmp_path, prefix, client_id
):
    """The database refuses the write half-way (the timeline table is gone for a moment): the
    transaction rolls back, the message is not acknowledged, and the broker's redelivery —
    once the table is back — makes the one case."""
    assert run("init").exit_code == 0
    topic = f"{prefix}/city/a/bin/BIN-1/alarm"
    mine = prefixed_map(tmp_path, prefix)
    args = ("--broker", "127.0.0.1:1883", "--map", str(mine), "--client-id", client_id)
    listener = Listener(*args, "--max-messages", "1", "--seconds", "120")
    listener.wait_for("已订阅 subscribed")
    rename("case_events", "case_events_away")
    try:
        publish((topic, alarm("BIN-1", "full")))  # no place: registered, waits in triage
        listener.wait_for("处理失败")
    finally:
        rename("case_events_away", "case_events")
    out = listener.finish()
    assert "收到 received 1 · 立案 opened 1" in out and "失败 failed 0" in out
    [case] = sensor_cases()
    assert (case.source_ref, case.triage_hold, case.event_count) == ("BIN-1", "unlocated", 1)
    with db.transaction() as s:
        assert count(s, Case) == 1 and count(s, CaseEvent) == 1 and count(s, IntakeKey) == 1


def rename(table: str, to: str) -> None:
    with db.transaction() as s:
        s.execute(text(f"ALTER TABLE {table} RENAME TO {to}"))


def test_an_unreachable_broker_exits_non_zero_with_the_reason(cli_env):
    assert run("init").exit_code == 0
    result = run("intake", "mqtt", "--broker", "127.0.0.1:1")
    assert result.exit_code == 1
    assert "无法连接 MQTT 服务器 127.0.0.1:1" in result.output
    assert "cannot reach the broker" in result.output


def test_a_map_naming_an_unknown_category_stops_the_listener_at_start_up(cli_env, tmp_path):
    assert run("init").exit_code == 0
    path = tmp_path / "sensors.yaml"
    entry = {"name": "odd", "topic": "x/#", "category": "matter:99999", "title": "t"}
    path.write_text(yaml.safe_dump({"alarms": [{**entry, "description": "d"}]}), "utf-8")
    result = run("intake", "mqtt", "--broker", "127.0.0.1:1883", "--map", str(path))
    assert result.exit_code == 1
    assert "the sensor map is invalid" in result.output and "matter:99999" in result.output
