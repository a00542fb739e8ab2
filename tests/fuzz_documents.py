"""Generators of structured inputs for fuzzing: DBC files (signal layouts, byte orders,
signs, floats, value tables, multiplexing) with CAN batches for them, protobuf Records and
contract documents at the edges of every range. Each takes a ``Chooser``, so hypothesis
drives them in the fast tests (shrinking) and a seeded random drives them in the live run."""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import msgpack
from cantools.database.can import Database, Message, Signal
from cantools.database.conversion import BaseConversion
from cantools.database.namedsignalvalue import NamedSignalValue
from hypothesis import strategies as st

from decoders.catalog import load_catalog
from decoders.record_pb import message_classes

T = TypeVar("T")
CATALOG = load_catalog().signals
NUMERIC = [n for n, s in CATALOG.items() if s.type == "float"]


class Chooser(Protocol):
    """Where the randomness comes from."""

    def integer(self, lo: int, hi: int) -> int: ...
    def pick(self, options: Sequence[T]) -> T: ...
    def blob(self, n: int) -> bytes: ...


class Seeded:
    """A seeded random chooser (the live run)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def pick(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def blob(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class Drawn:
    """A hypothesis chooser (the fast tests)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, lo: int, hi: int) -> int:
        return int(self.data.draw(st.integers(lo, hi)))

    def pick(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(options))

    def blob(self, n: int) -> bytes:
        return bytes(self.data.draw(st.binary(min_size=n, max_size=n)))


def _signal(c: Chooser, name: str, start: int, length: int, big: bool,
            mux: tuple[str, int] | None) -> Signal:
    is_float = length in (32, 64) and c.pick([False, True])
    choices: OrderedDict[int, str | NamedSignalValue] | None = None
    if not is_float and c.pick([False, False, True]):
        top = (1 << length) - 1
        choices = OrderedDict(
            (c.pick([top, top - 1, 0, 1]), c.pick(["SNA", "Init", "Error", "Off"]))
            for _ in range(c.integer(1, 3)))
    conversion = BaseConversion.factory(
        scale=c.pick([1, 0.1, 0.01, 0.5, 0.05, 10, 1.609344]) if not is_float else 1,
        offset=c.pick([0, 0, -40, -25, 100, -1000]) if not is_float else 0,
        choices=choices, is_float=is_float)
    return Signal(name, start, length, byte_order="big_endian" if big else "little_endian",
                  is_signed=c.pick([False, True]), conversion=conversion,
                  unit=c.pick(["", "deg"]),  # units that never clash with the catalog's
                  multiplexer_ids=[mux[1]] if mux else None,
                  multiplexer_signal=mux[0] if mux else None)


def _message(c: Chooser, frame_id: int, index: int) -> Message:
    """A message of 8 bytes: byte-aligned slots, some little-endian, some big-endian (MSB
    at the slot's first byte), maybe a multiplexer in byte 0 with two branches."""
    signals: list[Signal] = []
    first = 0
    mux_name = None
    if c.pick([False, False, True]):
        mux_name = f"M{index}_MUX"
        signals.append(Signal(mux_name, 0, 8, is_multiplexer=True))
        first = 1
    byte = first
    n = 0
    while byte < 8 and n < 6:
        width = c.pick([1, 1, 2, 2, 4, 8]) if byte + 1 <= 8 else 1
        width = min(width, 8 - byte)
        length = c.pick([width * 8, max(1, width * 8 - c.integer(0, 7))])
        big = c.pick([False, True])
        start = byte * 8 + 7 if big else byte * 8
        mux = (mux_name, c.integer(0, 1)) if mux_name and c.pick([False, True]) else None
        signals.append(_signal(c, f"M{index}_S{n}", start, length, big, mux))
        byte += width
        n += 1
    return Message(frame_id, f"M{index}", 8, signals, strict=False,
                   is_extended_frame=frame_id > 0x7FF)


