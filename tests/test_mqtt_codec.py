"""The MQTT 5 codec and the connection protocol of the native client, as pure logic.

Against a real broker the native client is exercised by every live test (it is the default);
here: byte-level cases a broker rarely produces (packets split anywhere, long lengths,
properties of every type, refusals and server DISCONNECT)."""

from __future__ import annotations

import asyncio
import struct

import pytest

from gateway.mqtt import codec as mc
from gateway.mqtt.errors import MqttError
from gateway.mqtt.wire import Wire


@pytest.mark.parametrize("n", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152,
                               268_435_455])
def test_varint_round_trip(n: int) -> None:
    raw = mc.varint(n)
    assert len(raw) == 1 + (n >= 128) + (n >= 16_384) + (n >= 2_097_152)
    assert mc.read_varint(b"\xff" + raw + b"tail", 1) == (n, 1 + len(raw))


def test_varint_errors() -> None:
    with pytest.raises(IndexError):
        mc.read_varint(b"\x80\x80", 0)  # cut off: wait for more bytes
    with pytest.raises(mc.ProtocolError):
        mc.read_varint(b"\x80\x80\x80\x80\x01", 0)


def publish(topic: str, payload: bytes, qos: int = 1, mid: int = 7, props: bytes = b"") -> bytes:
    body = struct.pack(">H", len(topic)) + topic.encode()
    if qos:
        body += struct.pack(">H", mid)
    body += mc.varint(len(props)) + props + payload
    return bytes([0x30 | qos << 1]) + mc.varint(len(body)) + body


def test_parse_publish_skips_properties() -> None:
    props = b"\x01\x01" + b"\x02\x00\x00\x00\x3c" + b"\x26\x00\x01k\x00\x01v"
    raw = publish("vehicles/X/telemetry", b"\x81\xa1v\x01", props=props)
    length, i = mc.read_varint(raw, 1)
    assert mc.parse_publish(raw[0] & 15, raw[i:i + length]) == (
        "vehicles/X/telemetry", 1, 7, b"\x81\xa1v\x01")
    raw0 = publish("t", b"x", qos=0)
    assert mc.parse_publish(raw0[0] & 15, raw0[2:]) == ("t", 0, 0, b"x")


def test_connect_packet_layout() -> None:
    raw = mc.connect_packet("gw-1", 30, False, 604_800, 1000, "user", "secret")
    length, i = mc.read_varint(raw, 1)
    body = raw[i:]
    assert raw[0] == 0x10 and length == len(body)
    assert body[:7] == b"\x00\x04MQTT\x05" and body[7] == 0xC0  # user + password, no clean start
    assert struct.unpack(">H", body[8:10]) == (30,)
    props, j = mc.properties(body, 10)
    assert props == {mc.PROP_SESSION_EXPIRY: 604_800, mc.PROP_RECEIVE_MAXIMUM: 1000}
    assert body[j:] == b"\x00\x04gw-1\x00\x04user\x00\x06secret"


def test_connack_and_suback() -> None:
    props = b"\x13\x00\x3c" + b"\x12\x00\x02id" + b"\x1f\x00\x02no"
    ack = mc.parse_connack(b"\x01\x00" + mc.varint(len(props)) + props)
    assert ack == mc.Connack(True, 0, {0x13: 60, 0x12: "id", 0x1F: "no"})
    assert mc.parse_suback(b"\x00\x01\x00\x01\x87") == (1, [0x01, 0x87])
    assert mc.reason_text(0x87) == "0x87 not authorized"
    with pytest.raises(mc.ProtocolError):
        mc.properties(b"\x02\x7e\x00", 0)  # unknown property id


class Transport(asyncio.Transport):
    """Collects what the protocol writes (a stand-in for the socket in pure-logic tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_packets_split_anywhere_are_reassembled() -> None:
    got: list[tuple[str, int, int, bytes, bool]] = []
    wire = Wire(lambda *p: got.append(p))
    wire.connection_made(Transport())
    big = bytes(range(256)) * 80  # 20 kB: a 3-byte remaining length
    stream = (b"\x20\x03\x00\x00\x00" + publish("a/b", b"one", mid=1)
              + publish("a/c", big, mid=2) + publish("a/d", b"", qos=0) + b"\xd0\x00")
    for k in range(0, len(stream), 3):
        wire.data_received(stream[k:k + 3])
    assert got == [("a/b", 1, 1, b"one", False), ("a/c", 1, 2, big, False),
                   ("a/d", 0, 0, b"", False)]
    assert (await wire.connack).reason == 0


async def test_acks_of_one_loop_pass_leave_in_one_write() -> None:
    transport = Transport()
    wire = Wire(lambda *p: None)
    wire.connection_made(transport)
    for mid in (1, 2, 3):
        wire.send(mc.puback_packet(mid))
    await asyncio.sleep(0)
    assert transport.writes == [b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x00\x03"]


async def test_server_disconnect_and_garbage_end_the_connection() -> None:
    wire = Wire(lambda *p: None)
    transport = Transport()
    wire.connection_made(transport)
    wire.data_received(b"\xe0\x01\x8e")
    with pytest.raises(MqttError, match="session taken over"):
        await wire.closed
    assert transport.closed
    wire2 = Wire(lambda *p: None)
    wire2.connection_made(Transport())
    wire2.data_received(b"\x50\x02\x00\x01")  # PUBREC: never sent to a QoS 1 subscriber
    with pytest.raises(MqttError, match="unexpected packet type 5"):
        await wire2.closed
