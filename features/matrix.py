"""The activity x maturity matrix and the movement between two dates, per vehicle or per
owner, with the strategy configured for each cell (``features/data/strategies.json``).

A vehicle's cell on a day is its activity segment of that day (the latest settled day up to
it) and its lifetime maturity then (the profile's definitions). An owner's cell is the most
active activity among the vehicles they hold that day and their own lifetime maturity over
their ownership periods (``features/owner_cells``). Vehicles without a settled day yet have
no cell and are counted apart (``unsettled``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

import psycopg

from features.owner_cells import owner_days
from features.profile import ACTIVITY_AS_OF, MATURITY_AS_OF
from features.segments import ACTIVITIES

By = Literal["vehicle", "owner"]
MATURITIES = ("novice", "regular", "expert")


@cache
def strategies() -> dict[str, str]:
    """'activity/maturity' -> strategy name, checked to cover every cell."""
    raw = json.loads((resources.files("features") / "data" / "strategies.json").read_text())
    cells: dict[str, str] = raw["cells"]
    missing = [f"{a}/{m}" for a in ACTIVITIES for m in MATURITIES if f"{a}/{m}" not in cells]
    if missing:
        raise ValueError(f"strategies.json: no strategy for {', '.join(missing)}")
    return cells


def strategy(activity: str, maturity: str) -> str | None:
    """The strategy of a cell (None for an unregistered vehicle's 'unknown' maturity)."""
    return strategies().get(f"{activity}/{maturity}")


@dataclass(frozen=True, slots=True)
class Member:
    """A vehicle or an owner and its cell on one day."""

    key: str
    activity: str
    maturity: str

    @property
    def cell(self) -> str:
        """``activity/maturity``."""
        return f"{self.activity}/{self.maturity}"


async def members(conn: psycopg.AsyncConnection, as_of: date, by: By,
                  dealer_id: str | None, model: str | None) -> tuple[list[Member], int]:
    """Every vehicle's (or owner's) cell on ``as_of``, and how many vehicles have none. By
    owner: the owners holding a vehicle of the dealer / model that day, each with their own
    cell (``features/owner_cells``); a vehicle without any owner stands alone."""
    cur = await conn.execute(
        f"SELECT a.vin, {ACTIVITY_AS_OF}, {MATURITY_AS_OF}, NOT EXISTS (SELECT 1 FROM"
        " ownership_periods p WHERE p.vehicle_id = a.id) FROM vehicles a"
        " WHERE (%(dealer)s::text IS NULL OR a.dealer_id = %(dealer)s)"
        " AND (%(model)s::text IS NULL OR a.model = %(model)s)",
        {"as_of": as_of, "dealer": dealer_id, "model": model})
    rows = await cur.fetchall()
    settled = [(vin, a, m, alone) for vin, a, m, alone in rows if a is not None]
    unsettled = len(rows) - len(settled)
    if by == "vehicle":
        return [Member(vin, a, m) for vin, a, m, _ in settled], unsettled
    found = [Member(f"vehicle:{vin}", a, m) for vin, a, m, alone in settled if alone]
    for o in (await owner_days(conn, as_of)).values():
        if o.activity is not None and any(
                (dealer_id is None or v["dealer_id"] == dealer_id)
                and (model is None or v["model"] == model) for v in o.held()):
            found.append(Member(o.owner_id, o.activity, o.maturity(as_of)))
    return sorted(found, key=lambda m: m.key), unsettled


def count(found: list[Member]) -> dict[str, Any]:
    """Counts per activity and maturity, each cell with its strategy."""
    n = Counter(m.cell for m in found)
    return {a: {m: {"count": n.get(f"{a}/{m}", 0), "strategy": strategy(a, m)}
                for m in (*MATURITIES, "unknown")} for a in ACTIVITIES}


def movements(before: list[Member], after: list[Member]) -> dict[str, dict[str, int]]:
    """How many moved from each cell to each cell (members present on both days)."""
    then = {m.key: m.cell for m in before}
    moved: dict[str, Counter[str]] = {}
    for m in after:
        if m.key in then:
            moved.setdefault(then[m.key], Counter())[m.cell] += 1
    return {frm: dict(sorted(to.items())) for frm, to in sorted(moved.items())}


def who_moved(before: list[Member], after: list[Member], frm: str, to: str) -> list[str]:
    """The members that were in ``frm`` and are in ``to`` (drill-down)."""
    then = {m.key: m.cell for m in before}
    return sorted(m.key for m in after if then.get(m.key) == frm and m.cell == to)

