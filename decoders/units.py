"""Unit spellings that mean the same unit, so a DBC's unit can be checked against the
catalog's. Units not listed here (or ambiguous ones) cannot be compared and are accepted
as they are."""

from __future__ import annotations

_SAME = (
    {"km/h", "kph", "kmh", "km/hr"},
    {"mph"},
    {"celsius", "degc", "°c", "c", "deg c", "degrees c"},
    {"fahrenheit", "degf", "°f", "f"},
    {"%", "percent", "pct"},
    {"rpm", "1/min", "u/min"},
    {"km"},
    {"mi", "mile", "miles"},
    {"m"},
    {"m/s^2", "m/s2", "m/s²", "mps2"},
    {"°", "degree", "degrees"},  # not "deg": real DBC files use it for angles and for °C
    {"w"},
    {"kw"},
    {"v", "volt"},
    {"h", "hr", "hours"},
    {"s", "sec"},
    {"l/100km"},
)
_CLASS = {spelling: n for n, names in enumerate(_SAME) for spelling in names}


def same_unit(a: str, b: str) -> bool:
    """False only when both units are known and differ (e.g. mph vs km/h)."""
    ca, cb = _CLASS.get(a.strip().lower()), _CLASS.get(b.strip().lower())
    return ca is None or cb is None or ca == cb
