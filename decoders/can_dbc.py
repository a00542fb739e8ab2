"""DBC files and their signal mappings, per vehicle model (``data/can/models.json``).

A model names a mapping file (DBC signal -> catalog signal), which names its DBC file.
Everything is loaded once per models file and cached: decoding stays free of I/O after
the first CAN message.

Real-world DBC files often need relaxing to load (``decoders.dbc_loader``); unless the
mapping file says ``"strict": true``, what was relaxed is kept in ``CanModel.relaxed``.

A mapping entry is a catalog signal name, or ``{"vss": name, "factor": x}`` when the DBC's
unit differs from the catalog's (e.g. mph to km/h: 1.609344); a DBC unit known to differ
from the catalog's without a factor is refused at load.

A raw value that the DBC names (``VAL_``: "SNA", "Init", "Error") on a signal mapped to a
numeric catalog signal means "not available": no value is stored and the decoder counts it
(``Readings.unavailable_values``). On a boolean it is the raw 0/1, else not available; on
an enum the label is the value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import cantools

from decoders.catalog import load_catalog
from decoders.dbc_loader import load_dbc
from decoders.units import same_unit

UNAVAILABLE = object()  # what a converter returns for a named raw value with no reading
NamedValue = cantools.database.namedsignalvalue.NamedSignalValue


@dataclass(frozen=True, slots=True)
class Target:
    """Where a DBC signal goes, and how its decoded value becomes a catalog value."""

    vss: str
    convert: Callable[[Any], Any]
    factor: float = 1.0        # catalog unit per DBC unit
    digits: int | None = None  # decimals kept (the DBC's resolution), None: all


@dataclass(frozen=True, slots=True)
class CanModel:
    """The decoding of one mapping: frame id -> DBC message, DBC signal -> target."""

    dbc_name: str
    messages: dict[int, Any]
    signals: dict[str, Target]
    relaxed: tuple[str, ...] = ()  # what the loader had to relax to read the DBC file


def shipped_models() -> Path:
    """The models file that ships with the gateway."""
    return Path(str(resources.files("decoders") / "data" / "can" / "models.json"))


def _boolean(v: Any) -> Any:
    if isinstance(v, NamedValue):
        return bool(v.value) if v.value in (0, 1) else UNAVAILABLE
    return v if isinstance(v, str) else bool(v)


def resolution_digits(kind: str, scale: float, factor: float) -> int | None:
    """Decimals a numeric value keeps: a DBC scale of 10^-k (no unit factor) means k, the
    binary noise below it is dropped; None keeps the value as computed."""
    if kind in ("enum", "bool") or factor != 1.0 or not scale:
        return None
    exponent = math.log10(abs(scale))
    if abs(exponent - round(exponent)) < 1e-9 and exponent < 0:
        return -round(exponent)
    return None


def _converter(kind: str, digits: int | None, factor: float) -> Callable[[Any], Any]:
    if kind == "enum":
        return lambda v: getattr(v, "name", v)  # a VAL_ label; a raw number fails the enum
    if kind == "bool":
        return _boolean
    if factor != 1.0:
        return lambda v: UNAVAILABLE if isinstance(v, NamedValue) else float(v) * factor
    if digits is not None:
        return lambda v: UNAVAILABLE if isinstance(v, NamedValue) else round(float(v), digits)
    return lambda v: UNAVAILABLE if isinstance(v, NamedValue) else float(v)


@cache
def _load_mapping(path: Path) -> CanModel:
    raw = json.loads(path.read_text("utf-8"))
    db, relaxed = load_dbc(path.parent / raw["dbc"], bool(raw.get("strict", False)))
    catalog = load_catalog().signals
    dbc_signals = {s.name: s for m in db.messages for s in m.signals}
    signals: dict[str, Target] = {}
    for dbc_signal, entry in raw["signals"].items():
        vss, factor = (entry, 1.0) if isinstance(entry, str) else \
            (entry["vss"], float(entry.get("factor", 1.0)))
        if vss not in catalog:
            raise ValueError(f"{path}: {dbc_signal} maps to {vss}, which is not in the catalog")
        if dbc_signal not in dbc_signals:
            raise ValueError(f"{path}: {dbc_signal} is not a signal of {raw['dbc']}")
        spec, dbc = catalog[vss], dbc_signals[dbc_signal]
        if factor == 1.0 and spec.unit and dbc.unit and not same_unit(dbc.unit, spec.unit):
            raise ValueError(f"{path}: {dbc_signal} is in {dbc.unit!r}, {vss} in"
                             f" {spec.unit!r}: give a factor ({{\"vss\": ..., \"factor\": x}})")
        digits = resolution_digits(spec.type, dbc.scale, factor)
        signals[dbc_signal] = Target(vss, _converter(spec.type, digits, factor), factor, digits)
    return CanModel(raw["dbc"], {m.frame_id: m for m in db.messages}, signals, relaxed)


@dataclass(frozen=True, slots=True)
class CanModels:
    """A loaded models file: the decoding of every model it names, and the default one for
    unregistered vehicles. Loaded once (at start-up) and passed to the decoders."""

    path: Path
    default: CanModel
    by_model: dict[str, CanModel]

    def for_model(self, model: str | None) -> CanModel:
        """The decoding for ``model`` (None: unregistered, or a model without CAN mapping)."""
        return self.by_model.get(model or "", self.default)


@cache
def load_can_models(models_file: str = "") -> CanModels:
    """Load every mapping and DBC named by ``models_file`` ("" = the shipped one); raise
    ValueError/OSError naming the problem. Cached per file: loading is the only I/O."""
    path = Path(models_file) if models_file else shipped_models()
    raw = json.loads(path.read_text("utf-8"))
    by_model = {name: _load_mapping(path.parent / mapping)
                for name, mapping in raw.get("models", {}).items()}
    return CanModels(path, _load_mapping(path.parent / raw["default"]), by_model)
