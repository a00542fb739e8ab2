"""MQTT PUBLISH packets from pcap / pcapng captures (tcpdump, tshark) of broker traffic.

Frames (Ethernet, Linux cooked v1/v2, BSD loopback, raw IP) -> IPv4/IPv6 -> TCP streams
reassembled per direction by sequence number (retransmissions and overlaps dropped) ->
MQTT 3.1.1 and 5 packets. Only client-to-broker streams (destination port = the broker
port) are read, so a message is replayed once even if the capture also saw the broker
deliver it to subscribers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.mqtt.codec import CONNECT, PUBLISH, ProtocolError, parse_publish, read_varint
from gateway.ops.capture import Record

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
               b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9)}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def is_pcap(path: Path) -> bool:
    """pcap or pcapng, by magic number."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head in PCAP_MAGICS or head == PCAPNG_MAGIC


def frames(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """(seconds, link type, frame bytes) of every packet."""
    data = path.read_bytes()
    if data[:4] in PCAP_MAGICS:
        end, scale = PCAP_MAGICS[data[:4]]
        link = struct.unpack(end + "I", data[20:24])[0]
        off = 24
        while off + 16 <= len(data):
            sec, frac, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
            yield sec + frac / scale, link, data[off + 16:off + 16 + incl]
            off += 16 + incl
        return
    end, off = "<", 0
    links: list[int] = []
    while off + 12 <= len(data):
        btype, blen = struct.unpack(end + "II", data[off:off + 8])
        if btype == 0x0A0D0D0A:
            end = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack(end + "II", data[off:off + 8])
            links = []
        elif btype == 1:
            links.append(struct.unpack(end + "H", data[off + 8:off + 10])[0])
        elif btype == 6:
            iface, hi, lo, cap = struct.unpack(end + "IIII", data[off + 8:off + 24])
            yield ((hi << 32) | lo) / 1e6, links[iface], data[off + 28:off + 28 + cap]
        elif btype == 3 and links:
            yield 0.0, links[0], data[off + 12:off + blen - 4]
        off += blen


def _ip(link: int, frame: bytes) -> bytes | None:
    if link == 1:      # Ethernet, with an optional VLAN tag
        proto, off = struct.unpack(">H", frame[12:14])[0], 14
        if proto == 0x8100:
            proto, off = struct.unpack(">H", frame[16:18])[0], 18
        return frame[off:] if proto in (0x0800, 0x86DD) else None
    if link == 113:    # Linux cooked v1
        return frame[16:]
    if link == 276:    # Linux cooked v2
        return frame[20:]
    if link in (0, 108):  # BSD loopback
        return frame[4:]
    if link in (101, 12, 14):  # raw IP
        return frame
    return None


def _tcp(ip: bytes) -> tuple[tuple[bytes, int, bytes, int], int, int, bytes] | None:
    """((src, sport, dst, dport), seq, flags, payload) of a TCP segment."""
    if ip[0] >> 4 == 4:
        ihl, proto, total = (ip[0] & 15) * 4, ip[9], struct.unpack(">H", ip[2:4])[0]
        src, dst, seg = ip[12:16], ip[16:20], ip[ihl:total]
    elif ip[0] >> 4 == 6:
        proto, plen = ip[6], struct.unpack(">H", ip[4:6])[0]
        src, dst, seg = ip[8:24], ip[24:40], ip[40:40 + plen]
    else:
        return None
    if proto != 6 or len(seg) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", seg[:8])
    doff = (seg[12] >> 4) * 4
    return (src, sport, dst, dport), seq, seg[13], seg[doff:]


@dataclass(slots=True)
class _Stream:
    segments: dict[int, tuple[float, bytes]] = field(default_factory=dict)
    isn: int | None = None


def streams(path: Path, port: int) -> Iterator[tuple[bytes, list[tuple[int, float]]]]:
    """Reassembled client-to-broker byte streams, with (offset, time) marks."""
    table: dict[tuple[bytes, int, bytes, int], _Stream] = {}
    for ts, link, frame in frames(path):
        ip = _ip(link, frame)
        seg = _tcp(ip) if ip else None
        if seg is None or seg[0][3] != port:
            continue
        key, seq, flags, payload = seg
        st = table.setdefault(key, _Stream())
        if flags & 0x02:  # SYN
            st.isn = (seq + 1) & 0xFFFFFFFF
        if payload and seq not in st.segments:
            st.segments[seq] = (ts, payload)
    for st in table.values():
        if not st.segments:
            continue
        start = st.isn if st.isn is not None else min(st.segments)
        data, marks, nxt = bytearray(), [], start
        for seq in sorted(st.segments, key=lambda s: (s - start) & 0xFFFFFFFF):
            ts, payload = st.segments[seq]
            rel = (seq - nxt) & 0xFFFFFFFF
            if rel > 0x7FFFFFFF:  # starts before what we have: overlap or retransmission
                skip = (nxt - seq) & 0xFFFFFFFF
                if skip >= len(payload):
                    continue
                payload = payload[skip:]
            elif rel > 0:
                break  # a gap: bytes were not captured; stop this stream here
            marks.append((len(data), ts))
            data += payload
            nxt = (nxt + len(payload)) & 0xFFFFFFFF
        yield bytes(data), marks


def publishes(path: Path, port: int = 1883) -> Iterator[Record]:
    """Every PUBLISH sent to the broker, in capture order per connection."""
    out: list[Record] = []
    for data, marks in streams(path, port):
        v5, i, m = False, 0, 0
        while i + 2 <= len(data):
            try:
                length, body = read_varint(data, i + 1)
            except (IndexError, ProtocolError):
                break
            if body + length > len(data):
                break  # cut off at the end of the capture
            kind, flags, pkt = data[i] >> 4, data[i] & 15, data[body:body + length]
            while m + 1 < len(marks) and marks[m + 1][0] <= i:
                m += 1
            if kind == CONNECT:
                name_len = struct.unpack(">H", pkt[:2])[0]
                v5 = pkt[2 + name_len] == 5
            elif kind == PUBLISH:
                topic, qos, _, payload = parse_publish(flags, pkt, v5)
                out.append(Record(int(marks[m][1] * 1000), qos, bool(flags & 1), topic,
                                  payload))
            i = body + length
    out.sort(key=lambda r: r.received_ms)
    yield from out