def dbc_model(c: Chooser) -> tuple[str, dict[str, str]]:
    """A DBC file's text and a mapping of some of its signals to numeric, boolean or enum
    catalog signals (the enum only for value-table signals)."""
    ids = sorted({c.pick([0x100, 0x200, 0x301, 0x7FF, 0x18FEF100, 0x1FFFFFFF, 0x123])
                  for _ in range(c.integer(1, 3))})
    db = Database(messages=[_message(c, frame_id, i) for i, frame_id in enumerate(ids)],
                  strict=False)
    mapping: dict[str, str] = {}
    targets = list(NUMERIC)
    for m in db.messages:
        for s in m.signals:
            if s.is_multiplexer or not targets or c.pick([False, True]):
                continue
            target = c.pick(targets)
            if s.length == 1 and c.pick([False, True]):
                target = "Vehicle.Cabin.HVAC.IsAirConditioningActive"
            if s.choices and c.pick([False, True]):
                target = "Vehicle.LowVoltageSystemState"
            if target in targets:
                targets.remove(target)
            if target not in mapping.values():
                mapping[s.name] = target
    return db.as_dbc_string(), mapping


def can_batch(c: Chooser, vin: str, seq: int, t0: int, frame_ids: Sequence[int]) -> bytes:
    """Frames for known and unknown ids, short, long and random data."""
    frames: list[Any] = []
    for i in range(c.integer(1, 12)):
        frame_id = c.pick([*frame_ids, *frame_ids, 0x555, 0x18DAF110])
        data = c.blob(c.pick([8, 8, 8, 0, 3, 12]))
        frames.append([t0 + c.integer(0, 5) * 100 + i, frame_id, data])
    if c.pick([False, False, False, True]):
        frames.append(c.pick([[t0], "frame", [t0, -1, b""], [t0, 2**40, b"\x00" * 8]]))
    return bytes(msgpack.packb({"v": 1, "vin": vin, "seq": seq, "frames": frames}))


def _edge(c: Chooser, name: str) -> Any:
    spec = CATALOG[name]
    if spec.type == "enum":
        return c.pick([*spec.values, "on", "", 3])
    if spec.type == "bool":
        return c.pick([True, False, 0, 1, "true", None])
    assert spec.min is not None and spec.max is not None
    return c.pick([spec.min, spec.max, spec.min - 1e-9, spec.max + 1e-9, math.nan, math.inf,
                   -math.inf, 0, 2**63, -(2**63), 2**64, 1e308, -1e308, spec.max * 10, None,
                   int(spec.max), True])


def edge_document(c: Chooser, vin: str, seq: int, t0: int) -> dict[str, Any]:
    """A contract document with values at, just inside and just outside every range."""
    n = c.integer(1, 4)
    doc: dict[str, Any] = {"v": c.pick([1, 1, 2]), "vin": vin, "seq": seq, "t0": t0,
                           "dt": sorted({c.integer(0, 5000) for _ in range(n)})}
    n = len(doc["dt"])
    names = {c.pick(list(CATALOG)) for _ in range(c.integer(1, 6))}
    doc["signals"] = {name: [_edge(c, name) for _ in range(n)] for name in names}
    if doc["v"] == 2:
        doc["vss"] = c.pick(["4.0", "6.0", "6.0", "5.0"])
    return doc


def pb_record(c: Chooser, vin: str, seq: int, t0: int) -> bytes:
    """A protobuf Record with datums of every value kind at the edges, unknown keys,
    duplicate keys and events."""
    record = message_classes()["Record"](v=c.pick([1, 1, 2, 0, 7]), vin=vin, seq=seq,
                                         created_at_ms=c.pick([t0, t0, 0, 2**62]))
    if record.v == 2:
        record.vss = c.pick(["4.0", "6.0", "9.9"])
    for _ in range(c.integer(0, 8)):
        key = c.pick([*CATALOG, "Vehicle.Unknown.Thing", ""])
        datum = record.data.add(key=key)
        kind = c.pick(["double", "int", "bool", "string", "none"])
        if kind == "double":
            value = _edge(c, key) if key in NUMERIC else c.pick([0.0, math.nan, math.inf])
            datum.double_value = float(value) if isinstance(value, int | float) \
                and abs(value) < 2**1023 else math.nan
        elif kind == "int":
            datum.int_value = c.pick([0, 1, -1, 2**63 - 1, -(2**63), 4_294_967_295])
        elif kind == "bool":
            datum.bool_value = c.pick([True, False])
        elif kind == "string":
            datum.string_value = c.pick(["ON", "LOCK", "x" * 300, "", "\u00e9"])
    for _ in range(c.integer(0, 2)):
        ev = record.events.add(t_ms=c.pick([t0, 0, t0 + 1]),
                               type=c.pick(["infotainment.media.play", "x.y", ""]))
        ev.attrs["source"] = c.pick(["radio", "", "z" * 100])
    return bytes(record.SerializeToString())
