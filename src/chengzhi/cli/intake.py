"""`chengzhi intake mqtt`: sensor alarms (物联感知) from an MQTT broker into cases.

The broker keeps one session per listener between runs (clean session off, a stable client id),
so alarms sent while the listener is down wait for it. Each message is handled in its own
transaction and acknowledged (PUBACK) only after the commit. When the database fails, the
listener drops the connection without acknowledging, and the broker delivers the message again
on reconnect: at least once, and the idempotency key makes that one case. A message that fails
five times while the database answers is given up (logged): it cannot hold back the alarms
behind it."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import text

from chengzhi.cli.common import console, domain_errors, fail, stop_on_signals
from chengzhi.clock import Clock, SystemClock
from chengzhi.db import transaction
from chengzhi.intake import sensor_map, sensors

intake_app = typer.Typer(
    help="受理 Intake: appeals from machines (物联感知 sensor alarms).", no_args_is_help=True
)
log = logging.getLogger(__name__)

GIVE_UP_AFTER = 5  # deliveries of one message that failed before it is given up
BACKOFF_MAX = 60.0  # seconds between reconnection attempts, doubling from 1
CONNECT_WAIT = 10.0  # seconds the broker has to answer at start-up
KEEPALIVE = 30


@intake_app.command("mqtt")
def mqtt(
    broker: Annotated[str, typer.Option(help="The broker, HOST:PORT (port default 1883).")],
    topic: Annotated[
        list[str] | None,
        typer.Option(help="Topic filter to subscribe to; repeatable (default: the map's)."),
    ] = None,
    map_file: Annotated[
        Path | None,
        typer.Option("--map", help="Alarm map YAML (default: the shipped sensors.yaml)."),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="MQTT client id, the same between runs (default chengzhi-intake-HOST)."),
    ] = None,
    qos: Annotated[int, typer.Option(min=0, max=2, help="Subscription QoS.")] = 1,
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many messages (tests, demos).")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (tests, demos).")
    ] = None,
) -> None:
    """Turn sensor alarms from an MQTT broker into cases until stopped (Ctrl-C or SIGTERM finish
    the current message first)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host, port = _broker(broker)
    with domain_errors():
        mapping = sensor_map.load_mapping(map_file)
        with transaction() as session:
            sensor_map.check_categories(session, mapping)
    filters = tuple(topic or mapping.subscribe)
    if not filters:
        fail("没有可订阅的主题 (no topic to subscribe to: give --topic, or `subscribe` in the map)")
    for f in filters:
        if (why := sensor_map.topic_problem(f)) is not None:
            fail(why)
    listener = Listener(mapping, filters, qos, SystemClock(), max_messages)
    client = listener.client(client_id or f"chengzhi-intake-{socket.gethostname()}")
    listener.start(client, host, port)
    deadline = None if seconds is None else time.monotonic() + seconds
    with stop_on_signals(listener.stop, "message"):
        listener.run(client, deadline)
    listener.close(client)
    c = listener.counts
    console.print(
        f"[green]已停止 stopped[/] · 收到 received {c['received']:,} · 立案 opened "
        f"{c['opened']:,} · 并入 folded {c['folded']:,} · 重投 again {c['again']:,} · "
        f"拒收 rejected {c['rejected']:,} · 失败 failed {c['failed']:,}",
        soft_wrap=True,  # one line, for whoever reads the output
    )


