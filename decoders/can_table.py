"""A model's DBC messages compiled into flat arrays, so that a batch of frames is decoded with
a fixed number of numpy operations whatever its ids (``decoders.can_vector``).

One *entry* per mapped DBC signal (a multiplexed one: one per branch value that selects it)
and per multiplexer signal (its value must name a branch, or the DBC library refuses the
frame). An entry knows where its bits are in a frame read as a 64-bit integer (little-endian
signals in the little-endian reading, big-endian ones in the big-endian reading), how to
sign, scale and convert them, and which catalog column takes the value.

A message is compiled only when the batch decoder reproduces the DBC library exactly; the
others (frames over 8 bytes, IEEE float signals, signals wider than 52 bits or outside the
frame, non-trivial multiplexer scaling, two signals of one message on one catalog signal)
are listed in ``reference_only`` and their batches are decoded by the library, frame by
frame, as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decoders.can_dbc import CanModel
from decoders.can_lookup import lookup_tables
from decoders.catalog import load_catalog
from decoders.shape_memo import ShapeMemo

FLOAT, BOOL, ENUM, MUX_ONLY = 0, 1, 2, 3
KIND = {"float": FLOAT, "bool": BOOL, "enum": ENUM}
CHOICE_BITS = 41  # choice lookup key: entry << 41 | (signed raw + 2^40)
MAX_BITS = 52     # raw values stay exact in float64
SAFE_BITS = 50    # scaled to whole steps, values stay well inside float64's integers
REFUSE = -np.inf  # a stored value the batch decoder cannot give (the reference rejects it)


@dataclass(frozen=True, slots=True)
class SignalTable:
    """Compiled messages (``ids`` sorted) and their entries; per-entry fields are arrays."""

    ids: np.ndarray          # frame ids, sorted
    length: np.ndarray       # bytes each message needs
    first: np.ndarray        # first entry of each message
    count: np.ndarray        # entries of each message
    bits: np.ndarray         # per entry (uint64): shift, mask, sign bit (0: unsigned)
    ints: np.ndarray         # per entry: endian, kind, column, mux entry, depth, checked
    floats: np.ndarray  # per entry: scale, offset, factor, power (10^digits or 0), and the
    #                     decimal form when it has one: offset in steps, 10^digits, 1.0
    mux_value: np.ndarray    # the branch value selecting the entry (muxed entries)
    named: np.ndarray        # per entry: has named raw values
    choice_keys: np.ndarray  # sorted lookup keys of named raw values
    choice_values: np.ndarray  # what each named value stores (NaN: not available)
    branch_keys: np.ndarray  # sorted keys (entry, value) of every valid multiplexer value
    columns: tuple[str, ...]   # catalog columns, in the order of their signal names
    low: np.ndarray            # range of each column (-inf..inf for bool and enum)
    high: np.ndarray
    max_depth: int
    reference_only: frozenset[int]
    lookup: np.ndarray         # stored values of narrow entries (decoders.can_lookup)
    lookup_base: np.ndarray    # per entry: where its raw 0 is in ``lookup`` (-1: computed)
    lookup_nan: np.ndarray     # per entry: some looked-up value is NaN (not available)
    layouts: dict[tuple[int, ...], Any] = field(default_factory=dict, compare=False)
    templates: ShapeMemo[Any] = field(default_factory=ShapeMemo, compare=False)  # by the
    #                  byte length of the frames array (decoders.can_template)


def _reason_not_compiled(message: Any, model: CanModel) -> str | None:
    if message.length > 8 or message.is_container:
        return "longer than 8 bytes"
    by_vss: dict[str, list[Any]] = {}
    for s in message.signals:
        if s.name in model.signals:
            by_vss.setdefault(model.signals[s.name].vss, []).append(s)
    for same in by_vss.values():
        ids = [i for s in same for i in (s.multiplexer_ids or [None])]
        if len(same) > 1 and (None in ids or len(set(ids)) != len(ids)
                              or len({s.multiplexer_signal for s in same}) != 1):
            return "two signals of one frame on one catalog signal"
    for s in message.signals:
        if s.is_float or s.length > MAX_BITS:
            return f"{s.name}: float or wider than {MAX_BITS} bits"
        target = model.signals.get(s.name)
        if target is not None and not s.choices \
                and load_catalog().signals[target.vss].type == "enum":
            return f"{s.name}: an enum without named values (each value is rejected)"
        if (s.choices or s.is_multiplexer) and s.length > 40:
            return f"{s.name}: named values or multiplexer wider than 40 bits"
        lsb = _lsb(s)
        top_byte = s.start // 8 if s.byte_order == "big_endian" else (lsb + s.length - 1) // 8
        low_byte = 7 - lsb // 8 if s.byte_order == "big_endian" else lsb // 8
        if lsb < 0 or max(top_byte, low_byte) >= message.length:
            return f"{s.name}: outside the frame"
        if target is not None and target.digits is not None and (
                2.0 ** s.length * abs(s.scale) + abs(s.offset)) * 10.0 ** target.digits \
                >= 2.0 ** SAFE_BITS:
            return f"{s.name}: too wide to round to {target.digits} decimals exactly"
        if s.is_multiplexer and (s.scale != 1 or s.offset != 0 or (
                s.choices and len(set(map(str, s.choices.values()))) != len(s.choices))):
            return f"{s.name}: multiplexer with scaling or repeated names"
    return None


def compile_table(model: CanModel) -> SignalTable:
    """Compile every message of ``model`` the batch decoder can reproduce exactly."""
    catalog = load_catalog().signals
    names = sorted({t.vss for t in model.signals.values()})
    column_of = {n: i for i, n in enumerate(names)}
    ints: list[list[int]] = []
    bits: list[list[int]] = []
    floats: list[list[float]] = []
    mux_values: list[int] = []
    named: list[bool] = []
    choice: dict[int, float] = {}
    branches: set[int] = set()
    ids, length, first, count, skipped = [], [], [], [], set()
    for frame_id in sorted(model.messages):
        message = model.messages[frame_id]
        if _reason_not_compiled(message, model) is not None:
            skipped.add(frame_id)
            continue
        start = len(ints)
        local: dict[str, int] = {}  # multiplexer name -> its entry's index in the message
        depth: dict[str, int] = {}
        for s in _ordered(message.signals):
            target = model.signals.get(s.name)
            if target is None and not s.is_multiplexer:
                continue
            mux_of = s.multiplexer_signal if s.multiplexer_ids else None
            d = depth[mux_of] + 1 if mux_of else 0
            for value in (s.multiplexer_ids or [0]):
                e = len(ints)
                kind = KIND[catalog[target.vss].type] if target else MUX_ONLY
                bits.append([_lsb(s), (1 << s.length) - 1,
                             (1 << (s.length - 1)) if s.is_signed else 0])
                ints.append([int(s.byte_order == "big_endian"), kind,
                             column_of[target.vss] if target else -1,
                             local[mux_of] if mux_of else -1, d, 0])
                digits = target.digits if target else None
                floats.append([float(s.scale), float(s.offset),
                               target.factor if target else 1.0,
                               10.0 ** digits if digits is not None else 0.0,
                               *_decimal(s, kind, target.factor if target else 1.0)])
                mux_values.append(int(value))
                named.append(bool(s.choices))
                for raw, label in (s.choices or {}).items():
                    stored = _named_value(kind, int(raw), str(label), target.vss if target
                                          else "")
                    choice[(e << CHOICE_BITS) | (int(raw) + (1 << 40))] = stored
                if s.is_multiplexer:
                    local[s.name] = e - start
                    depth[s.name] = d
                    valid = _branches(message, s)
                    ints[-1][5] = int(bool(valid))
                    branches.update((e << CHOICE_BITS) | (v + (1 << 40)) for v in valid)
                if not s.multiplexer_ids:
                    break
        ids.append(frame_id)
        length.append(message.length)
        first.append(start)
        count.append(len(ints) - start)
    specs = [catalog[n] for n in names]
    choice[np.iinfo(np.int64).max] = np.nan  # a sentinel above every key
    keys = np.array(sorted(choice), np.int64)
    bit_fields = np.array(bits, np.uint64).reshape(-1, 3)
    int_fields = np.array(ints, np.int64).reshape(-1, 6)
    float_fields = np.array(floats, np.float64).reshape(-1, 7)
    is_named = np.array(named, bool)
    choice_values = np.array([choice[k] for k in keys.tolist()], np.float64)
    lookup, lookup_base, lookup_nan = lookup_tables(
        bit_fields, int_fields, float_fields, is_named, keys, choice_values, (BOOL, ENUM),
        CHOICE_BITS, REFUSE)
    return SignalTable(
        np.array(ids, np.int64), np.array(length, np.int64), np.array(first, np.intp),
        np.array(count, np.intp), bit_fields, int_fields, float_fields,
        np.array(mux_values, np.int64), is_named, keys, choice_values,
        np.array(sorted(branches), np.int64), tuple(s.column for s in specs),
        np.array([s.min if s.type == "float" and s.min is not None else -np.inf
                  for s in specs]),
        np.array([s.max if s.type == "float" and s.max is not None else np.inf
                  for s in specs]),
        max((r[4] for r in ints), default=0), frozenset(skipped), lookup=lookup,
        lookup_base=lookup_base, lookup_nan=lookup_nan)


def _decimal(s: Any, kind: int, factor: float) -> tuple[float, float, float]:
    """(offset / scale, 1 / scale, 1.0) when the stored value is exactly (raw + offset /
    scale) / 10^k: a scale of 10^-k (k >= 0), an offset in whole steps, no unit factor,
    magnitudes well inside float64. Otherwise (0, 0, 0): computed as raw * scale + offset."""
    exponent = -math.log10(s.scale) if s.scale > 0 else -1.0
    k = round(exponent)
    steps = s.offset * 10.0 ** k if abs(exponent - k) < 1e-9 and k >= 0 else 0.5
    if factor != 1.0 or abs(steps - round(steps)) > 1e-9 or k > 15 \
            or (kind == BOOL and s.offset != 0) \
            or 2.0 ** s.length + abs(steps) >= 2.0 ** SAFE_BITS:
        return 0.0, 0.0, 0.0
    return float(round(steps)), 10.0 ** k, 1.0


def _lsb(s: Any) -> int:
    """The signal's lowest bit in the frame read as a 64-bit integer of its byte order."""
    if s.byte_order == "little_endian":
        return int(s.start)
    return int((7 - s.start // 8) * 8 + s.start % 8 - s.length + 1)


def _branches(message: Any, mux: Any) -> set[int]:
    """The values the DBC library accepts for a multiplexer (none listed: any value)."""
    valid = {int(v) for s in message.signals if s.multiplexer_signal == mux.name
             for v in (s.multiplexer_ids or ())}
    return valid | {int(k) for k in (mux.choices or {})}


def _ordered(signals: list[Any]) -> list[Any]:
    """Multiplexers before the signals they select (nested ones too)."""
    done: list[Any] = []
    pending = list(signals)
    while pending:
        placed = {s.name for s in done}
        ready = [s for s in pending if not s.multiplexer_ids or s.multiplexer_signal in placed]
        if not ready:
            raise ValueError("multiplexer cycle in " + ", ".join(s.name for s in pending))
        done += ready
        pending = [s for s in pending if s not in ready]
    return done


def _named_value(kind: int, raw: int, label: str, vss: str) -> float:
    """What a named raw value stores: an enum its label's index (REFUSE when the catalog lacks
    the label: the batch goes to the reference decoder, which says why), a boolean its raw
    0/1, anything else nothing (NaN: not available)."""
    if kind == ENUM:
        return load_catalog().signals[vss].index.get(label, REFUSE)
    if kind == BOOL and raw in (0, 1):
        return float(raw)
    return np.nan
