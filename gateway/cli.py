"""``python -m gateway``: run, migrate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import fields

from gateway import __version__, logs
from gateway.app import run_gateway, run_migrations
from gateway.settings import Settings, SettingsError, env_name, flag_name, load

_HELP = {
    "mqtt_url": "broker URL, mqtt://[user:pass@]host:port or mqtts://",
    "db_url": "PostgreSQL URL; the database is created if missing",
    "http": "host:port of the HTTP API",
    "client_id": "MQTT client id (stable, so the persistent session survives restarts)",
    "shared_group": "subscribe through $share/<group>/ so replicas split the load",
    "inflight": "MQTT 5 Receive Maximum: unacknowledged messages the broker may send us",
    "batch_max_messages": "messages per database transaction at most",
    "batch_max_wait_ms": "how long a batch waits to fill",
    "writers": "parallel writer connections",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
}


def _settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML file with settings (env TELEMATICS_CONFIG)")
    defaults = Settings()
    for f in fields(Settings):
        p.add_argument(flag_name(f.name), dest=f.name, default=None,
                       help=f"{_HELP.get(f.name, '')} (env {env_name(f.name)}, "
                            f"default {getattr(defaults, f.name)!r})")


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m gateway",
                                description="Connected-car telemetry ingestion gateway.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _settings_args(sub.add_parser("run", help="subscribe, decode, store, serve HTTP"))
    _settings_args(sub.add_parser("migrate", help="create or upgrade the database schema"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = load(flags)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    if args.command == "migrate":
        layout = asyncio.run(run_migrations(settings))
        print(f"schema up to date ({layout.name})")
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_gateway(settings))
    return 0