class Listener:
    """One MQTT session: the paho callbacks, the counts, and the loop that reconnects."""

    def __init__(
        self,
        mapping: sensor_map.Mapping,
        filters: tuple[str, ...],
        qos: int,
        clock: Clock,
        max_messages: int | None,
    ) -> None:
        self.mapping, self.filters, self.qos, self.clock = mapping, filters, qos, clock
        self.max_messages = max_messages
        self.counts: Counter[str] = Counter()
        self.stop = threading.Event()
        self.up = False
        self.refused: str | None = None
        # A message failed: take no more until the broker has the connection back, so that it
        # delivers the unacknowledged ones again in order.
        self.broken = False
        self.failing = False  # the last message handled failed: keep the backoff growing
        self.backoff = 1.0
        self.attempts: dict[str, int] = {}

    def client(self, client_id: str) -> Client:
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=MQTTv311,
            manual_ack=True,
        )
        client.on_connect = self.on_connect
        client.on_subscribe = self.on_subscribe
        client.on_message = self.on_message
        client.on_disconnect = self.on_disconnect
        return client

    def start(self, client: Client, host: str, port: int) -> None:
        """Connect, or exit 1 with the reason when the broker is unreachable or refuses."""
        where = f"{host}:{port}"
        try:
            client.connect(host, port, keepalive=KEEPALIVE)
        except OSError as e:
            fail(f"无法连接 MQTT 服务器 {where} (cannot reach the broker: {e.strerror or e})")
        waited_until = time.monotonic() + CONNECT_WAIT
        while not self.up and self.refused is None and time.monotonic() < waited_until:
            if client.loop(timeout=0.2) != MQTTErrorCode.MQTT_ERR_SUCCESS and not self.up:
                break
        if not self.up:
            reason = self.refused or "no answer"
            fail(f"MQTT 服务器 {where} 拒绝连接 (the broker refused the connection: {reason})")

    def run(self, client: Client, deadline: float | None) -> None:
        """Handle messages until stopped; reconnect with backoff (1 s doubling to a minute) when
        the connection is lost or dropped after a failed message."""
        while not self.stop.is_set() and not self._done(deadline):
            if client.loop(timeout=0.2) == MQTTErrorCode.MQTT_ERR_SUCCESS:
                continue
            self.up = False
            wait = self.backoff
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            if self.stop.wait(max(wait, 0)) or self._done(deadline):
                break
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            try:
                client.reconnect()
            except OSError as e:
                log.warning("重连失败 (reconnect failed): %s", e.strerror or e)

    def close(self, client: Client) -> None:
        """Send the acknowledgements still queued, then say goodbye (the session stays)."""
        if not self.up:
            return
        self.stop.set()
        client.disconnect()
        for _ in range(50):
            if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break

    def _done(self, deadline: float | None) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return True
        return self.max_messages is not None and self.counts["received"] >= self.max_messages

    # -- paho callbacks (called from `client.loop`, in this thread) ---------------------------

    def on_connect(
        self,
        client: Client,
        _userdata: Any,
        _flags: ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            log.error("MQTT 服务器拒绝连接 (the broker refused the connection): %s", reason)
            return
        self.up, self.broken = True, False
        if not self.failing:
            self.backoff = 1.0
        log.info("已连接 MQTT 服务器 (connected to the broker)")
        # Always subscribe again: the broker may have lost or dropped the session.
        client.subscribe([(f, self.qos) for f in self.filters])

    def on_subscribe(
        self,
        _client: Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [f for f, r in zip(self.filters, reasons, strict=False) if r.is_failure]
        if refused:
            log.error("订阅被拒 (subscription refused): %s", ", ".join(refused))
        console.print(f"已订阅 subscribed: {', '.join(self.filters)}", soft_wrap=True)

    def on_disconnect(
        self,
        _client: Client,
        _userdata: Any,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.up = False
        if self.broken:
            log.info("已断开，重连后重投 (disconnected; the broker delivers again on reconnect)")
        elif not self.stop.is_set():
            log.warning("连接断开 (connection lost): %s", reason)

    def on_message(self, client: Client, _userdata: Any, message: MQTTMessage) -> None:
        if self.broken or self.stop.is_set() or self._done(None):
            return  # not acknowledged: the broker delivers it again
        try:
            with transaction() as session:
                outcome = sensors.handle(
                    session, self.clock, self.mapping, message.topic, message.payload
                )
        except Exception as e:  # the database, or a bug: never the end of the listener
            self._failed(client, message, e)
            return
        client.ack(message.mid, message.qos)
        self.failing, self.backoff = False, 1.0
        if self.attempts:
            self.attempts.pop(_digest(message), None)
        self.counts["received"] += 1
        self.counts[outcome.result] += 1

    def _failed(self, client: Client, message: MQTTMessage, error: Exception) -> None:
        """Not acknowledged, and the connection dropped so that the broker delivers it again —
        unless it failed GIVE_UP_AFTER times while the database answers: then it is the
        message, not the database, and it is given up."""
        digest = _digest(message)
        tries = self.attempts[digest] = self.attempts.get(digest, 0) + 1
        what = _what(error)
        if message.qos == 0 or (tries >= GIVE_UP_AFTER and _database_answers()):
            log.error(
                "放弃报警 (gave up on an alarm) topic=%s after %d tries: %s",
                message.topic,
                tries,
                what,
            )
            client.ack(message.mid, message.qos)
            self.attempts.pop(digest, None)
            self.counts["received"] += 1
            self.counts["failed"] += 1
            return
        log.warning(
            "处理失败，断开重连后重投 (failed; reconnecting so the broker delivers it again) "
            "topic=%s: %s",
            message.topic,
            what,
        )
        self.broken = self.failing = True
        client.disconnect()


def _digest(message: MQTTMessage) -> str:
    return hashlib.sha256(message.topic.encode() + b"\0" + message.payload).hexdigest()


def _what(error: Exception) -> str:
    """The exception's type and the first line of its message, short (no payloads in logs)."""
    first = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:200]}"


def _database_answers() -> bool:
    try:
        with transaction() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


def _broker(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or "]" in port:  # no port, or an IPv6 address without one
        host, port = value, "1883"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(f"MQTT 服务器地址须为 HOST:PORT (--broker HOST:PORT, got {value!r})")
    return host, int(port)
