"""What a sequence of frame ids means for the batch decoder: which compiled entries apply to
which frame, as flat per-pair arrays (``decoders.can_vector``).

It depends on the ids only, not on the data, and a vehicle sends the same sequence batch
after batch, so each table keeps the layouts it has seen (a bounded memo, like the signal
shapes of the map contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decoders.can_table import BOOL, CHOICE_BITS, ENUM, SignalTable

_MAX_LAYOUTS = 4096


@dataclass(frozen=True, slots=True)
class Layout:
    """Per (frame, entry) pair of one id sequence: where its bits are and how it converts."""

    table: SignalTable
    idx: np.ndarray          # frames whose message is compiled
    need: np.ndarray         # bytes each of them must have
    most: int                # ... the most of these
    unknown: int             # frames whose id the model does not describe
    word: np.ndarray         # per pair: index of its frame's word in its byte order
    shift: np.ndarray
    mask: np.ndarray
    sign: np.ndarray
    sign_i: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    factor: np.ndarray
    has_factor: bool
    present_all: np.ndarray  # all true (shared; never written)
    mux_levels: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # (pairs, mux, value)
    checked: np.ndarray      # pairs of multiplexers whose value must name a branch
    key_base: np.ndarray     # per pair: entry << CHOICE_BITS (lookup keys)
    bias: int
    rounded: np.ndarray      # pairs kept to the DBC's resolution (general form)
    power: np.ndarray        # ... 10^digits for each
    decimal: np.ndarray      # pairs in decimal form: (raw + steps) / div
    steps: np.ndarray
    div: np.ndarray
    all_decimal: bool
    signed: bool             # some pair is a signed signal
    bools: np.ndarray        # pairs on boolean catalog signals
    named: np.ndarray        # pairs with named raw values
    named_base: np.ndarray   # ... their lookup key less the raw value
    enum_named: np.ndarray   # ... which of them are enums
    mapped: np.ndarray       # pairs that go to a catalog column
    col_mapped: np.ndarray
    fpos_mapped: np.ndarray  # ... and their frame among ``idx``
    used: np.ndarray         # the columns the mapped pairs fill
    checked_range: np.ndarray  # mapped pairs whose values can leave the catalog's range
    low: np.ndarray          # per mapped pair: the catalog's range
    high: np.ndarray
    looked_up: np.ndarray | None  # pairs of booleans and named values, looked up (None:
    #                               some is too wide, or the batch is multiplexed)
    lookup_at: np.ndarray    # ... where each one's raw 0 is in the table's lookup
    lookup_nan: bool         # ... some of them may be named not available
    plans: dict[bytes, Any] = field(default_factory=dict)  # decoders.can_rows, per pattern


def layout_for(table: SignalTable, ids: tuple[int, ...]) -> Layout | None:
    """The layout of ``ids`` (None: a message that is not compiled, or no compiled one)."""
    layouts = table.layouts
    found: Layout | None
    if ids in layouts:
        found = layouts[ids]
        return found
    if len(layouts) >= _MAX_LAYOUTS:
        layouts.clear()
    found = layouts[ids] = _build(table, ids)
    return found


def _build(table: SignalTable, ids: tuple[int, ...]) -> Layout | None:
    try:
        fid = np.array(ids, np.int64)
    except OverflowError:
        return None
    if not len(table.ids):
        return None
    pos = np.minimum(np.searchsorted(table.ids, fid), len(table.ids) - 1)
    compiled = table.ids[pos] == fid
    others = fid[~compiled]
    if table.reference_only and np.isin(others, list(table.reference_only)).any():
        return None
    idx = np.flatnonzero(compiled)
    if not len(idx):
        return None
    m = pos[idx]
    counts = table.count[m]
    fpos = np.repeat(np.arange(len(idx)), counts)
    local = np.arange(len(fpos)) - np.repeat(np.cumsum(counts) - counts, counts)
    entry = table.first[m][fpos] + local
    bits, ints, floats = table.bits[entry], table.ints[entry], table.floats[entry]
    kind, col = ints[:, 1], ints[:, 2]
    levels = []
    for level in range(1, table.max_depth + 1):
        sel = np.flatnonzero(ints[:, 4] == level)
        levels.append((sel, sel - local[sel] + ints[sel, 3], table.mux_value[entry[sel]]))
    decimal = np.flatnonzero(floats[:, 6] == 1.0)
    rounded = np.flatnonzero((floats[:, 3] > 0) & (floats[:, 6] != 1.0))
    named = np.flatnonzero(table.named[entry])
    mapped = np.flatnonzero(col >= 0)
    looked_up = np.union1d(np.flatnonzero(kind == BOOL), named)
    lookup_at = table.lookup_base[entry[looked_up]]
    lookup_ok = not any(len(sel) for sel, _, _ in levels) and len(mapped) == len(entry) \
        and bool((lookup_at >= 0).all())
    return Layout(
        table, idx, table.length[m], int(table.length[m].max()), len(others),
        2 * idx[fpos] + ints[:, 0],
        np.ascontiguousarray(bits[:, 0]), np.ascontiguousarray(bits[:, 1]),
        np.ascontiguousarray(bits[:, 2]), bits[:, 2].astype(np.int64),
        np.ascontiguousarray(floats[:, 0]), np.ascontiguousarray(floats[:, 1]),
        np.ascontiguousarray(floats[:, 2]), bool((floats[:, 2] != 1.0).any()),
        np.ones(len(entry), bool), tuple(levels), np.flatnonzero(ints[:, 5] == 1),
        entry.astype(np.int64) << CHOICE_BITS, 1 << 40, rounded, floats[rounded, 3],
        decimal, floats[decimal, 4], floats[decimal, 5], len(decimal) == len(entry),
        bool(bits[:, 2].any()),
        np.flatnonzero(kind == BOOL), named,
        (entry[named].astype(np.int64) << CHOICE_BITS) + (1 << 40), kind[named] == ENUM,
        mapped, col[mapped],
        fpos[mapped], np.unique(col[mapped]), np.flatnonzero(np.isfinite(
            table.low[col[mapped]]) | np.isfinite(table.high[col[mapped]])),
        table.low[col[mapped]], table.high[col[mapped]],
        looked_up=looked_up if lookup_ok else None, lookup_at=lookup_at,
        lookup_nan=bool(table.lookup_nan[entry[looked_up]].any()))
