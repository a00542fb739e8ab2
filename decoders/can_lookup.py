"""Stored values of narrow CAN signals looked up instead of computed.

A boolean or a signal with named raw values (an enum, "SNA" on a number) is a few bits wide,
so every raw value it can have fits in a small table: what the batch decoder would store for
each (the scaled value, made 0/1 for a boolean, replaced by the named value where the DBC
names one, ``REFUSE`` where the reference rejects the frame). One gather then replaces the
conversion to booleans, the search among named values and its checks
(``decoders.can_vector``). The entries are computed with the same operations, in the same
order, as the general path, so they are the same floats; the differential test against the
DBC library covers both.
"""

from __future__ import annotations

import numpy as np

LOOKUP_BITS = 10  # at most 1,024 stored values per entry


def lookup_tables(bits: np.ndarray, ints: np.ndarray, floats: np.ndarray, named: np.ndarray,
                  choice_keys: np.ndarray, choice_values: np.ndarray, kinds: tuple[int, int],
                  choice_bits: int, refuse: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All looked-up values (flat) and, per entry, where its raw value 0 is in them (-1: the
    entry is computed, not looked up) and whether some of its values are NaN (named not
    available). ``kinds``: the BOOL and ENUM kinds."""
    bool_kind, enum_kind = kinds
    parts: list[np.ndarray] = []
    base = np.full(len(ints), -1, np.int64)
    has_nan = np.zeros(len(ints), bool)
    size = 0
    for e in range(len(ints)):
        kind = int(ints[e, 1])
        width = int(bits[e, 1]).bit_length()
        if not (kind == bool_kind or named[e]) or width > LOOKUP_BITS:
            continue
        signed = bool(bits[e, 2])
        v = np.arange(-(1 << (width - 1)) if signed else 0,
                      (1 << (width - 1)) if signed else 1 << width, dtype=np.int64)
        stored = _computed(v, floats[e])
        if kind == bool_kind:
            stored = (stored != 0).astype(np.float64)
        if named[e]:
            key = (e << choice_bits) + (1 << 40) + v
            j = np.searchsorted(choice_keys, key)
            hit = choice_keys[j] == key
            stored = np.where(hit, choice_values[j], stored)
            if kind == enum_kind:
                stored[~hit] = refuse
        base[e] = size - int(v[0])
        has_nan[e] = bool(np.isnan(stored).any())
        parts.append(stored)
        size += len(v)
    return (np.concatenate(parts) if parts else np.empty(0)), base, has_nan


def _computed(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """What the general path stores before booleans and names: the decimal form, or raw *
    scale + offset kept to the DBC's resolution, or times the unit factor."""
    scale, offset, factor, power, steps, div, decimal = f.tolist()
    if decimal == 1.0:
        out: np.ndarray = (v + steps) / div
        return out
    x = v * scale + offset
    if power > 0:
        rounded: np.ndarray = np.rint(x * power) / power
        return rounded
    scaled: np.ndarray = x * factor
    return scaled
