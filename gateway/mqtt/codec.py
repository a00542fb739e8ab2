"""The MQTT 5 and 3.1.1 packets a subscribing client needs, encoded and decoded without I/O.

Only what the ingest client uses: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH (in),
PUBACK (out), PINGREQ/PINGRESP and DISCONNECT. Packet type codes are named constants;
statements of the specifications are cited as [MQTT-x.y.z-n] (MQTT 5.0) and
[MQTT-3.1.1 x.y.z-n] (MQTT 3.1.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
PROTOCOL_V5 = 5
PROTOCOL_V311 = 4  # the protocol level of MQTT 3.1.1
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

PROP_SESSION_EXPIRY = 0x11
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_RECEIVE_MAXIMUM = 0x21
PROP_TOPIC_ALIAS = 0x23
PROP_MAXIMUM_QOS = 0x24
PROP_RETAIN_AVAILABLE = 0x25
PROP_MAXIMUM_PACKET_SIZE = 0x27
PROP_SERVER_REFERENCE = 0x1C
# subscription options: QoS 1, Retain Handling 2 (send no retained message at subscribe)
SUBSCRIBE_OPTIONS_V5 = 0x01 | 0x20
# MQTT 3.1.1 CONNACK return codes (section 3.2.2.3)
CONNACK_V311 = {1: "unacceptable protocol version", 2: "identifier rejected",
                3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}

# property id -> wire type, for skipping what we do not use (MQTT 5, section 2.2.2.2)
_PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}

REASONS = {
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error",
    0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8D: "keep alive timeout", 0x8E: "session taken over",
    0x8F: "topic filter invalid", 0x91: "packet identifier in use",
    0x93: "receive maximum exceeded", 0x95: "packet too large", 0x97: "quota exceeded",
    0x9C: "use another server", 0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0xA1: "subscription identifiers not supported", 0xA2: "wildcards not supported",
}


class ProtocolError(ValueError):
    """The peer sent something that is not valid MQTT 5."""


def reason_text(code: int) -> str:
    """A reason code as people read it, e.g. ``0x87 not authorized``."""
    return f"0x{code:02X} {REASONS.get(code, 'error')}"


def varint(n: int) -> bytes:
    """A variable byte integer."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(buf: bytes | bytearray | memoryview, i: int) -> tuple[int, int]:
    """(value, next index); IndexError if ``buf`` ends first, ProtocolError past 4 bytes."""
    value, shift = 0, 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7
        if shift > 21:
            raise ProtocolError("variable byte integer longer than 4 bytes")


