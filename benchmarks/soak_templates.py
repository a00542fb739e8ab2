"""The soak's payloads: real simulator messages of each wire format, made once, with the
vehicle, the sequence number and the times patched in place when a message is sent.

A million cars cannot be simulated in real time in Python, and the publisher must not eat
the gateway's CPU: each wire format's templates are the simulator's own payloads of one
car (a stretch of driving in 10-second windows and a parked heartbeat), encoded with a
template VIN, sequence and clock. Every field that names the car or a time has a fixed
width in its encoding (a 17-character VIN, MessagePack uint64/uint32, 13 decimal digits,
6- and 5-byte protobuf varints), so sending is a copy and a few slice writes (~3 µs).
Each car therefore repeats the same drive with its own VIN, sequence and times; the
decoded messages are checked against the gateway's decoders when the templates are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from decoders.registry import decode_message
from simulator.fleet import make_fleet
from simulator.truth import VehicleTruth
from simulator.vehicle import Chunk, VehicleLife
from simulator.wire import WIRES, payloads

TEMPLATE_VIN = "SXAKWTEMPLATE0000"
TEMPLATE_SEQ = 2**31  # 0xce + 4 bytes, 10 digits, a 5-byte varint up to 2**35
SEQ_SPAN = 2**31      # sequences stay in that width


def vin(car: int) -> str:
    """The soak VIN of car ``car`` (17 characters)."""
    return f"SXAKW{car:012d}"


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


_TIME = {"mp": lambda v: b"\xcf" + v.to_bytes(8, "big"), "json": lambda v: b"%d" % v,
         "pb": _varint}
_SEQ = {"mp": lambda v: b"\xce" + v.to_bytes(4, "big"), "json": lambda v: b'"seq":%d' % v,
        "pb": _varint}


@dataclass(slots=True)
class Template:
    """One payload with the places of its VIN, sequence and times."""

    suffix: str  # the topic after vehicles/{vin}/
    payload: bytes
    vins: list[int] = field(default_factory=list)
    seqs: list[tuple[int, int]] = field(default_factory=list)          # (offset, seq delta)
    times: list[tuple[int, int]] = field(default_factory=list)         # (offset, ms delta)
    kind: str = "mp"

    def render(self, car_vin: bytes, seq: int, newest_ms: int) -> bytes:
        """The payload for ``car_vin`` with sequence ``seq`` whose newest sample is at
        ``newest_ms``."""
        buf = bytearray(self.payload)
        for at in self.vins:
            buf[at:at + 17] = car_vin
        enc_t, enc_s = _TIME[self.kind], _SEQ[self.kind]
        for at, delta in self.times:
            v = enc_t(newest_ms + delta)
            buf[at:at + len(v)] = v
        for at, delta in self.seqs:
            v = enc_s(TEMPLATE_SEQ + seq + delta)
            buf[at:at + len(v)] = v
        return bytes(buf)


def _template(suffix: str, payload: bytes, chunk: Chunk, seq: int) -> Template:
    kind = "json" if suffix.endswith("json") else "pb" if suffix == "pb" else "mp"
    t = Template(suffix, payload, kind=kind)
    t.vins = [m.start() for m in re.finditer(TEMPLATE_VIN.encode(), payload)]
    newest = chunk.rows[-1][0] if chunk.rows else chunk.t0
    stamps = {chunk.t0, *(r[0] for r in chunk.rows), *(e["t"] for e in chunk.events)}
    for ms in sorted(stamps):
        pat = _TIME[kind](ms)
        t.times += [(m.start(), ms - newest) for m in re.finditer(re.escape(pat), payload)]
    pat = _SEQ[kind](TEMPLATE_SEQ + seq)
    t.seqs = [(m.start(), seq) for m in re.finditer(re.escape(pat), payload)]
    assert t.vins and t.times and t.seqs, f"template {suffix}: fields not found"
    return t


@dataclass(slots=True)
class CarTemplates:
    """One wire format: the windows of a drive, and a heartbeat."""

    wire: str
    model: str  # the simulated car's model (its CAN frames follow that model's DBC)
    powertrain: str
    drive: list[list[Template]]
    heartbeat: list[Template]


def make_templates(windows: int = 40, seed: int = 11) -> dict[str, CarTemplates]:
    """Per wire format, ``windows`` consecutive 10-s windows of one drive and a heartbeat."""
    start = date.today() - timedelta(days=3)
    fleet = make_fleet(60, 2, start, seed, json_share=0.25, can_share=0.25, pb_share=0.25)
    out: dict[str, CarTemplates] = {}
    for wire in WIRES:
        spec = next(s for s in fleet if s.wire == wire)
        life = VehicleLife(spec, start, 2, seed, 900, VehicleTruth(spec.vin, {}))
        drive: list[list[Template]] = []
        beat: list[Template] = []
        for _, chunk in life.chunks():
            driving = len(chunk.rows) >= 5
            if driving and len(drive) < windows:
                drive.append(_made(chunk, spec.model, wire))
            elif not driving and not beat:
                beat = _made(chunk, spec.model, wire)
            if beat and len(drive) >= windows:
                break
        out[wire] = CarTemplates(wire, spec.model, spec.powertrain, drive, beat)
        _check(out[wire])
    return out


def _made(chunk: Chunk, model: str, wire: str) -> list[Template]:
    return [_template(topic.split("/", 2)[2], payload, chunk, seq) for seq, (topic, payload)
            in enumerate(payloads(chunk, TEMPLATE_VIN, model, wire, TEMPLATE_SEQ))]


def _check(ct: CarTemplates) -> None:
    """Rendered templates decode with the gateway's decoders, with the patched fields."""
    for tpl in [*ct.drive[0], *ct.heartbeat]:
        car = vin(123_456).encode()
        payload = tpl.render(car, 5, 1_800_000_000_000)
        decoded = decode_message(f"vehicles/{car.decode()}/{tpl.suffix}", payload,
                                 1_800_000_000_000, ct.model)
        assert decoded.vin == car.decode() and not decoded.rejections, (ct.wire, decoded)
