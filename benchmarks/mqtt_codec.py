"""MQTT packet parsing and encoding: our codec (gateway/mqtt/codec.py) against ``mqtt5``
(the Rust, Sans-I/O MQTT 5 packet library aiomqtt 3 is built on), side by side on the same
byte stream. Run on demand:

    .venv/bin/python -m benchmarks.mqtt_codec [--packets 200000]

Prints µs per PUBLISH parsed (what a broker sends, W1- and W2-sized payloads) and per
PUBACK encoded, the ratio mqtt5/ours (above 1: ours is faster), and how each reacts to
malformed PUBLISH packets (an error to handle, or something that escapes ``except
Exception``).
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import mqtt5

from gateway.mqtt import codec as mc


def stream(n: int, size: int) -> bytes:
    """``n`` QoS 1 PUBLISH packets (MQTT 5, empty property block) of ``size`` bytes."""
    topic = "vehicles/LSVAU2180N2183294/telemetry"
    return b"".join(mc.publish_packet(topic, bytes([i % 251]) * size, i % 65535 + 1)
                    for i in range(n))


def ours(buf: bytes) -> int:
    """Split and parse like Wire.data_received (strict checks on)."""
    pos, end, n = 0, len(buf), 0
    while pos < end:
        first = buf[pos]
        if buf[pos + 1] < 0x80:
            length, i = buf[pos + 1], pos + 2
        else:
            length, i = mc.read_varint(buf, pos + 1)
        mc.parse_publish(first & 0x0F, buf[i:i + length], True, True)
        pos = i + length
        n += 1
    return n


def theirs(buf: bytes) -> int:
    """``mqtt5.read`` over the same stream."""
    view = memoryview(buf)
    pos, n = 0, 0
    while pos < len(buf):
        _packet, used = mqtt5.read(view[pos:])
        pos += used
        n += 1
    return n


def malformed() -> dict[str, bytes]:
    """PUBLISH packets a broker must never send us."""
    topic = b"vehicles/LSVAU2180N2183294/telemetry"

    def pub(t: bytes, flags: int = 0x02, props: bytes = b"") -> bytes:
        body = len(t).to_bytes(2, "big") + t + b"\x00\x01" + mc.varint(len(props)) + props
        return bytes([0x30 | flags]) + mc.varint(len(body) + 1) + body + b"x"
    return {"QoS 3": pub(topic, 0x06), "invalid UTF-8 topic": pub(b"vehicles/\xff\xfe/x"),
            "topic alias": pub(topic, props=b"\x23\x00\x01"),
            "truncated properties": pub(topic, props=b"\x26\x00")}


def reactions(parse: Callable[[bytes], object]) -> list[str]:
    out = []
    for name, raw in malformed().items():
        try:
            parse(raw)
            out.append(f"{name}: accepted")
        except Exception as exc:
            out.append(f"{name}: error ({type(exc).__name__})")
        except BaseException as exc:  # what a Rust panic surfaces as
            out.append(f"{name}: ESCAPES except Exception ({type(exc).__name__})")
    return out


def _ours_one(raw: bytes) -> object:
    length, i = mc.read_varint(raw, 1)
    return mc.parse_publish(raw[0] & 0x0F, raw[i:i + length], True, True)


def timed(fn: Callable[[], int], rounds: int = 3) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(rounds):
        t = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t)
    return best, count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--packets", type=int, default=200_000)
    n = p.parse_args().packets
    print(f"MQTT codec, {n:,} packets, best of 3 (µs per packet)")
    for label, size in (("PUBLISH, W1-sized payload (300 B)", 300),
                        ("PUBLISH, W2-sized payload (4 kB)", 4000)):
        buf = stream(n, size)
        a, ca = timed(functools.partial(ours, buf))
        b, cb = timed(functools.partial(theirs, buf))
        assert ca == cb == n
        print(f"  {label}: ours {a / n * 1e6:.2f}, mqtt5 {b / n * 1e6:.2f},"
              f" ratio mqtt5/ours {b / a:.2f}")
    def ours_acks() -> int:
        return sum(len(mc.puback_packet(i % 65535 + 1)) for i in range(n))

    def their_acks() -> int:
        return sum(len(mqtt5.PubAckPacket(i % 65535 + 1).write()) for i in range(n))
    a, _ = timed(ours_acks)
    b, _ = timed(their_acks)
    print(f"  PUBACK encode: ours {a / n * 1e6:.2f}, mqtt5 {b / n * 1e6:.2f},"
          f" ratio mqtt5/ours {b / a:.2f}")
    print("  malformed PUBLISH, ours:  " + "; ".join(reactions(_ours_one)))
    print("  malformed PUBLISH, mqtt5: " + "; ".join(
        reactions(lambda raw: mqtt5.read(memoryview(raw)))))


if __name__ == "__main__":
    main()
