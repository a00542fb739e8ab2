"""The catalog against the released COVESA VSS definitions (checked-in extracts of 4.0 and
6.0 under tests/data/vss): every catalog signal exists there with a compatible datatype;
where our storage unit differs, the catalog entry says so and contract v2 converts; a VSS 6
vehicle can deliver every catalog signal under its VSS 6 name and in its VSS 6 unit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from decoders.catalog import load_catalog
from decoders.registry import decode_message
from decoders.releases import releases

DATA = Path(__file__).resolve().parent / "data" / "vss"
NUMERIC = {"float", "double", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
           "uint64"}
SPELLING = {"%": "percent", "deg": "degrees"}  # the catalog's short spellings of VSS units
RAW = json.loads((Path(__file__).resolve().parent.parent / "decoders" / "data"
                  / "vss_catalog.json").read_text())
ENTRIES = {e["name"]: e for e in RAW["signals"]}


def spec(release: str) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = json.loads((DATA / f"vss-{release}.json").read_text())
    return doc["signals"]


def unit(u: str | None) -> str:
    u = (u or "").strip()
    return SPELLING.get(u, u).lower()


def compatible(ours: str, vss: dict[str, Any]) -> bool:
    return bool({"float": vss["datatype"] in NUMERIC, "int": vss["datatype"] in NUMERIC,
            "bool": vss["datatype"] == "boolean",
            "enum": vss["datatype"] == "string"}[ours])


@pytest.mark.parametrize("name", list(ENTRIES))
def test_catalog_signal_matches_its_vss_release(name: str) -> None:
    assert load_catalog().vss_release == "4.0"
    ours = load_catalog().signals[name]
    vss = spec("4.0")[name]
    assert compatible(ours.type, vss), (ours.type, vss)
    if ours.type == "enum":
        assert set(ours.values) == set(vss["allowed"])
    if unit(ours.unit) != unit(vss.get("unit")):
        entry, change = ENTRIES[name], releases()["4.0"].get(name)
        assert entry.get("vss_unit") == vss["unit"] and entry.get("note"), \
            f"{name}: stored in {ours.unit}, VSS 4.0 has {vss['unit']}: say so in the catalog"
        assert change is not None and change.unit == vss["unit"] and change.to_catalog != 1


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_catalog_signal_can_arrive_under_its_vss6_name(name: str) -> None:
    ours = load_catalog().signals[name]
    change = releases()["6.0"].get(name)
    path = change.path if change and change.path else name
    vss = spec("6.0").get(path)
    assert vss is not None, f"{name} is not in VSS 6.0 and the release table has no path"
    assert compatible(ours.type, vss)
    if unit(ours.unit) != unit(vss.get("unit")):
        assert change is not None and unit(change.unit) == unit(vss["unit"]), name
        assert change.to_catalog != 1, name


def test_a_vss6_vehicle_delivers_every_catalog_signal() -> None:
    """Every catalog signal, sent under its VSS 6 name in VSS 6 units, is stored in ours."""
    now = int(time.time() * 1000)
    catalog = load_catalog().signals
    changes = releases()["6.0"]
    signals: dict[str, list[Any]] = {}
    expected: dict[str, float] = {}
    for name, s in catalog.items():
        change = changes.get(name)
        path = change.path if change and change.path else name
        if s.type == "enum":
            signals[path], expected[s.column] = [s.values[-1]], float(len(s.values) - 1)
        elif s.type == "bool":
            signals[path], expected[s.column] = [True], 1.0
        else:
            assert s.min is not None and s.max is not None
            ours = float(int((s.min + s.max) / 2)) if s.min < 0 else float(int(s.max / 3))
            factor = change.to_catalog if change else 1.0
            sent = round(ours / factor)
            signals[path] = [sent]
            expected[s.column] = sent * factor
    doc = {"v": 2, "vss": "6.0", "vin": "LSVAU2180N2183294", "seq": 1, "t0": now - 1000,
           "dt": [0], "signals": signals}
    readings = decode_message("vehicles/LSVAU2180N2183294/telemetry", msgpack.packb(doc), now)
    assert readings.rejections == []
    got = {c: v[0] for c, v in readings.columns.items()}
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("release", ["4.0", "6.0"])
def test_list_signals_are_string_lists_of_the_release(release: str) -> None:
    """Trouble codes: a string[] in VSS 4.0's OBD branch and in VSS 6.0's OBD overlay, under
    the same name."""
    lists = load_catalog().lists
    assert set(lists) == {"Vehicle.OBD.DTCList"}
    for name in lists:
        assert spec(release)[name]["datatype"] == "string[]"
