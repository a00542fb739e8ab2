"""Random DBC files, signal mappings and CAN batches, for the differential test of the batch
decoder against the DBC library.

Each generated message has signals of every layout the DBC format has: little- and
big-endian, signed and unsigned, 1 to 52 bits, scales and offsets (decimal, binary, other),
named raw values, and multiplexing (a multiplexer selecting branches whose signals share
bits). Signals are mapped to catalog signals whose range holds them (most of the time), to
booleans, to enums through their named values, and some with a unit factor. Batches repeat
instants, come out of order, carry unknown ids, short and long frames and multiplexer
values that name no branch, so that the reference's refusals are exercised too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from decoders.catalog import load_catalog

SCALES = (1, 1, 0.1, 0.01, 0.001, 0.000001, 0.5, 0.0625, 2, 10, 0.25, 1.8, 0.05)
OFFSETS = (0, 0, 0, -40, 10, 0.5, -1000, 3.3, -0.2)
LENGTHS = (1, 1, 2, 3, 4, 7, 8, 10, 12, 16, 16, 20, 24, 32, 40, 52)
BRANCHES = (0, 1, 2, 5)


@dataclass
class GenSignal:
    """One generated DBC signal."""

    name: str
    start: int
    length: int
    big_endian: bool
    signed: bool
    scale: float
    offset: float
    mux: str = ""               # "M" for the multiplexer, "m<k>" for a branch signal
    choices: dict[int, str] = field(default_factory=dict)

    def line(self) -> str:
        order = "0" if self.big_endian else "1"
        sign = "-" if self.signed else "+"
        mux = f" {self.mux}" if self.mux else ""
        return (f' SG_ {self.name}{mux} : {self.start}|{self.length}@{order}{sign}'
                f' ({self.scale:g},{self.offset:g}) [0|0] "" ECU')


@dataclass
class GenMessage:
    """One generated DBC message."""

    frame_id: int
    name: str
    length: int
    signals: list[GenSignal] = field(default_factory=list)
    mux_start: int = -1  # little-endian 3-bit multiplexer at this bit, when multiplexed


def _cells(start: int, length: int, big_endian: bool, size: int) -> set[int] | None:
    """The (byte * 8 + bit) cells a signal covers, None when it leaves the frame."""
    if not big_endian:
        cells = set(range(start, start + length))
        return cells if start + length <= size * 8 else None
    cells, byte, bit = set(), start // 8, start % 8
    for _ in range(length):
        if byte >= size:
            return None
        cells.add(byte * 8 + bit)
        bit -= 1
        if bit < 0:
            byte, bit = byte + 1, 7
    return cells


def _place(rng: random.Random, size: int, taken: set[int], name: str) -> GenSignal | None:
    for _ in range(30):
        length = min(rng.choice(LENGTHS), size * 8)
        big = rng.random() < 0.4
        start = rng.randrange(size * 8) if big else rng.randrange(size * 8 - length + 1)
        cells = _cells(start, length, big, size)
        if cells is None or cells & taken:
            continue
        taken |= cells
        signed = length > 1 and rng.random() < 0.35
        return GenSignal(name, start, length, big, signed, rng.choice(SCALES),
                         rng.choice(OFFSETS))
    return None


def make_messages(rng: random.Random, count: int) -> list[GenMessage]:
    """``count`` messages, about a third multiplexed."""
    messages = []
    for k in range(count):
        m = GenMessage(0x100 + 7 * k, f"MSG{k}", rng.randint(1, 8))
        taken: set[int] = set()
        if m.length >= 2 and rng.random() < 0.35:
            m.mux_start = rng.randrange(0, m.length * 8 - 3)
            taken |= set(range(m.mux_start, m.mux_start + 3))
            m.signals.append(GenSignal(f"M{k}", m.mux_start, 3, False, False, 1, 0, "M"))
        for j in range(rng.randint(1, 4)):
            s = _place(rng, m.length, taken, f"S{k}_{j}")
            if s is not None:
                m.signals.append(s)
        if m.mux_start >= 0:
            for branch in BRANCHES[:rng.randint(1, 4)]:
                branch_taken = set(taken)
                for j in range(rng.randint(1, 2)):
                    s = _place(rng, m.length, branch_taken, f"B{k}_{branch}_{j}")
                    if s is not None:
                        s.mux = f"m{branch}"
                        m.signals.append(s)
        messages.append(m)
    return messages


def _phys_range(s: GenSignal) -> tuple[float, float]:
    lo, hi = (-(1 << (s.length - 1)), (1 << (s.length - 1)) - 1) if s.signed \
        else (0, (1 << s.length) - 1)
    a, b = lo * s.scale + s.offset, hi * s.scale + s.offset
    return min(a, b), max(a, b)


def map_signals(rng: random.Random, messages: list[GenMessage], clean: bool = False
                ) -> dict[str, object]:
    """The mapping file's signals: DBC signal -> catalog name or {"vss", "factor"}; adds
    named values to the signals it maps to enums (and to some others). ``clean``: every
    value the mapping gives is one the contract accepts (ranges hold, enums are named with
    the catalog's labels)."""
    catalog = load_catalog().signals
    floats = [s for s in catalog.values() if s.type == "float"]
    enums = [s for s in catalog.values() if s.type == "enum"]
    bools = [s for s in catalog.values() if s.type == "bool"]
    mapping: dict[str, object] = {}
    for m in messages:
        used: set[str] = set()
        for s in m.signals:
            if s.mux == "M" or rng.random() < 0.25:
                continue
            raw_max = (1 << (s.length - 1)) - 1 if s.signed else (1 << s.length) - 1
            if s.length <= 3 and not s.signed and rng.random() < 0.5:
                target = rng.choice([e for e in enums if e.name not in used] or [None])
                if target is not None and s.length <= 40:
                    labels = list(target.values) + ["NOT_IN_CATALOG"] * (
                        not clean and rng.random() < 0.1)
                    s.choices = {raw: rng.choice(labels) for raw in range(raw_max + 1)}
                    if not clean and rng.random() < 0.3:
                        s.choices.pop(rng.randrange(raw_max + 1), None)  # a number: rejected
                    used.add(target.name)
                    mapping[s.name] = target.name
                continue
            if s.length == 1 and rng.random() < 0.6:
                target = rng.choice([b for b in bools if b.name not in used] or [None])
                if target is not None:
                    if rng.random() < 0.3:
                        s.choices = {0: "Off", 1: "On"}
                    used.add(target.name)
                    mapping[s.name] = target.name
                continue
            lo, hi = _phys_range(s)
            fits = [f for f in floats if f.name not in used and f.min is not None
                    and f.max is not None and f.min <= lo and hi <= f.max]
            pool = fits if clean or (fits and rng.random() < 0.9) else \
                [f for f in floats if f.name not in used]
            if not pool:
                continue
            target = rng.choice(pool)
            used.add(target.name)
            if s.length <= 40 and rng.random() < 0.25:
                s.choices = {raw_max: "SNA", 0: "Init"} if rng.random() < 0.5 \
                    else {raw_max - 1: "Error"}
            factor = rng.choice([1.609344, 0.5])
            if rng.random() < 0.1 and (not clean or (
                    target.min is not None and target.max is not None
                    and target.min <= min(lo * factor, hi * factor)
                    and max(lo * factor, hi * factor) <= target.max)):
                mapping[s.name] = {"vss": target.name, "factor": factor}
            else:
                mapping[s.name] = target.name
    return mapping


def write_model(directory: Path, messages: list[GenMessage], mapping: dict[str, object]
                ) -> Path:
    """Write the DBC, the mapping and a models file; return the models file."""
    lines = ['VERSION ""', "NS_ :", "BS_:", "BU_: ECU"]
    for m in messages:
        lines.append(f"BO_ {m.frame_id} {m.name}: {m.length} ECU")
        lines += [s.line() for s in m.signals]
    for m in messages:
        for s in m.signals:
            if s.choices:
                pairs = " ".join(f'{raw} "{label}"' for raw, label in sorted(s.choices.items()))
                lines.append(f"VAL_ {m.frame_id} {s.name} {pairs} ;")
    (directory / "gen.dbc").write_text("\n".join(lines) + "\n")
    (directory / "gen.vss.json").write_text(json.dumps({"dbc": "gen.dbc", "strict": True,
                                                        "signals": mapping}))
    models = directory / "models.json"
    models.write_text(json.dumps({"default": "gen.vss.json", "models": {}}))
    return models


def make_frames(rng: random.Random, messages: list[GenMessage], now_ms: int,
                clean: bool) -> list[list[object]]:
    """One batch. ``clean``: in order, well-formed, multiplexers on known branches."""
    frames: list[list[object]] = []
    t = now_ms - rng.randint(60_000, 10_000_000)
    for _ in range(rng.randint(1, 30)):
        t += rng.choice([0, 10, 100, 1000]) if not clean else rng.choice([10, 100, 1000])
        for m in rng.sample(messages, rng.randint(1, len(messages))):
            size = m.length
            if not clean and rng.random() < 0.05:
                size = rng.choice([max(0, m.length - 1), m.length + 1, 12])
            data = bytearray(rng.randbytes(size))
            if m.mux_start >= 0 and (clean or rng.random() < 0.9) and size >= m.length:
                branch = rng.choice([b for b in BRANCHES if any(
                    s.mux == f"m{b}" for s in m.signals)] or [0])
                for i in range(3):
                    bit = m.mux_start + i
                    data[bit // 8] = (data[bit // 8] & ~(1 << bit % 8)) | \
                        (((branch >> i) & 1) << bit % 8)
            frames.append([t, m.frame_id, bytes(data)])
        if not clean and rng.random() < 0.1:
            frames.append([t, 0x7FF, bytes(8)])  # an id the DBC does not describe
    if not clean and rng.random() < 0.2:
        rng.shuffle(frames)
    if not clean and rng.random() < 0.1 and frames:
        frames.append(list(frames[0]))  # the same frame twice
    return frames
