"""The signal and cockpit-event catalogs, loaded from the data files beside this module."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

SignalType = Literal["float", "int", "bool", "enum"]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One catalog signal: its VSS name, storage column, type, unit and valid range."""

    name: str
    column: str
    type: SignalType
    unit: str
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    index: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.index.update({v: float(i) for i, v in enumerate(self.values)})

    def range_text(self) -> str:
        """The valid range as people write it, e.g. ``0..500 km/h``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{_num(self.min)}..{_num(self.max)}{unit}"

    def decode_stored(self, stored: float) -> float | bool | str:
        """Turn a stored value back into the wire value (enum label, bool, number)."""
        if self.type == "enum":
            return self.values[int(stored)]
        if self.type == "bool":
            return stored != 0.0
        return stored


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A catalog signal whose value is a list of strings (the active trouble codes): kept
    in its own table, one report per row, each item matching ``item_pattern``."""

    name: str
    table: str
    max_items: int
    item_pattern: re.Pattern[str]

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not a valid report, or None."""
        if not isinstance(value, list):
            return f"expected a list of strings, got {type(value).__name__}"
        if len(value) > self.max_items:
            return f"{len(value)} items, over the {self.max_items} limit"
        for item in value:
            if not isinstance(item, str) or not self.item_pattern.fullmatch(item):
                return f"item {str(item)[:20]!r} does not match {self.item_pattern.pattern}"
        return None


@dataclass(frozen=True, slots=True)
class TextSpec:
    """A catalog signal whose value is a short string (a software version): kept in its own
    table, one report per row, labelled with the ``component`` it describes."""

    name: str
    table: str
    component: str
    pattern: re.Pattern[str]

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not a valid report, or None."""
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        if not self.pattern.fullmatch(value):
            return f"{value[:40]!r} does not match {self.pattern.pattern}"
        return None


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Signals by name and event types with their domain."""

    vss_release: str
    signals: dict[str, SignalSpec]
    event_domains: dict[str, str]
    domains: tuple[str, ...]  # the cockpit domains, in the order features report them
    lists: dict[str, ListSpec] = field(default_factory=dict)
    texts: dict[str, TextSpec] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Storage columns in catalog order."""
        return [s.column for s in self.signals.values()]

    def by_column(self, column: str) -> SignalSpec:
        """The signal stored in ``column``."""
        for spec in self.signals.values():
            if spec.column == column:
                return spec
        raise KeyError(column)


@cache
def load_catalog() -> Catalog:
    """Read and check the catalog data files (cached: they ship with the code)."""
    data = resources.files("decoders") / "data"
    raw = json.loads((data / "vss_catalog.json").read_text("utf-8"))
    signals: dict[str, SignalSpec] = {}
    for entry in raw["signals"]:
        spec = SignalSpec(
            name=entry["name"],
            column=entry["column"],
            type=entry["type"],
            unit=entry.get("unit", ""),
            min=entry.get("min"),
            max=entry.get("max"),
            values=tuple(entry.get("values", ())),
        )
        if spec.type in ("float", "int") and (spec.min is None or spec.max is None):
            raise ValueError(f"catalog signal {spec.name}: numeric signals need min and max")
        if spec.type == "enum" and not spec.values:
            raise ValueError(f"catalog signal {spec.name}: enum signals need values")
        if not spec.column.isidentifier() or spec.column != spec.column.lower():
            raise ValueError(f"catalog signal {spec.name}: column {spec.column!r} is not a name")
        signals[spec.name] = spec
    events = json.loads((data / "event_types.json").read_text("utf-8"))
    domains = {e["type"]: e["domain"] for e in events["event_types"]}
    listed = tuple(events["domains"])
    for kind, dom in domains.items():
        if dom not in listed:
            raise ValueError(f"event type {kind}: domain {dom!r} is not in the domains list")
    lists = {e["name"]: ListSpec(e["name"], e["table"], int(e["max_items"]),
                                 re.compile(e["item_pattern"]))
             for e in raw.get("lists", [])}
    texts = {e["name"]: TextSpec(e["name"], e["table"], e["component"], re.compile(e["pattern"]))
             for e in raw.get("texts", [])}
    if len({*lists, *texts, *signals}) != len(lists) + len(texts) + len(signals):
        raise ValueError("catalog: a signal name is listed twice (numeric, list or text)")
    return Catalog(raw["vss_release"], signals, domains, listed, lists, texts)
