"""The native MQTT client against a scripted broker: every packet shape the specifications
allow and the malformed ones, each checked against the normative statement it tests
([MQTT-x.y.z-n]: MQTT 5.0; "3.1.1 §": MQTT 3.1.1, OASIS Standard 2014)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.metrics import Metrics
from gateway.mqtt import codec as mc
from gateway.mqtt.base import Inbound
from gateway.mqtt.native import MAX_PACKET_BYTES, NativeMqttSource
from gateway.settings import Settings
from tests.mqtt_fake_broker import (
    Conn,
    FakeBroker,
    Packet,
    accept,
    connack,
    connect_level,
    hold,
    packet,
    publish,
)

TOPIC = b"vehicles/LSVAU2180N2183294/telemetry"


@contextlib.asynccontextmanager
async def running(url: str, **settings: Any) -> AsyncIterator[tuple[NativeMqttSource,
                                                                   list[Inbound]]]:
    got: list[Inbound] = []
    source = NativeMqttSource(Settings(mqtt_url=url, client_id="conformance", **settings),
                              Metrics(), got.append)
    task = asyncio.create_task(source.run())
    try:
        yield source, got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll ``check`` (state of a client running in this loop) until it holds."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def props_of_connect(p: Packet) -> dict[int, object]:
    return mc.properties(p.body, 10)[0]


async def test_connect_announces_session_receive_maximum_and_packet_size() -> None:
    """[MQTT-3.1.2-24] the broker must not send packets over our Maximum Packet Size;
    [MQTT-3.3.4-9] nor more unacknowledged QoS 1 PUBLISHes than our Receive Maximum."""
    seen: list[Packet] = []

    async def script(conn: Conn) -> None:
        seen.append(await accept(conn))
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url, inflight=321) as (src, _):
        await until(src.connected.is_set)
        connect = broker.conns[0].sent_by_client[0]
        assert connect_level(connect) == mc.PROTOCOL_V5
        assert connect.body[7] & 0x02 == 0  # Clean Start 0: keep the session
        assert props_of_connect(connect) == {mc.PROP_SESSION_EXPIRY: 7 * 86_400,
                                             mc.PROP_RECEIVE_MAXIMUM: 321,
                                             mc.PROP_MAXIMUM_PACKET_SIZE: MAX_PACKET_BYTES}
        # [MQTT-3.3.1-11] Retain Handling 2: no retained message at subscribe; QoS 1
        options = seen[0].body[-1]
        assert options & 0x03 == 1 and options >> 4 & 0x03 == 2


async def test_session_present_0_on_a_reconnect_is_a_lost_session() -> None:
    """[MQTT-3.2.2-2..3]: Session Present 0 after Clean Start 0 means the broker has no
    session for us: what it queued while we were away is gone. Counted, logged, visible."""
    async def first(conn: Conn) -> None:
        await accept(conn, session_present=False)  # first start: nothing expected
        conn.send(packet(mc.DISCONNECT, b"\x8b"))  # server shutting down

    async def second(conn: Conn) -> None:
        await accept(conn, session_present=False)  # restarted without persistence
        await hold(conn)
    async with FakeBroker(first, second) as broker, running(broker.url) as (src, _):
        await until(lambda: len(broker.conns) == 2 and src.connected.is_set())
        assert src.session_lost == 1
        assert src.metrics.session_lost._value.get() == 1


async def test_session_present_1_on_a_reconnect_is_fine() -> None:
    async def first(conn: Conn) -> None:
        await accept(conn)
        conn.send(packet(mc.DISCONNECT, b"\x8b"))

    async def second(conn: Conn) -> None:
        await accept(conn, session_present=True)
        await hold(conn)
    async with FakeBroker(first, second) as broker, running(broker.url) as (src, _):
        await until(lambda: len(broker.conns) == 2 and src.connected.is_set())
        assert src.session_lost == 0


async def test_first_reconnect_is_immediate_then_backoff_with_jitter() -> None:
    times: list[float] = []

    async def refuse(conn: Conn) -> None:
        times.append(time.monotonic())
        await conn.expect(mc.CONNECT)
        conn.send(connack(reason=0x88))  # server unavailable
    async with FakeBroker(refuse) as broker, running(broker.url) as (src, _):
        await until(lambda: len(times) >= 4, 10)
        assert not src.connected.is_set() and "0x88 server unavailable" in src.last_error
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < 0.2  # at once
    assert all(g < 2.5 for g in gaps[1:3])  # jittered within 0.5 s, then 1 s


async def test_a_311_refusal_of_mqtt5_is_not_taken_as_success() -> None:
    """3.1.1 §3.1.2-2: a 3.1.1 broker answers an unknown protocol level with return code
    0x01 and closes. With --mqtt-protocol 5 that is a refusal, never a connection."""
    async def old_broker(conn: Conn) -> None:
        await conn.expect(mc.CONNECT)
        conn.send(b"\x20\x02\x00\x01")
    async with FakeBroker(old_broker) as broker, running(broker.url, mqtt_protocol="5") as (
            src, _):
        await until(lambda: "unsupported protocol version" in src.last_error)
        assert not src.connected.is_set()
        assert all(c.sent_by_client[-1].kind == mc.CONNECT for c in broker.conns)


async def test_auto_falls_back_to_311_on_a_refusal() -> None:
    async def broker_311(conn: Conn) -> None:
        p = await conn.expect(mc.CONNECT)
        if connect_level(p) == mc.PROTOCOL_V5:
            conn.send(b"\x20\x02\x00\x01")
            return
        conn.send(connack(v5=False))
        sub = await conn.expect(mc.SUBSCRIBE)
        assert sub.body[2:4] == b"\x00\x14"  # "vehicles/+/telemetry": no property block
        conn.send(packet(mc.SUBACK, sub.body[:2] + b"\x01" * 4))
        conn.send(publish(TOPIC, b"x", mid=9, v5=False))
        assert (await conn.expect(mc.PUBLISH)).body.startswith(b"\x00\x13telematics/contract")
        await hold(conn)
    async with FakeBroker(broker_311) as broker, running(broker.url) as (src, got):
        await until(lambda: src.connected.is_set() and len(got) == 1)
        assert src.protocol == "3.1.1"
        assert got[0].topic == TOPIC.decode() and got[0].payload == b"x"


async def test_auto_falls_back_when_the_broker_closes_on_mqtt5() -> None:
    """RabbitMQ 3.10 closes the socket on an MQTT 5 CONNECT instead of answering."""
    async def rabbit(conn: Conn) -> None:
        p = await conn.expect(mc.CONNECT)
        if connect_level(p) == mc.PROTOCOL_V5:
            return  # closes
        conn.send(connack(v5=False))
        sub = await conn.expect(mc.SUBSCRIBE)
        conn.send(packet(mc.SUBACK, sub.body[:2] + b"\x01" * 4))
        await hold(conn)
    async with FakeBroker(rabbit) as broker, running(broker.url) as (src, _):
        await until(src.connected.is_set)
        assert src.protocol == "3.1.1"


@pytest.mark.parametrize("codes", [[0, 1, 1, 1], [1, 1, 0x80, 1]])
async def test_granted_qos_0_or_a_refused_filter_is_no_subscription(codes: list[int]) -> None:
    """MQTT 5 §3.9.3: the SUBACK says the QoS granted per filter; QoS 0 would make delivery
    at most once, so the client does not run on it."""
    async def script(conn: Conn) -> None:
        await accept(conn, codes=codes)
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url) as (src, _):
        await until(lambda: bool(src.last_error))
        assert not src.connected.is_set()
        assert ("granted QoS 0" if 0 in codes else "subscription refused") in src.last_error


async def test_maximum_qos_0_is_refused() -> None:
    """[MQTT-3.2.2-9]: a broker that supports only QoS 0 says so in CONNACK."""
    async def script(conn: Conn) -> None:
        await conn.expect(mc.CONNECT)
        conn.send(connack(props=bytes([mc.PROP_MAXIMUM_QOS, 0])))
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url) as (src, _):
        await until(lambda: "Maximum QoS is 0" in src.last_error)
        assert not src.connected.is_set()


async def test_retain_available_0_means_no_retained_announcement() -> None:
    """[MQTT-3.2.2-14]: with Retain Available 0 the client must not send RETAIN 1."""
    announced: list[Packet] = []

    async def script(conn: Conn) -> None:
        await accept(conn, props=bytes([mc.PROP_RETAIN_AVAILABLE, 0]))
        announced.append(await conn.expect(mc.PUBLISH))
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url) as (_, _got):
        await until(lambda: bool(announced))
        assert announced[0].first & 0x01 == 0


async def test_retained_copies_at_subscribe_are_acknowledged_not_ingested() -> None:
    """3.1.1 §3.3.1-8: a message sent because of a new subscription has RETAIN 1; it is
    a stale copy, not fresh data. Messages forwarded on a live subscription have RETAIN 0
    (3.1.1 §3.3.1-9; MQTT 5 Retain As Published 0)."""
    acked: list[bytes] = []

    async def script(conn: Conn) -> None:
        await accept(conn)
        conn.send(publish(TOPIC, b"stale", mid=1, retain=True)
                  + publish(TOPIC, b"fresh", mid=2))
        while len(acked) < 2:
            p = await conn.packet()
            if p.kind == mc.PUBACK:
                acked.append(p.body[:2])
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url) as (src, got):
        await until(lambda: len(got) == 1)
        got[0].ack()
        await until(lambda: len(acked) == 2)
        assert [m.payload for m in got] == [b"fresh"]
        assert acked == [b"\x00\x01", b"\x00\x02"]  # in order [MQTT-4.6.0-2]
        assert src.metrics.retained_skipped._value.get() == 1


@pytest.mark.parametrize(("raw", "why"), [
    (publish(TOPIC, b"x", qos=3), "QoS 3"),                             # [MQTT-3.3.1-4]
    (publish(b"vehicles/\xff\xfe/telemetry", b"x"), "not valid UTF-8"),  # [MQTT-1.5.4-1]
    (publish(TOPIC, b"x", props=b"\x23\x00\x01"), "topic alias"),        # [MQTT-3.3.2-10]
    (publish(b"", b"x", props=b"\x23\x00\x01"), "without topic"),        # [MQTT-3.3.2-10]
    (publish(TOPIC, b"x", qos=2), "QoS 2"),                              # granted QoS 1
    (b"\x30\xff\xff\xff\x7f", "over the"),                               # [MQTT-3.1.2-24]
    (b"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"),                # §1.5.5
    (packet(5, b"\x00\x01"), "unexpected packet type 5"),                # PUBREC: never ours
])
async def test_malformed_packets_end_the_connection(raw: bytes, why: str) -> None:
    closed: list[bool] = []

    async def script(conn: Conn) -> None:
        await accept(conn)
        conn.send(raw)
        closed.append(await conn.closed())
    async with FakeBroker(script) as broker, running(broker.url) as (src, got):
        await until(lambda: bool(closed))
        assert closed[0] is True and got == []
        await until(lambda: why in src.last_error)


async def test_server_disconnect_reason_string_and_reference_are_reported() -> None:
    """MQTT 5 §3.14: DISCONNECT carries a reason code, a reason string and a server
    reference (use another server)."""
    props = b"\x1f\x00\x0bmaintenance" + b"\x1c\x00\x0aother:1883"

    async def script(conn: Conn) -> None:
        await accept(conn)
        conn.send(packet(mc.DISCONNECT, b"\x9c" + mc.varint(len(props)) + props))
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url) as (src, _):
        await until(lambda: "use server other:1883" in src.last_error)
        assert "0x9C use another server (maintenance)" in src.last_error


async def test_server_keep_alive_replaces_ours() -> None:
    """[MQTT-3.2.2-21]: with Server Keep Alive the client uses the broker's value."""
    pings: list[float] = []

    async def script(conn: Conn) -> None:
        await accept(conn, props=bytes([mc.PROP_SERVER_KEEP_ALIVE]) + struct.pack(">H", 1))
        await conn.expect(mc.PUBLISH)  # the announcement
        while len(pings) < 2:
            p = await conn.packet()
            if p.kind == mc.PINGREQ:
                pings.append(time.monotonic())
                conn.send(b"\xd0\x00")
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url):
        await until(lambda: len(pings) == 2, 4)
        assert pings[1] - pings[0] < 1.5


