"""The MQTT 5 packets a subscribing client needs, encoded and decoded without I/O.

Only what the ingest client uses: CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH (in),
PUBACK (out), PINGREQ/PINGRESP and DISCONNECT. Packet type codes are named constants.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
PROTOCOL_V5 = 5
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

PROP_SESSION_EXPIRY = 0x11
PROP_ASSIGNED_CLIENT_ID = 0x12
PROP_SERVER_KEEP_ALIVE = 0x13
PROP_REASON_STRING = 0x1F
PROP_RECEIVE_MAXIMUM = 0x21

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
                   password: str | None = None) -> bytes:
    """CONNECT with the session expiry and receive maximum properties."""
    flags = (0x02 if clean_start else 0) | (0x80 if username else 0) | (0x40 if password else 0)
    props = (bytes([PROP_SESSION_EXPIRY]) + struct.pack(">I", session_expiry)
             + bytes([PROP_RECEIVE_MAXIMUM]) + struct.pack(">H", receive_maximum))
    body = (_string("MQTT") + bytes([PROTOCOL_V5, flags]) + struct.pack(">H", keepalive)
            + varint(len(props)) + props + _string(client_id))
    if username:
        body += _string(username)
    if password:
        body += _string(password)
    return _packet(CONNECT, 0, body)


def subscribe_packet(packet_id: int, filters: list[str], qos: int = 1) -> bytes:
    """SUBSCRIBE to ``filters`` at ``qos``, without properties."""
    body = struct.pack(">H", packet_id) + b"\x00"
    for f in filters:
        body += _string(f) + bytes([qos])
    return _packet(SUBSCRIBE, 0x2, body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK with success (the reason code may be omitted)."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


def properties(buf: bytes, i: int) -> tuple[dict[int, object], int]:
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


def parse_connack(body: bytes) -> Connack:
    """CONNACK body (after the fixed header)."""
    if len(body) < 2:
        raise ProtocolError("CONNACK too short")
    props, _ = properties(body, 2) if len(body) > 2 else ({}, 2)
    return Connack(bool(body[0] & 1), body[1], props)


def parse_suback(body: bytes) -> tuple[int, list[int]]:
    """SUBACK body: (packet id, reason code per filter)."""
    packet_id = int.from_bytes(body[:2], "big")
    _, i = properties(body, 2)
    return packet_id, list(body[i:])


def parse_publish(flags: int, body: bytes | bytearray | memoryview, v5: bool = True
                  ) -> tuple[str, int, int, bytes]:
    """PUBLISH body: (topic, qos, packet id or 0, payload). Properties are skipped: this
    client advertises no topic aliases, so none can arrive."""
    n = (body[0] << 8) | body[1]
    j = 2 + n
    topic = bytes(body[2:j]).decode("utf-8", "replace")
    qos = (flags >> 1) & 3
    packet_id = 0
    if qos:
        packet_id = (body[j] << 8) | body[j + 1]
        j += 2
    if v5:
        plen, j = read_varint(body, j)
        j += plen
    if j > len(body):
        raise ProtocolError("PUBLISH shorter than its header says")
    return topic, qos, packet_id, bytes(body[j:])


def publish_packet(topic: str, payload: bytes, packet_id: int, qos: int = 1,
                   retain: bool = False) -> bytes:
    """PUBLISH without properties (what a vehicle or the load generator sends)."""
    body = _string(topic) + (struct.pack(">H", packet_id) if qos else b"") + b"\x00" + payload
    return _packet(PUBLISH, qos << 1 | retain, body)
