"""A message's signal map turned into a block of stored values, checked against the catalog.

The common message (known numeric signals, every value a finite number in range) is checked
with a few whole-block numpy operations. Anything else goes column by column and, where a
column fails, value by value, so every rejection names its signal and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import le
from typing import Any

import numpy as np

from decoders.catalog import SignalSpec, load_catalog
from decoders.errors import Rejection
from decoders.readings import Value
from decoders.sanity import encode_value

Block = tuple[list[str], np.ndarray, int]  # columns, values (signals x rows), values present
_NUMBERS = ({float}, {int}, {float, int})  # exact types: bool, a subclass of int, is no number
_NONE = type(None)
_MAX_SHAPES = 4096
_LIST = {list}
_UNSEEN = object()


@dataclass(frozen=True, slots=True)
class _Shape:
    """A recurring set of numeric signal names: their columns and ranges (as arrays for
    blocks of many rows, as lists for a single row, where numpy costs more than it saves)."""

    columns: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    low_list: list[float]
    high_list: list[float]


_shapes: dict[tuple[Any, ...], object] = {}  # memo: vehicles repeat their signal sets


def _shape(names: tuple[Any, ...]) -> _Shape | None:
    catalog = load_catalog().signals
    specs = [catalog.get(n) if isinstance(n, str) else None for n in names]
    floats = [s for s in specs if s is not None and s.type == "float"]
    if not names or len(floats) != len(names):
        return None
    lows = [float(s.min) for s in floats if s.min is not None]
    highs = [float(s.max) for s in floats if s.max is not None]
    if len(lows) != len(floats) or len(highs) != len(floats):
        return None  # the catalog loader requires ranges of numeric signals
    return _Shape(tuple(s.column for s in floats), np.array(lows)[:, None],
                  np.array(highs)[:, None], lows, highs)


def numeric_shape(names: tuple[Any, ...]) -> _Shape | None:
    """The columns and ranges of a set of signal names when every one is a known numeric
    signal (None otherwise); kept per set of names, as vehicles repeat theirs."""
    shape = _shapes.get(names, _UNSEEN)
    if shape is _UNSEEN:
        if len(_shapes) >= _MAX_SHAPES:
            _shapes.clear()
        shape = _shapes[names] = _shape(names)
    return shape if isinstance(shape, _Shape) else None


def _whole_block(signals: dict[Any, Any], rows: int) -> Block | None:
    shape = numeric_shape(tuple(signals))
    if shape is None:
        return None
    lists = list(signals.values())
    if set(map(type, lists)) != _LIST or set(map(len, lists)) != {rows}:
        return None
    if rows == 1:
        flat = [values[0] for values in lists]
        if set(map(type, flat)) not in _NUMBERS or not all(map(le, shape.low_list, flat)) \
                or not all(map(le, flat, shape.high_list)):  # NaN fails every comparison
            return None
        return list(shape.columns), np.array(flat, np.float64)[:, None], len(flat)
    if set(map(type, chain.from_iterable(lists))) not in _NUMBERS:
        return None
    try:
        block = np.array(lists, np.float64)
    except OverflowError:
        return None
    if not ((block >= shape.low) & (block <= shape.high)).all():  # NaN fails both tests
        return None
    return list(shape.columns), block, block.size


def signal_block(signals: dict[Any, Any], width: int, keep: list[int] | None,
                 rejections: list[Rejection]) -> Block:
    """The valid values of ``signals`` (each a list of ``width`` values), restricted to the
    rows ``keep`` (None: all); what is dropped is added to ``rejections``."""
    if keep is None:
        fast = _whole_block(signals, width)
        if fast is not None:
            return fast
    catalog = load_catalog().signals
    columns: list[str] = []
    lists: list[list[Value]] = []
    count = 0
    for name, values in signals.items():
        spec = catalog.get(name) if isinstance(name, str) else None
        if spec is None:
            rejections.append(Rejection("unknown_signal", f"unknown signal {str(name)[:80]!r}"))
            continue
        if not isinstance(values, list) or len(values) != width:
            got = len(values) if isinstance(values, list) else type(values).__name__
            rejections.append(
                Rejection("length_mismatch", f"dt has {width} entries, {name} has {got}"))
            continue
        picked = values if keep is None else [values[i] for i in keep]
        column, present = _whole_column(spec, picked) or _each_value(spec, picked, rejections)
        if present:
            columns.append(spec.column)
            lists.append(column)
            count += present
    rows = width if keep is None else len(keep)
    return columns, np.array(lists, np.float64) if lists else np.empty((0, rows)), count


def _whole_column(spec: SignalSpec, values: list[Any]) -> tuple[list[Value], int] | None:
    """The stored column when every value passes, checked with builtins (C loops); None
    sends the column through the per-value checks for exact reasons."""
    types = set(map(type, values))
    present = values
    if _NONE in types:
        types.discard(_NONE)
        present = [v for v in values if v is not None]
    if spec.type == "float":
        if types not in _NUMBERS:
            return None if present else (values, 0)
        total = sum(present)  # NaN or infinity anywhere makes the sum non-finite
        assert spec.min is not None and spec.max is not None
        if total - total != 0 or min(present) < spec.min or max(present) > spec.max:
            return None
        return values, len(present)
    if spec.type == "bool" and types <= {bool}:
        return [None if v is None else float(v) for v in values], len(present)
    if spec.type == "enum" and types <= {str}:
        index = spec.index
        if all(v in index for v in present):
            return [None if v is None else index[v] for v in values], len(present)
    return None


def _each_value(spec: SignalSpec, values: list[Any], rejections: list[Rejection]
                ) -> tuple[list[Value], int]:
    column: list[Value] = []
    present = 0
    for raw in values:
        encoded = None if raw is None else encode_value(spec, raw)
        if isinstance(encoded, Rejection):
            rejections.append(encoded)
            encoded = None
        column.append(encoded)
        present += encoded is not None
    return column, present
