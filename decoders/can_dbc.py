"""DBC files and their signal mappings, per vehicle model (``data/can/models.json``).

A model names a mapping file (DBC signal -> catalog signal), which names its DBC file.
Everything is loaded once per models file and cached: decoding stays free of I/O after
the first CAN message.
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


@dataclass(frozen=True, slots=True)
class Target:
    """Where a DBC signal goes, and how its decoded value becomes a catalog value."""

    vss: str
    convert: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class CanModel:
    """The decoding of one mapping: frame id -> DBC message, DBC signal -> target."""

    dbc_name: str
    messages: dict[int, Any]
    signals: dict[str, Target]


def shipped_models() -> Path:
    """The models file that ships with the gateway."""
    return Path(str(resources.files("decoders") / "data" / "can" / "models.json"))


def _converter(kind: str, scale: float) -> Callable[[Any], Any]:
    if kind == "enum":
        return lambda v: getattr(v, "name", v)  # a VAL_ label; a raw number fails the enum
    if kind == "bool":
        return lambda v: v if isinstance(v, str) else bool(v)
    exponent = math.log10(abs(scale)) if scale else 0.0
    if abs(exponent - round(exponent)) < 1e-9 and exponent < 0:
        digits = -round(exponent)  # the DBC's resolution: drop binary noise below it
        return lambda v: round(float(v), digits) if not isinstance(v, str) else v
    return lambda v: float(v) if not isinstance(v, str) else v


@cache
def _load_mapping(path: Path) -> CanModel:
    raw = json.loads(path.read_text("utf-8"))
    db = cantools.database.load_file(str(path.parent / raw["dbc"]))
    if not isinstance(db, cantools.database.can.Database):
        raise ValueError(f"{raw['dbc']} is not a CAN database")
    catalog = load_catalog().signals
    scales = {s.name: s.scale for m in db.messages for s in m.signals}
    signals: dict[str, Target] = {}
    for dbc_signal, vss in raw["signals"].items():
        if vss not in catalog:
            raise ValueError(f"{path}: {dbc_signal} maps to {vss}, which is not in the catalog")
        if dbc_signal not in scales:
            raise ValueError(f"{path}: {dbc_signal} is not a signal of {raw['dbc']}")
        signals[dbc_signal] = Target(vss, _converter(catalog[vss].type, scales[dbc_signal]))
    return CanModel(raw["dbc"], {m.frame_id: m for m in db.messages}, signals)


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
