"""The cockpit feature catalog: which feature an owner used, from a cockpit event's type and
attributes (``features/data/cockpit_features.json``, versioned like the signal catalog).

Domains say which part of the cockpit a car uses; features say what exactly: CarPlay or
Android Auto, streaming or the radio, which app. An event that matches no entry is counted
as ``unknown`` (a new head-unit release may send types this catalog does not know yet);
it is never rejected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FeatureRule:
    """One catalog entry: an event type, the attribute values it needs, and its name (or,
    with ``id_attr``, a name template filled from that attribute)."""

    name: str
    type: str
    match: Mapping[str, str] = field(default_factory=dict)
    id_attr: str | None = None
    id_pattern: re.Pattern[str] | None = None

    def feature(self, attrs: Mapping[str, object]) -> str | None:
        """The feature this event is, or None when this rule does not cover it."""
        for key, want in self.match.items():
            if str(attrs.get(key, "")) != want:
                return None
        if self.id_attr is None:
            return self.name
        value = str(attrs.get(self.id_attr, ""))
        if self.id_pattern is None or not self.id_pattern.fullmatch(value):
            return None
        return self.name.replace("{" + self.id_attr + "}", value)


@dataclass(frozen=True, slots=True)
class FeatureCatalog:
    """Rules by event type, in catalog order, and where the duration is carried."""

    version: str
    rules: dict[str, tuple[FeatureRule, ...]]
    duration_attr: str

    @property
    def fixed_names(self) -> list[str]:
        """The features with a fixed name (not those named from an attribute, such as apps)."""
        return [r.name for rules in self.rules.values() for r in rules if r.id_attr is None]

    def classify(self, event_type: str, attrs: Mapping[str, object]) -> str:
        """The feature of one event: the first rule of its type that matches, else unknown."""
        for rule in self.rules.get(event_type, ()):
            name = rule.feature(attrs)
            if name is not None:
                return name
        return UNKNOWN

    def seconds(self, attrs: Mapping[str, object]) -> float:
        """How long the use lasted, from the duration attribute (0 when absent or not a
        number in 0..86,400 s: a use still counts, without minutes)."""
        raw = attrs.get(self.duration_attr)
        try:
            value = float(str(raw)) if raw is not None and not isinstance(raw, bool) else 0.0
        except ValueError:
            return 0.0
        return value if math.isfinite(value) and 0.0 <= value <= 86_400.0 else 0.0


def parse_catalog(raw: Mapping[str, object]) -> FeatureCatalog:
    """Check and index a catalog document; errors name the entry."""
    rules: dict[str, list[FeatureRule]] = {}
    entries = raw.get("features")
    if not isinstance(entries, list) or not entries:
        raise ValueError("cockpit feature catalog: 'features' must be a non-empty list")
    for i, entry in enumerate(entries):
        where = f"cockpit feature catalog: features[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("type"), str):
            raise ValueError(f"{where}: needs 'name' and 'type' strings")
        id_attr = entry.get("id_attr")
        if id_attr is not None and "{" + str(id_attr) + "}" not in entry["name"]:
            raise ValueError(f"{where}: name {entry['name']!r} lacks {{{id_attr}}}")
        rules.setdefault(entry["type"], []).append(FeatureRule(
            name=entry["name"], type=entry["type"],
            match={str(k): str(v) for k, v in dict(entry.get("match", {})).items()},
            id_attr=None if id_attr is None else str(id_attr),
            id_pattern=re.compile(str(entry.get("id_pattern", r"^[a-z0-9_]{1,32}$")))))
    return FeatureCatalog(str(raw.get("version", "")), {k: tuple(v) for k, v in rules.items()},
                          str(raw.get("duration_attr", "duration_s")))


@cache
def load_feature_catalog() -> FeatureCatalog:
    """The catalog shipped with the code (cached)."""
    path = resources.files("features") / "data" / "cockpit_features.json"
    return parse_catalog(json.loads(path.read_text("utf-8")))
