"""Where each decoded value of a CAN batch goes in the readings, kept per pattern of instants.

A batch's values become rows (one per instant) by column. When every mapped pair has a value
and the instants never go back, where each value lands depends only on the layout (which
entries apply to which frame) and on which consecutive frames share an instant: a vehicle
sends the same pattern batch after batch, so the destinations, the surviving value of a
repeated instant (the last frame wins) and the columns are computed once per pattern and
reused (a bounded memo per layout, like the layouts of a table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decoders.can_layout import Layout

_MAX_PLANS = 256


@dataclass(frozen=True, slots=True)
class RowPlan:
    """For one layout and pattern of instants: which frames start an instant, which values
    survive and where each goes in the (columns x instants) array."""

    first: np.ndarray    # frames (among the compiled ones) that start an instant
    src: np.ndarray      # pairs whose value survives, in the order of ``dest``
    dest: np.ndarray     # flat position of each in the (columns, instants) array
    dense: np.ndarray | None  # every cell has a value: the pair of each cell, in order
    shape: tuple[int, int]
    columns: list[str]
    count: int


def plan_for(layout: Layout, same: np.ndarray) -> RowPlan:
    """The plan for ``same`` (frame i+1 has frame i's instant), computed on first sight."""
    key = same.tobytes()
    found = layout.plans.get(key)
    if found is None:
        if len(layout.plans) >= _MAX_PLANS:
            layout.plans.clear()
        found = layout.plans[key] = _plan(layout, same)
    return found


def _plan(layout: Layout, same: np.ndarray) -> RowPlan:
    first = np.ones(len(same) + 1, bool)
    first[1:] = ~same
    width = int(np.count_nonzero(first))
    inv = np.cumsum(first, dtype=np.intp) - 1
    cell = layout.col_mapped * width + inv[layout.fpos_mapped]
    pick = np.arange(len(cell))
    if len(cell) and np.bincount(cell).max() > 1:  # repeated instants: keep the last frame
        cell, last = np.unique(cell[::-1], return_index=True)
        pick = pick[::-1][last]
    used = layout.used
    row = np.searchsorted(used, cell // width)
    columns = [layout.table.columns[c] for c in used.tolist()]
    src, dest = layout.mapped[pick], row * width + cell % width
    dense = None
    if len(dest) == len(used) * width:
        dense = np.empty(len(dest), np.intp)
        dense[dest] = src
    return RowPlan(np.flatnonzero(first), src, dest, dense, (len(used), width), columns,
                   len(cell))
