"""A batch of CAN frames decoded with a fixed number of numpy operations.

Every frame is read once as a 64-bit integer in each byte order; every (frame, compiled
entry) pair of the batch is one element of flat arrays: bits extracted, signed, scaled,
named values looked up, multiplexer branches selected, all at once (``decoders.can_table``
says what an entry is). Frames of one instant make one row, and the last frame of an
instant wins, as in the frame-by-frame decoding. What depends only on the sequence of frame
ids (which entries apply to which frame) is kept per sequence: a vehicle sends the same
sequence batch after batch.

The result must equal the DBC library's decoding (``decoders.can_v1.decode_reference``), and
a differential test checks that it does. Whenever that is not certain (a malformed frame, a
message that is not compiled, a value the contract would reject, a rounding that falls on a
half), ``decode_batch`` returns None and the batch goes to the reference decoder, which
says exactly what is wrong.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

from decoders.can_dbc import CanModel
from decoders.can_layout import Layout, layout_for
from decoders.can_rows import RowPlan, plan_for
from decoders.can_table import REFUSE, SignalTable, compile_table
from decoders.readings import DecodeContext, Readings
from decoders.sanity import MAX_ROWS, timestamp_problem

_INT, _BYTES = {int}, {bytes}
_tables: dict[int, tuple[CanModel, SignalTable]] = {}


def table_for(model: CanModel) -> SignalTable:
    """The compiled table of a loaded model (compiled once; models live as long as the
    process)."""
    found = _tables.get(id(model))
    if found is None or found[0] is not model:
        found = _tables[id(model)] = (model, compile_table(model))
    return found[1]


def header_ok(doc: dict[Any, Any], ctx: DecodeContext) -> bool:
    """Whether the batch's VIN is the topic's and its sequence number a valid one (else the
    reference decoder says which is wrong)."""
    vin, seq = doc.get("vin"), doc.get("seq")
    return type(vin) is str and vin == ctx.topic_vin and type(seq) is int \
        and 0 <= seq < 2**63


def decode_batch(doc: dict[Any, Any], frames: list[Any], model: CanModel,
                 ctx: DecodeContext) -> Readings | None:
    """The readings of a well-formed batch, or None to send it to the reference decoder."""
    if not header_ok(doc, ctx):
        return None
    try:  # a frame that is not a list of three fails here or in the type checks below
        ts, ids, datas = zip(*frames, strict=True)
    except (TypeError, ValueError):
        return None
    if len(ts) != len(frames) or set(map(type, ts)) != _INT or set(map(type, ids)) != _INT \
            or set(map(type, datas)) != _BYTES:
        return None
    layout = layout_for(table_for(model), ids)
    if layout is None:
        return None
    try:
        t = np.array(ts, np.int64)[layout.idx]
    except OverflowError:
        return None
    if min(map(len, datas)) < layout.most and _any(short_frames(datas, layout)):
        return None
    return decode_pairs(layout, t, _words(datas)[layout.word], doc["vin"], doc["seq"], ctx)


def decode_pairs(layout: Layout, t: np.ndarray, words: np.ndarray, vin: str, seq: int,
                 ctx: DecodeContext) -> Readings | None:
    """The readings from the compiled frames' times ``t`` and each pair's frame word in its
    byte order (``words``), or None to send the batch to the reference decoder."""
    found = _values(layout, words)
    if found is None:
        return None
    value, unavailable, full = found
    rows = _rows(layout, t, value, full)
    if rows is None:
        return None
    times, signals, values, count = rows
    if len(times) > MAX_ROWS or count == 0 or times[0] < 0 \
            or timestamp_problem(int(times[0]), ctx.now_ms) is not None \
            or timestamp_problem(int(times[-1]), ctx.now_ms) is not None:
        return None
    ts_ms = times.tolist()
    return Readings(vin=vin, seq=seq, t0_ms=ts_ms[0], ts_ms=ts_ms, signals=signals,
                    values=values, value_count=count, unknown_frames=layout.unknown,
                    unavailable_values=unavailable)


def _any(flags: np.ndarray) -> bool:
    return bool(np.count_nonzero(flags))  # the cheapest reduction numpy has


def short_frames(datas: tuple[bytes, ...], layout: Layout) -> np.ndarray:
    """Which compiled frames are shorter than their message (the reference refuses them)."""
    lens = np.fromiter(map(len, datas), np.int64, len(datas))
    short: np.ndarray = lens[layout.idx] < layout.need
    return short


def _words(datas: tuple[bytes, ...]) -> np.ndarray:
    """Each frame's first 8 bytes (zero-padded) as integers: little-endian then big-endian
    (flat: frame i's are at 2i and 2i+1)."""
    joined = b"".join(map(bytes.ljust, datas, repeat(8), repeat(b"\0")))
    if len(joined) != 8 * len(datas):  # a frame over 8 bytes (its message is shorter)
        joined = b"".join(d[:8].ljust(8, b"\0") for d in datas)
    le = np.frombuffer(joined, "<u8")
    words = np.empty(2 * len(datas), np.uint64)
    words[0::2] = le
    words[1::2] = le.byteswap()
    return words


def _values(layout: Layout, words: np.ndarray) -> tuple[np.ndarray, int, bool] | None:
    """Each pair's stored value (NaN: absent, or named not available by the DBC), how many
    are not available, and whether every mapped pair has a value."""
    raw = (words >> layout.shift) & layout.mask
    v = (raw ^ layout.sign).view(np.int64) - layout.sign_i if layout.signed \
        else raw.view(np.int64)
    present = layout.present_all
    if layout.mux_levels:
        present = np.ones(len(v), bool)
        for sel, mux, wanted in layout.mux_levels:
            present[sel] = present[mux] & (v[mux] == wanted)
    if len(layout.checked):
        c = layout.checked
        ok = np.isin(layout.key_base[c] | (v[c] + layout.bias), layout.table.branch_keys)
        if _any(~ok & present[c]):
            return None  # a multiplexer value naming no branch: the reference refuses it
    value: np.ndarray
    if layout.all_decimal:
        value = (v + layout.steps) / layout.div
    else:
        general = _general(layout, v)
        if general is None:
            return None
        value = general
    if layout.looked_up is not None:  # booleans and named values: one gather
        looked = layout.table.lookup[layout.lookup_at + v[layout.looked_up]]
        if _any(looked == REFUSE):
            return None  # a number, or a label the catalog lacks, on an enum: rejected
        value[layout.looked_up] = looked
        missing = int(np.count_nonzero(np.isnan(looked))) if layout.lookup_nan else 0
        return value, missing, missing == 0
    if len(layout.bools):
        value[layout.bools] = value[layout.bools] != 0
    if len(layout.named):
        n = layout.named
        key = layout.named_base + v[n]
        keys = layout.table.choice_keys  # ends with a key above every other: j stays inside
        j = np.searchsorted(keys, key)
        hit = keys[j] == key
        stored = layout.table.choice_values[j]
        named = np.where(hit, stored, value[n])
        if _any((~hit & layout.enum_named | (named == REFUSE)) & present[n]):
            return None  # a number, or a label the catalog lacks, on an enum: rejected
        value[n] = named
    missing = int(np.count_nonzero(np.isnan(value[layout.mapped])))
    if present is layout.present_all:
        return value, missing, missing == 0
    unavailable = int(np.count_nonzero(np.isnan(value[layout.mapped]) & present[layout.mapped]))
    value[~present] = np.nan
    return value, unavailable, False


def _general(layout: Layout, v: np.ndarray) -> np.ndarray | None:
    """raw * scale + offset, times the unit factor or kept to the DBC's resolution."""
    x = v * layout.scale + layout.offset
    value: np.ndarray = x * layout.factor if layout.has_factor else x
    if len(layout.rounded):
        r = layout.rounded
        scaled = x[r] * layout.power
        nearest = np.rint(scaled)
        if _any(np.abs(scaled - nearest) > 0.25):
            return None  # near a half: rounding must follow the decimal value, as round()
        value[r] = nearest / layout.power
    if len(layout.decimal):
        d = layout.decimal
        value[d] = (v[d] + layout.steps) / layout.div
    return value


def _rows(layout: Layout, t: np.ndarray, value: np.ndarray, full: bool
          ) -> tuple[np.ndarray, list[str], np.ndarray, int] | None:
    """Values by (column, instant); the last frame of an instant wins. ``full``: every
    mapped pair has a value."""
    step = t[1:] - t[:-1]
    back = _any(step < 0)
    if full and not back:
        return _planned(layout, t, value, plan_for(layout, step == 0))
    if not back:
        first = np.empty(len(t), bool)
        first[:1] = True
        np.not_equal(step, 0, out=first[1:])
        times, inv = t[first], np.cumsum(first, dtype=np.intp) - 1
    else:
        times, inv = np.unique(t, return_inverse=True)
    width = len(times)
    cell = layout.col_mapped * width + inv[layout.fpos_mapped]
    vals = value[layout.mapped]
    if not full:
        keep = ~np.isnan(vals)
        cell, vals = cell[keep], vals[keep]
    table = layout.table
    if len(layout.checked_range) and _any(
            (vals < layout.low) | (vals > layout.high) if full else
            (vals < table.low[cell // width]) | (vals > table.high[cell // width])):
        return None  # out of the catalog's range: the reference names each value
    grid = np.empty(len(table.columns) * width)
    grid.fill(np.nan)
    if len(cell) and np.bincount(cell).max() > 1:  # repeated instants: keep the last frame
        cell, last = np.unique(cell[::-1], return_index=True)
        vals = vals[::-1][last]
    grid[cell] = vals
    by_column = grid.reshape(-1, width)
    used = layout.used if full else \
        np.count_nonzero(~np.isnan(by_column), axis=1).nonzero()[0]
    return times, [table.columns[c] for c in used.tolist()], by_column[used], len(cell)


def _planned(layout: Layout, t: np.ndarray, value: np.ndarray, plan: RowPlan
             ) -> tuple[np.ndarray, list[str], np.ndarray, int] | None:
    """``_rows`` for a full batch whose instants never go back, from its pattern's plan."""
    if len(layout.checked_range):  # every frame's values, the overwritten ones too
        vals = value if len(layout.mapped) == len(value) else value[layout.mapped]
        if _any((vals < layout.low) | (vals > layout.high)):
            return None
    if plan.dense is not None:
        return t[plan.first], plan.columns, value[plan.dense].reshape(plan.shape), plan.count
    out = np.empty(plan.shape[0] * plan.shape[1])
    out.fill(np.nan)
    out[plan.dest] = value[plan.src]
    return t[plan.first], plan.columns, out.reshape(plan.shape), plan.count
