"""VSS catalog releases: turn values a vehicle sends in its release's units into ours.

The catalog (``data/vss_catalog.json``) follows one VSS release; ``data/vss_releases.json``
lists the releases we accept and, per catalog signal, how that release differs: its unit
and type and the factor into ours (VSS 6 sends ``Vehicle.TraveledDistance`` as metres in a
uint32 where the catalog stores km), and its name there when it was renamed (VSS 6:
``...CombustionEngine.EngineCoolant.Temperature`` for our ``...CombustionEngine.ECT``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from decoders.errors import Rejected, Rejection

_UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Change:
    """How one signal differs in a release."""

    unit: str
    type: str
    to_catalog: float
    path: str = ""  # the signal's name in that release, when it was renamed


@cache
def releases() -> dict[str, dict[str, Change]]:
    """Release -> signal -> change (read once; the file ships with the code)."""
    raw = json.loads((resources.files("decoders") / "data" / "vss_releases.json")
                     .read_text("utf-8"))
    return {release: {name: Change(**c) for name, c in changes.items()}
            for release, changes in raw["releases"].items()}


def _convert(name: str, change: Change, value: Any) -> float | Rejection | None:
    if value is None:
        return None
    if change.type == "uint32" and (isinstance(value, bool) or not isinstance(value, int)
                                    or not 0 <= value <= _UINT32_MAX):
        return Rejection("bad_value", f"signal {name}: {value!r} is not a uint32 in {change.unit}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection("bad_value", f"signal {name}: {value!r} is not a number")
    return value * change.to_catalog


def to_catalog(release: object, signals: dict[Any, Any], rejections: list[Rejection]
               ) -> dict[Any, Any]:
    """``signals`` (name -> values) with every value in the catalog's unit; a value that
    does not fit its release's type becomes None and a rejection."""
    known = ", ".join(sorted(releases()))
    if release is None:
        raise Rejected("unsupported_catalog", "contract v2 needs field 'vss', the VSS release"
                                              f" the values follow ({known})")
    if not isinstance(release, str) or release not in releases():
        raise Rejected("unsupported_catalog",
                       f"VSS release {str(release)[:20]!r} not supported (supported: {known})")
    changes = releases()[release]
    out = dict(signals)
    for name, change in changes.items():
        if change.path and change.path in out:
            out[name] = out.pop(change.path)  # delivered under its name in that release
        values = out.get(name)
        if not isinstance(values, list) or change.type == "string":
            continue  # a renamed enum: same labels, nothing to convert
        converted: list[float | None] = []
        for value in values:
            c = _convert(name, change, value)
            if isinstance(c, Rejection):
                rejections.append(c)
                c = None
            converted.append(c)
        out[name] = converted
    return out
