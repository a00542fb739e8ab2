"""``python -m simulator run``: publish a simulated fleet and write its ground truth."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta

from simulator.cells import every_day
from simulator.fleet import make_dealers, make_fleet
from simulator.publish import Publisher
from simulator.stream import Faults, fleet_stream
from simulator.truth import FleetTruth
from simulator.vehicle import initial_book


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m simulator")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="publish a fleet over MQTT")
    today = datetime.now(UTC).date()
    r.add_argument("--vehicles", type=int, default=20)
    r.add_argument("--days", type=int, default=7)
    r.add_argument("--start", type=date.fromisoformat, default=None,
                   help="first local day (default: --days days before today)")
    r.add_argument("--speedup", type=float, default=0.0,
                   help="simulated seconds per real second; 0 = as fast as possible")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    r.add_argument("--truth", help="write the ground truth JSON here")
    r.add_argument("--heartbeat-s", type=int, default=900, help="parked heartbeat period")
    r.add_argument("--sample-s", type=int, default=1, help="seconds between rows while driving")
    r.add_argument("--json-share", type=float, default=0.1, help="vehicles on the JSON topic")
    r.add_argument("--can-share", type=float, default=0.0,
                   help="vehicles sending raw CAN frames (vehicles/{vin}/can)")
    r.add_argument("--pb-share", type=float, default=0.0,
                   help="vehicles sending protobuf records (vehicles/{vin}/pb)")
    r.add_argument("--catchup-share", type=float, default=0.05,
                   help="vehicles offline 1-7 days that catch up afterwards")
    r.add_argument("--duplicates", type=float, default=0.0, help="P(a message is sent twice)")
    r.add_argument("--reorder", type=float, default=0.0, help="P(a message is delayed 2-60 s)")
    r.add_argument("--gaps", type=float, default=0.0, help="P(a 10-min outage starts)")
    r.add_argument("--garbage", type=float, default=0.0, help="P(a bad payload follows)")
    r.set_defaults(today=today)
    reg = sub.add_parser("registry", help="print the fleet's registry entries as NDJSON"
                                          " (for python -m gateway import-vehicles)")
    dl = sub.add_parser("dealers", help="print the fleet's dealers as NDJSON"
                                        " (for python -m gateway import-dealers)")
    dl.add_argument("--seed", type=int, default=1)
    sv = sub.add_parser("services", help="print the fleet's service books as NDJSON (for"
                                         " python -m gateway import-services): as they are"
                                         " before the run, or with --truth after it")
    sv.add_argument("--truth", help="a run's truth file: the books including its visits")
    for same_fleet in (reg, sv):  # the same flags give the same fleet as `run`
        for a in ("--vehicles", "--days", "--seed"):
            same_fleet.add_argument(a, type=int, default=r.get_default(a.strip("-")))
        same_fleet.add_argument("--start", type=date.fromisoformat, default=None)
        for a in ("--json-share", "--can-share", "--pb-share", "--catchup-share"):
            same_fleet.add_argument(a, type=float,
                                    default=r.get_default(a.strip("-").replace("-", "_")))
        same_fleet.set_defaults(today=today)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    if args.command == "dealers":
        for d in make_dealers(args.seed):
            print(json.dumps(d))
        return 0
    if args.command == "services" and args.truth:
        with open(args.truth, encoding="utf-8") as fh:
            vehicles = json.load(fh)["vehicles"]
        for vin, v in vehicles.items():
            for rec in v["meta"]["service_book"]:
                print(json.dumps({"vin": vin, **rec}))
        return 0
    start = args.start or (args.today - timedelta(days=args.days))
    fleet = make_fleet(args.vehicles, args.days, start, args.seed, args.json_share,
                       args.catchup_share, args.can_share, args.pb_share)
    if args.command == "services":
        for v in fleet:
            for rec in initial_book(v, start, args.seed):
                print(json.dumps({"vin": v.vin, "done_on": rec.done_on.isoformat(),
                                  "odometer_km": rec.odometer_km, "items": list(rec.items),
                                  "engine_hours": rec.engine_hours, "dealer_id": v.dealer_id}))
        return 0
    if args.command == "registry":
        for v in fleet:
            print(json.dumps({"vin": v.vin, "model": v.model, "powertrain": v.powertrain,
                              "timezone": v.tz, "delivered_on": v.delivered_on.isoformat(),
                              "owner_id": v.owner_id, "dealer_id": v.dealer_id,
                              "advisor_id": v.advisor_id, "owner_channel": v.owner_channel,
                              "home_lat": round(v.home_lat, 6),
                              "home_lon": round(v.home_lon, 6)}))
        return 0
    truth = FleetTruth()
    faults = Faults(args.duplicates, args.reorder, args.gaps, args.garbage)
    stream = fleet_stream(fleet, start, args.days, args.seed, args.heartbeat_s, faults, truth,
                          args.sample_s)
    pub = Publisher(args.mqtt_url)
    try:
        stats = pub.publish(stream, args.speedup)
    finally:
        pub.close()
    if args.truth:
        out = truth.to_json()
        out["cells"] = every_day(out)  # what the gateway must conclude, day by day
        with open(args.truth, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, default=str)
    rows = sum(v.rows for v in truth.vehicles.values())
    values = sum(v.values for v in truth.vehicles.values())
    print(f"published {stats.messages} messages ({stats.bytes / 1e6:.1f} MB) for "
          f"{len(fleet)} vehicles x {args.days} days in {stats.seconds:.1f}s: "
          f"{rows} rows, {values} values, {len(truth.garbage)} garbage, "
          f"faults {dict(truth.faults)}", file=sys.stderr)
    return 0