def _string(s: str | bytes) -> bytes:
    raw = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(raw)) + raw


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect_packet(client_id: str, keepalive: int, clean_start: bool, session_expiry: int,
                   receive_maximum: int, username: str | None = None,
                   password: str | None = None, level: int = PROTOCOL_V5,
                   maximum_packet_size: int = 0) -> bytes:
    """CONNECT. MQTT 5: with the session expiry, receive maximum and (when not 0) maximum
    packet size properties. MQTT 3.1.1 (``level`` 4): no properties; ``clean_start``
    is the Clean Session flag and a persistent session lives until the broker expires it."""
    flags = (0x02 if clean_start else 0) | (0x80 if username else 0) | (0x40 if password else 0)
    props = b""
    if level == PROTOCOL_V5:
        props = (bytes([PROP_SESSION_EXPIRY]) + struct.pack(">I", session_expiry)
                 + bytes([PROP_RECEIVE_MAXIMUM]) + struct.pack(">H", receive_maximum))
        if maximum_packet_size:
            props += bytes([PROP_MAXIMUM_PACKET_SIZE]) + struct.pack(">I", maximum_packet_size)
        props = varint(len(props)) + props
    body = (_string("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
            + props + _string(client_id))
    if username:
        body += _string(username)
    if password:
        body += _string(password)
    return _packet(CONNECT, 0, body)


def subscribe_packet(packet_id: int, filters: list[str], qos: int = 1,
                     level: int = PROTOCOL_V5) -> bytes:
    """SUBSCRIBE to ``filters`` at ``qos``. MQTT 5: no properties, Retain Handling 2 (the
    broker sends no retained message at subscribe [MQTT-3.3.1-10]); MQTT 3.1.1 has no such
    option (retained copies arrive with RETAIN set [MQTT-3.1.1 3.3.1-8])."""
    v5 = level == PROTOCOL_V5
    body = struct.pack(">H", packet_id) + (b"\x00" if v5 else b"")
    options = (SUBSCRIBE_OPTIONS_V5 & ~0x03 | qos) if v5 else qos
    for f in filters:
        body += _string(f) + bytes([options])
    return _packet(SUBSCRIBE, 0x2, body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK with success (the reason code may be omitted)."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def properties(buf: bytes | bytearray | memoryview, i: int) -> tuple[dict[int, object], int]:
    """Decode a property block starting at ``i``; (properties, index after the block)."""
    length, i = read_varint(buf, i)
    end = i + length
    out: dict[int, object] = {}
    while i < end:
        pid = buf[i]
        kind = _PROP_TYPES.get(pid)
        i += 1
        if kind == "byte":
            out[pid], i = buf[i], i + 1
        elif kind == "u16":
            out[pid], i = int.from_bytes(buf[i:i + 2], "big"), i + 2
        elif kind == "u32":
            out[pid], i = int.from_bytes(buf[i:i + 4], "big"), i + 4
        elif kind == "varint":
            out[pid], i = read_varint(buf, i)
        elif kind in ("str", "bin"):
            n = int.from_bytes(buf[i:i + 2], "big")
            raw = bytes(buf[i + 2:i + 2 + n])
            out[pid], i = (raw.decode("utf-8", "replace") if kind == "str" else raw), i + 2 + n
        elif kind == "pair":
            for _ in range(2):
                i += 2 + int.from_bytes(buf[i:i + 2], "big")
        else:
            raise ProtocolError(f"unknown property 0x{pid:02X}")
    if i != end:
        raise ProtocolError("property block length does not match its content")
    return out, end


@dataclass(frozen=True, slots=True)
class Connack:
    """The broker's answer to CONNECT."""

    session_present: bool
    reason: int
    props: dict[int, object]


def parse_connack(body: bytes, level: int = PROTOCOL_V5) -> Connack:
    """CONNACK body (after the fixed header). A 3.1.1 refusal (return code 1-5) is mapped
    onto the MQTT 5 reason code of the same meaning, so a refusal is always >= 0x80: also
    when a 3.1.1-only broker answers an MQTT 5 CONNECT with "unacceptable protocol version"
    (two bytes, return code 1) [MQTT-3.1.1 3.1.2-2]."""
    if len(body) < 2:
        raise ProtocolError("CONNACK too short")
    if body[0] & 0xFE:
        raise ProtocolError("CONNACK flags other than session present are reserved")
    if level != PROTOCOL_V5 or (len(body) == 2 and 1 <= body[1] <= 5):
        code = body[1]
        if code > 5:
            raise ProtocolError(f"CONNACK return code {code} is not defined in MQTT 3.1.1")
        return Connack(bool(body[0] & 1), _V311_TO_V5[code], {})
    props, _ = properties(body, 2) if len(body) > 2 else ({}, 2)
    return Connack(bool(body[0] & 1), body[1], props)


_V311_TO_V5 = {0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87}


def parse_suback(body: bytes, level: int = PROTOCOL_V5) -> tuple[int, list[int]]:
    """SUBACK body: (packet id, reason code per filter: the granted QoS 0-2, or >= 0x80)."""
    packet_id = int.from_bytes(body[:2], "big")
    i = properties(body, 2)[1] if level == PROTOCOL_V5 else 2
    return packet_id, list(body[i:])


def parse_disconnect(body: bytes) -> str:
    """A server DISCONNECT as people read it: reason code, reason string, server reference."""
    code = body[0] if body else 0
    props, _ = properties(body, 1) if len(body) > 1 else ({}, 1)
    text = reason_text(code)
    if props.get(PROP_REASON_STRING):
        text += f" ({props[PROP_REASON_STRING]})"
    if props.get(PROP_SERVER_REFERENCE):
        text += f"; use server {props[PROP_SERVER_REFERENCE]}"
    return text


def parse_publish(flags: int, body: bytes | bytearray | memoryview, v5: bool = True,
                  strict: bool = False) -> tuple[str, int, int, bytes]:
    """PUBLISH body: (topic, qos, packet id or 0, payload). ``strict`` (what a broker sends
    to this client) raises ProtocolError for QoS 3 [MQTT-3.3.1-4], a topic that is not
    valid UTF-8 [MQTT-1.5.4-1], and a topic alias or an empty topic, since this client
    allows no aliases (Topic Alias Maximum 0) [MQTT-3.3.2-9]; else properties are skipped
    and a bad topic is read with replacement characters (captures of any client)."""
    qos = (flags >> 1) & 3
    n = (body[0] << 8) | body[1]
    j = 2 + n
    if strict:
        if qos == 3:
            raise ProtocolError("PUBLISH with QoS 3 is malformed [MQTT-3.3.1-4]")
        try:
            topic = bytes(body[2:j]).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("PUBLISH topic is not valid UTF-8 [MQTT-1.5.4-1]") from None
        if not topic:
            raise ProtocolError("PUBLISH without topic, and no topic aliases allowed"
                                " [MQTT-3.3.2-9]")
    else:
        topic = bytes(body[2:j]).decode("utf-8", "replace")
    packet_id = 0
    if qos:
        packet_id = (body[j] << 8) | body[j + 1]
        j += 2
    if v5:
        plen, j = read_varint(body, j)
        if plen and strict and PROP_TOPIC_ALIAS in properties(body, j - _varint_size(plen))[0]:
            raise ProtocolError("PUBLISH with a topic alias, and none allowed [MQTT-3.3.2-9]")
        j += plen
    if j > len(body):
        raise ProtocolError("PUBLISH shorter than its header says")
    return topic, qos, packet_id, bytes(body[j:])


def _varint_size(n: int) -> int:
    return 1 + (n >= 128) + (n >= 16_384) + (n >= 2_097_152)


def publish_packet(topic: str, payload: bytes, packet_id: int, qos: int = 1,
                   retain: bool = False) -> bytes:
    """PUBLISH without properties (what a vehicle or the load generator sends)."""
    body = _string(topic) + (struct.pack(">H", packet_id) if qos else b"") + b"\x00" + payload
    return _packet(PUBLISH, qos << 1 | retain, body)