async def test_properties_of_every_type_and_any_split() -> None:
    """§2.2.2.2: a CONNACK with properties of every wire type, then a SUBACK and two
    PUBLISHes, delivered split at every byte boundary."""
    props = (b"\x11\x00\x00\x00\x3c" + b"\x21\x00\x0a" + b"\x24\x01" + b"\x25\x01"
             + b"\x27\x00\x10\x00\x00" + b"\x12\x00\x02id" + b"\x22\x00\x05" + b"\x1f\x00\x02ok"
             + b"\x26\x00\x01k\x00\x01v" + b"\x28\x01\x29\x01\x2a\x01" + b"\x13\x00\x3c"
             + b"\x1a\x00\x01r" + b"\x15\x00\x01m" + b"\x16\x00\x01d")
    stream = (connack(props=props) + packet(mc.SUBACK, b"\x00\x01\x00\x01\x01\x01\x01")
              + publish(TOPIC, b"a", mid=1, props=b"\x01\x01\x02\x00\x00\x00\x3c")
              + publish(TOPIC, b"b" * 300, mid=2, props=b"\x0b\x81\x01"))
    for cut in range(1, len(stream)):
        async def script(conn: Conn, cut: int = cut) -> None:
            await conn.expect(mc.CONNECT)
            conn.send(stream[:cut])
            await conn.writer.drain()
            await asyncio.sleep(0)
            conn.send(stream[cut:])
            await hold(conn)
        if cut % 23 and cut > 8:
            continue  # every split inside the headers, then a sample of the rest
        async with FakeBroker(script) as broker, running(broker.url) as (_, got):
            await until(lambda: len(got) == 2)
            assert [m.payload for m in got] == [b"a", b"b" * 300]


