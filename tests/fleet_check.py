"""Compare what the database holds with the simulator's ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from decoders.catalog import load_catalog
from localservices import ROOT, query, wait_until


def run_simulator(mqtt_url: str, truth: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``python -m simulator run`` publishing to ``mqtt_url``."""
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", "run", "--mqtt-url", mqtt_url, "--truth", str(truth),
         *args], cwd=ROOT)


def load_truth(path: Path) -> dict[str, Any]:
    """The truth JSON."""
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def wait_for_everything(db_url: str, truth: dict[str, Any], timeout: float = 600) -> None:
    """Until every published message is committed (logged or dead-lettered)."""
    messages = sum(v["messages"] for v in truth["vehicles"].values())
    garbage = len(truth["garbage"])

    def done() -> bool:
        logged = query(db_url, "SELECT count(*) FROM ingest_log")[0][0]
        dead = query(db_url, "SELECT count(*) FROM dead_letters")[0][0]
        return bool(logged >= messages and dead >= garbage)

    wait_until(done, timeout, f"{messages} messages and {garbage} dead letters", every=0.5)


def stored_per_vehicle(db_url: str) -> dict[str, dict[str, Any]]:
    """Rows, non-null values (a trouble-code or a software-version report is one), events,
    logged messages and latest odometer per VIN."""
    nonnull = " + ".join(f"(s.{c} IS NOT NULL)::int" for c in load_catalog().columns)
    out: dict[str, dict[str, Any]] = {}
    for vin, odo in query(db_url, "SELECT vin, odometer_km FROM vehicles"):
        out[vin] = {"rows": 0, "values": 0, "events": 0, "messages": 0, "odometer_km": odo}
    for vin, rows, values in query(
            db_url, f"SELECT v.vin, count(*), sum({nonnull}) FROM samples s"
                    " JOIN vehicles v ON v.id = s.vehicle_id GROUP BY 1"):
        out[vin].update(rows=rows, values=values)
    for table in ("dtc_reports", "software_reports"):
        for vin, n in query(db_url, f"SELECT v.vin, count(*) FROM {table} d"
                                    " JOIN vehicles v ON v.id = d.vehicle_id GROUP BY 1"):
            out[vin]["values"] += n
    for vin, n in query(db_url, "SELECT v.vin, count(*) FROM cockpit_events e"
                                " JOIN vehicles v ON v.id = e.vehicle_id GROUP BY 1"):
        out[vin]["events"] = n
    for vin, n in query(db_url, "SELECT v.vin, count(*) FROM ingest_log l"
                                " JOIN vehicles v ON v.id = l.vehicle_id GROUP BY 1"):
        out[vin]["messages"] = n
    return out


def expected_per_vehicle(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same figures from the truth."""
    out = {}
    for vin, v in truth["vehicles"].items():
        last_day = max(v["days"])
        out[vin] = {"rows": v["rows"], "values": v["values"], "events": v["events"],
                    "messages": v["messages"],
                    "odometer_km": v["days"][last_day]["final_odometer_km"]}
    return out


def assert_matches_truth(db_url: str, truth: dict[str, Any]) -> None:
    """Exactly the truth's samples, events and messages; every garbage payload dead-lettered."""
    stored = stored_per_vehicle(db_url)
    expected = expected_per_vehicle(truth)
    assert set(stored) == set(expected)
    mismatches = {vin: (stored[vin], expected[vin]) for vin in expected
                  if stored[vin] != expected[vin]}
    assert mismatches == {}
    dead = {bytes(d).hex(): code for d, code in
            query(db_url, "SELECT digest, reason_code FROM dead_letters")}
    for g in truth["garbage"]:
        assert dead.get(g["digest"]) == g["reason_code"], g
    assert len(dead) == len(truth["garbage"])
