"""Condition rules: readings that make a service item due whatever the distance or date (a
12 V battery weak at several starts, a tyre losing pressure, worn brake pads, low engine
oil, a traction battery's health), from ``features/data/conditions.json``.

Each local day keeps the aggregates the rules need (``day_aggregates_sql``, stored with the
day's usage); ``Tracker`` walks the days of a service cycle and says, day by day, which
conditions hold and with which reading.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from psycopg import sql

from decoders.catalog import load_catalog
from features.service import Threshold

Pattern = Literal["starts_below", "below", "at_or_above", "in", "code_prefix"]
_AGGREGATE: dict[Pattern, str] = {"starts_below": "starts", "below": "min",
                                  "at_or_above": "max", "in": "set", "code_prefix": "codes"}
DTC_KEY = "codes:dtc"  # the day's active trouble codes (from the reports, not samples)


@dataclass(frozen=True, slots=True)
class Condition:
    """One rule: when ``pattern`` holds on ``signals``, ``item`` is due at ``status``."""

    name: str
    item: str
    status: Threshold
    signals: tuple[str, ...]
    pattern: Pattern
    value: float | None = None
    count: int = 1
    values: tuple[str, ...] = ()

    def readings(self) -> list[tuple[str, str, str]]:
        """(aggregate key, signal, column) of every reading the rule looks at."""
        if self.pattern == "code_prefix":
            return [(DTC_KEY, s, "") for s in self.signals]
        cat = load_catalog().signals
        agg = _AGGREGATE[self.pattern]
        return [(f"{agg}:{cat[s].column}", s, cat[s].column) for s in self.signals]


@cache
def load_conditions() -> tuple[Condition, ...]:
    """features/data/conditions.json, checked against the catalog."""
    raw = json.loads((resources.files("features") / "data" / "conditions.json").read_text())
    out = []
    for c in raw["conditions"]:
        cond = Condition(c["name"], c["item"], c["status"], tuple(c["signals"]), c["pattern"],
                         c.get("value"), int(c.get("count", 1)), tuple(c.get("values", ())))
        known = load_catalog().lists if cond.pattern == "code_prefix" \
            else load_catalog().signals
        missing = [s for s in cond.signals if s not in known]
        if missing or cond.pattern not in _AGGREGATE or cond.status not in ("due_soon",
                                                                             "overdue"):
            raise ValueError(f"conditions.json: condition {cond.name!r} is invalid")
        out.append(cond)
    return tuple(out)


def day_aggregates_sql() -> sql.Composed:
    """The select-list computing every rule's per-day aggregate over ``samples`` (one
    ``jsonb_build_object``); the ignition index of START is parameter ``%(start)s``.
    Readings at starts are ``[t_ms, value]`` pairs, so that aggregates of parts of a day
    merge (``merge_aggregates``)."""
    parts: list[sql.Composable] = []
    seen: set[str] = set()
    for cond in load_conditions():
        for key, _, column in cond.readings():
            if key in seen or cond.pattern == "code_prefix":
                continue
            seen.add(key)
            col = sql.Identifier(column)
            expr = {
                "starts": sql.SQL("array_agg(jsonb_build_array((extract(epoch FROM ts) * 1000)"
                                  "::bigint, {c}) ORDER BY ts) FILTER (WHERE ignition ="
                                  " %(start)s AND {c} IS NOT NULL)"),
                "min": sql.SQL("min({c})"), "max": sql.SQL("max({c})"),
                "set": sql.SQL("array_agg(DISTINCT {c}) FILTER (WHERE {c} IS NOT NULL)"),
            }[key.split(":")[0]].format(c=col)
            parts.extend([sql.Literal(key), expr])
    return sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(parts))


def mergeable(day: dict[str, Any]) -> bool:
    """Whether a stored day's aggregates can take more rows (starts stored with times)."""
    return all(isinstance(p, list) for k, v in day.items() if k.startswith("starts:")
               for p in v)


def merge_aggregates(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The aggregates over the rows of both (a row in both counts once): minima, maxima,
    sets of values, and readings at starts in time order."""
    out = dict(a)
    for key, value in b.items():
        old = out.get(key)
        if old is None:
            out[key] = value
            continue
        kind = key.split(":")[0]
        if kind == "min":
            out[key] = min(old, value)
        elif kind == "max":
            out[key] = max(old, value)
        elif kind in ("set", "codes"):
            out[key] = sorted(set(old) | set(value))
        else:  # starts: [t_ms, value] pairs, one per instant
            out[key] = sorted({p[0]: p for p in old + value}.values())
    return out


@dataclass(slots=True)
class Tracker:
    """Walks one vehicle's days in order; ``starts`` restart with each service cycle."""

    conditions: tuple[Condition, ...]
    _starts: dict[str, list[float]] = field(default_factory=dict)
    _cycle: str | None = None

    def day(self, cycle: str, day: dict[str, Any]) -> list[tuple[Condition, dict[str, Any]]]:
        """The conditions that hold on a day with these aggregates, with their readings."""
        if cycle != self._cycle:
            self._cycle, self._starts = cycle, {}
        held = []
        for cond in self.conditions:
            reading = self._check(cond, day)
            if reading is not None:
                held.append((cond, {"condition": cond.name, **reading}))
        return held

    def _check(self, cond: Condition, day: dict[str, Any]) -> dict[str, Any] | None:
        cat = load_catalog().signals
        for key, signal, _ in cond.readings():
            got = day.get(key)
            if got is None:
                continue
            if cond.pattern == "starts_below":
                starts = self._starts.setdefault(key, [])
                # [t_ms, value] pairs; a day stored before readings carried times: values
                starts.extend(float(p[1]) if isinstance(p, list) else float(p) for p in got)
                last = starts[-cond.count:]
                if len(last) == cond.count and all(v < (cond.value or 0) for v in last):
                    return {"signal": signal, "value": last[-1], "starts": last}
            elif cond.pattern in ("below", "at_or_above"):
                low = float(got) < (cond.value or 0)
                if low == (cond.pattern == "below"):
                    return {"signal": signal, "value": float(got)}
            elif cond.pattern == "in":
                labels = [cat[signal].values[int(i)] for i in got]
                hit = sorted(set(labels) & set(cond.values))
                if hit:
                    return {"signal": signal, "value": hit[0]}
            elif cond.pattern == "code_prefix":
                codes = sorted(c for c in got if c.startswith(cond.values))
                if codes:
                    return {"signal": signal, "value": codes[0]}
        return None