async def test_paused_reading_does_not_time_out_keep_alive() -> None:
    """Keep-alive (§3.1.2.10 / 3.1.1 §3.1.2.10): the client pings within the keep-alive;
    while reading is paused for backpressure it cannot read the PINGRESP, and must not
    drop its own connection for that."""
    async def script(conn: Conn) -> None:
        await accept(conn, props=bytes([mc.PROP_SERVER_KEEP_ALIVE]) + struct.pack(">H", 1))
        for mid in range(1, 4):
            conn.send(publish(TOPIC, b"m" * 1000, mid=mid))
        await hold(conn)
    async with FakeBroker(script) as broker, running(broker.url, inflight=1) as (src, got):
        await until(lambda: len(got) >= 2)  # past 2 x inflight unacked: reading pauses
        await asyncio.sleep(3.5)  # three keep-alive periods with reading paused
        assert src.connected.is_set() and len(broker.conns) == 1
        for m in list(got):
            m.ack()
        await until(lambda: len(got) == 3)
        assert len(broker.conns) == 1


async def test_the_byte_budget_counts_across_reconnects() -> None:
    """Messages of a lost connection still held by the pipeline count against the budget
    of the next connection, so a reconnect does not reset what bounds memory."""
    async def first(conn: Conn) -> None:
        await accept(conn)
        conn.send(publish(TOPIC, b"x" * 3000, mid=1))
        await asyncio.sleep(0.2)
        conn.send(packet(mc.DISCONNECT, b"\x8b"))

    async def second(conn: Conn) -> None:
        await accept(conn, session_present=True)
        conn.send(publish(TOPIC, b"x" * 3000, mid=1))
        await hold(conn)
    async with FakeBroker(first, second) as broker, running(broker.url) as (src, got):
        await until(lambda: len(got) == 2)
        assert src.held_bytes == 6000  # the first copy is still in the pipeline
        got[0].ack()
        assert src.held_bytes == 3000
