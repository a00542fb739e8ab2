"""``python -m gateway``: run, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import fields
from typing import Any

from features.registry import RegistryError
from gateway import __version__, logs
from gateway.app import run_gateway, run_import, run_migrations
from gateway.http.auth import AuthConfigError
from gateway.ops.commands import run_ops
from gateway.settings import Settings, SettingsError, env_name, flag_name, load
from timeseries.storage_choice import StorageUnavailable

_SETTING_KEYS = {f.name for f in fields(Settings)}


def _settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with settings (env TELEMATICS_CONFIG)")
    defaults = Settings()
    groups: dict[str, Any] = {}
    for f in fields(Settings):
        if f.metadata["env_only"]:
            continue
        group = f.metadata["group"]
        if group not in groups:
            groups[group] = p.add_argument_group(f"{group} settings")
        extra: dict[str, Any] = {"action": argparse.BooleanOptionalAction} \
            if f.type in ("bool", bool) else {}
        groups[group].add_argument(
            flag_name(f.name), dest=f.name, default=None,
            help=f"{f.metadata['help']} (env {env_name(f.name)}, "
                 f"default {getattr(defaults, f.name)!r})", **extra)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m gateway",
                                description="Connected-car telemetry ingestion gateway.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _settings_args(sub.add_parser("run", help="subscribe, decode, store, serve HTTP"))
    _settings_args(sub.add_parser("migrate", help="create or upgrade the database schema"))
    for name, what in (("import-vehicles", "register vehicles (vin, model, powertrain, timezone,"
                        " delivered_on, owner_id, dealer_id, advisor_id, owner_channel)"),
                       ("import-dealers", "register dealers (id, name, timezone, latitude,"
                        " longitude, booking_url, advisors)"),
                       ("import-services", "add service records (vin, done_on, odometer_km,"
                        " items separated by ';', dealer_id, note, engine_hours)")):
        imp = sub.add_parser(name, help=f"{what} from a CSV or NDJSON file")
        imp.add_argument("file", help="path; .csv is CSV with a header row, else NDJSON")
        _settings_args(imp)
    cap = sub.add_parser("capture", help="record broker traffic to a capture file")
    cap.add_argument("--topics", default="vehicles/#", help="comma-separated topic filters")
    cap.add_argument("--out", required=True, help="capture file (rotated as FILE.1, ...)")
    cap.add_argument("--max-mb", type=int, default=256, help="rotate past this size")
    cap.add_argument("--seconds", type=float, default=None, help="stop after (default never)")
    _settings_args(cap)
    rep = sub.add_parser("replay", help="replay a capture to a broker or into the database")
    rep.add_argument("file")
    pace = rep.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=None,
                      help="keep relative timing, this many times faster")
    pace.add_argument("--as-fast-as-possible", action="store_true")
    rep.add_argument("--vin", action="append", default=[], help="only these VINs (repeat)")
    rep.add_argument("--from", dest="frm", help="receive time from (ISO 8601 or ms)")
    rep.add_argument("--to", help="receive time before (ISO 8601 or ms)")
    rep.add_argument("--pcap-port", type=int, default=1883,
                     help="broker port in a pcap/pcapng file (client-to-broker PUBLISHes)")
    dest = rep.add_mutually_exclusive_group()
    dest.add_argument("--to-broker", help="broker URL (default: --mqtt-url)")
    dest.add_argument("--direct", action="store_true",
                      help="decode, validate, dedup and store without a broker")
    _settings_args(rep)
    dl = sub.add_parser("replay-dead-letters",
                        help="decode dead letters of a reason again (after a decoder fix)")
    dl.add_argument("--reason", required=True)
    _settings_args(dl)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k in _SETTING_KEYS or k == "config"}
    try:
        settings = load(flags)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    if args.command in ("import-vehicles", "import-dealers", "import-services"):
        try:
            count = asyncio.run(run_import(settings, args.command, args.file))
        except (OSError, RegistryError) as exc:
            print(f"import failed: {exc}", file=sys.stderr)
            return 1
        print(f"imported {count} records")
        return 0
    if args.command in ("capture", "replay", "replay-dead-letters"):
        return asyncio.run(run_ops(settings, args))
    try:
        if args.command == "migrate":
            layout = asyncio.run(run_migrations(settings))
            print(f"schema up to date ({layout.name})")
            return 0
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_gateway(settings))
    except (SettingsError, AuthConfigError, StorageUnavailable) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0
