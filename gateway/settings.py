"""One typed settings object, read from flags, then environment, then an optional TOML file,
then defaults; checked at start-up with the key's name in every error."""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from decoders.can_dbc import load_can_models
from timeseries.storage_choice import STORAGES


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the key."""


Group = Literal["mqtt", "ingest", "storage", "http", "derivation", "logging"]


def setting(default: Any, group: Group, help: str, lo: int | None = None,
            hi: int | None = None, env_only: bool = False) -> Any:
    """A settings field: its default, the concern it belongs to, its help text, its
    allowed range (integers) and whether it may only come from the environment or a file
    (secrets never on a command line). The CLI, validation and docs read these."""
    return field(default=default, metadata={"group": group, "help": help, "range": (lo, hi),
                                            "env_only": env_only})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the gateway can be told. Field name ``x_y`` is flag ``--x-y`` and
    environment variable ``TELEMATICS_X_Y``."""

    mqtt_url: str = setting("mqtt://127.0.0.1:1883", "mqtt",
                            "broker URL, mqtt://[user:pass@]host:port or mqtts://")
    client_id: str = setting("", "mqtt", "MQTT client id (stable, so the persistent session"
                             " survives restarts)")
    shared_group: str = setting("", "mqtt", "subscribe through $share/<group>/ so replicas"
                                " split the load")
    mqtt_protocol: str = setting("auto", "mqtt", "MQTT version: 5, 3.1.1, or auto (5, falling"
                                 " back to 3.1.1 when the broker refuses 5)")
    mqtt_client: str = setting("native", "mqtt", "native (asyncio MQTT 5, fast) or aiomqtt"
                               " (paho-mqtt underneath)")
    inflight: int = setting(1000, "mqtt", "MQTT 5 Receive Maximum: unacknowledged messages"
                            " the broker may send us", 1, 65535)
    inflight_mb: int = setting(64, "mqtt", "payload megabytes held uncommitted before the"
                               " native client stops reading", 2, 65_536)
    mqtt_ca_file: str = setting("", "mqtt", "CA bundle to verify the broker (mqtts://)")
    mqtt_cert_file: str = setting("", "mqtt", "client certificate for mutual TLS")
    mqtt_key_file: str = setting("", "mqtt", "its private key")
    batch_max_messages: int = setting(500, "ingest", "messages per database transaction at"
                                      " most", 1, 100_000)
    batch_max_wait_ms: int = setting(50, "ingest", "how long a batch waits to fill", 0, 60_000)
    writers: int = setting(2, "ingest", "parallel writer connections", 1, 16)
    poison_redeliveries: int = setting(3, "ingest", "a message in flight this many times when"
                                       " the process stopped is quarantined as a poison dead"
                                       " letter", 1, 100)
    can_models: str = setting("", "ingest", "CAN models file: model -> signal mapping -> DBC"
                              " (default: the shipped one)")
    db_url: str = setting("postgresql://postgres@127.0.0.1:5432/telematics", "storage",
                          "PostgreSQL URL; the database is created if missing")
    storage: str = setting("auto", "storage", "layout of a new schema: auto (TimescaleDB when"
                           " it is created or preloaded, else partitioned), timescaledb (or"
                           " refuse to start), partitioned")
    chunk_days: int = setting(7, "storage", "TimescaleDB: chunk interval of the hypertables,"
                              " in days (new chunks)", 1, 365)
    compress_after_days: int = setting(30, "storage", "TimescaleDB: compress samples older"
                                       " than this many days (0: never)", 0, 36_500)
    retention_days: int = setting(0, "storage", "drop raw samples and cockpit events older"
                                  " than this many days (0: keep everything; derived tables"
                                  " and the ingest log are kept)", 0, 36_500)
    http: str = setting("127.0.0.1:8080", "http", "host:port of the HTTP API")
    api_tokens: str = setting("", "http", "API tokens, name:token:scope+scope separated by"
                              " commas", env_only=True)
    api_tokens_file: str = setting("", "http", "file of API tokens, one name:token:scope+scope"
                                   " per line")
    insecure_no_auth: bool = setting(False, "http", "serve the API without tokens (demo only;"
                                     " loudly logged)")
    derive: bool = setting(True, "derivation", "run derivations in this process (false: an"
                           " ingest-only replica)")
    derive_interval_s: int = setting(2, "derivation", "how often derivations look for new"
                                     " data", 1, 3600)
    derive_min_gap_s: int = setting(0, "derivation", "a vehicle's derivation passes at least"
                                    " this many seconds apart while its data keeps coming (0:"
                                    " a pass as soon as a deriver is free)", 0, 3600)
    derive_connections: int = setting(1, "derivation", "database connections deriving side by"
                                      " side in this process, each taking its share of the"
                                      " vehicles (by id)", 1, 32)
    profile_refresh_s: int = setting(60, "derivation", "how often served profiles of vehicles"
                                     " with new data are recomputed", 1, 86_400)
    default_timezone: str = setting("UTC", "derivation", "local time of vehicles not in the"
                                    " registry")
    parking_minutes: int = setting(5, "derivation", "a stop longer than this ends a trip",
                                   1, 240)
    gap_minutes: int = setting(15, "derivation", "a data gap longer than this ends a trip",
                               1, 1440)
    min_trip_m: int = setting(200, "derivation", "trips shorter than this (metres) are"
                              " dropped", 0, 100_000)
    min_trip_s: int = setting(60, "derivation", "trips shorter than this (seconds) are"
                              " dropped", 0, 86_400)
    settle_minutes: int = setting(60, "derivation", "a local day is final this long after its"
                                  " end (segments)", 0, 10_080)
    visit_minutes: int = setting(30, "derivation", "a stay inside a dealer's geofence this"
                                 " long in its opening hours is a visit", 1, 1440)
    silent_hours: int = setting(48, "derivation", "a vehicle without any message this long"
                                " is silent: one vehicle_silent event, its days settle on the"
                                " wall clock", 1, 8760)
    log_level: str = setting("INFO", "logging", "DEBUG, INFO, WARNING or ERROR")

    @property
    def inflight_bytes(self) -> int:
        """``inflight_mb`` in bytes: the payload the native client holds before it pauses."""
        return self.inflight_mb * 1_000_000

    @property
    def effective_client_id(self) -> str:
        """The MQTT client id: configured, or stable per host so the session survives restarts."""
        return self.client_id or f"telematics-gateway-{socket.gethostname()}"[:64]

    @property
    def http_host_port(self) -> tuple[str, int]:
        """``http`` split into host and port."""
        host, _, port = self.http.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def mqtt_parts(self) -> tuple[str, int, str | None, str | None, bool]:
        """Host, port, username, password and TLS flag from ``mqtt_url``."""
        u = urlsplit(self.mqtt_url)
        tls = u.scheme == "mqtts"
        return u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), u.username, \
            u.password, tls


def env_name(key: str) -> str:
    """``mqtt_url`` -> ``TELEMATICS_MQTT_URL``."""
    return "TELEMATICS_" + key.upper()


def flag_name(key: str) -> str:
    """``mqtt_url`` -> ``--mqtt-url``."""
    return "--" + key.replace("_", "-")


def load(flags: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    """Merge flags (None = not given), environment and ``TELEMATICS_CONFIG`` file; validate."""
    environ = dict(os.environ if environ is None else environ)
    file_values: dict[str, Any] = {}
    path = flags.get("config") or environ.get("TELEMATICS_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                file_values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"TELEMATICS_CONFIG (--config): cannot read {path}: {exc}") from exc
    values: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}
    for key in file_values:
        if key not in known:
            raise SettingsError(f"{path}: unknown key {key!r}")
    for key, f in known.items():
        raw = flags.get(key)
        where = flag_name(key)
        if raw is None and env_name(key) in environ:
            raw, where = environ[env_name(key)], env_name(key)
        if raw is None and key in file_values:
            raw, where = file_values[key], f"{path}: {key}"
        if raw is None:
            continue
        if f.type in ("bool", bool):
            if isinstance(raw, str):
                if raw.lower() not in ("1", "true", "yes", "0", "false", "no", ""):
                    raise SettingsError(f"{where}: {raw!r} is not true or false")
                raw = raw.lower() in ("1", "true", "yes")
            else:
                raw = bool(raw)
        elif f.type in ("int", int):
            try:
                raw = int(raw)
            except (TypeError, ValueError):
                raise SettingsError(f"{where}: {raw!r} is not an integer") from None
        values[key] = raw
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(s: Settings) -> None:
    """Check every setting; raise SettingsError naming the key."""
    def bad(key: str, why: str) -> SettingsError:
        return SettingsError(f"{env_name(key)} ({flag_name(key)}): {why}")

    u = urlsplit(s.mqtt_url)
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise bad("mqtt_url", f"{s.mqtt_url!r} is not mqtt://host:port or mqtts://host:port")
    try:
        _ = u.port
    except ValueError:
        raise bad("mqtt_url", f"{s.mqtt_url!r} has a bad port") from None
    if urlsplit(s.db_url).scheme not in ("postgresql", "postgres"):
        raise bad("db_url", f"{s.db_url!r} is not a postgresql:// URL")
    _host, _, port = s.http.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise bad("http", f"{s.http!r} is not host:port")
    if s.storage not in STORAGES:
        raise bad("storage", f"{s.storage!r} is not {', '.join(STORAGES)}")
    if s.mqtt_protocol not in ("5", "3.1.1", "auto"):
        raise bad("mqtt_protocol", f"{s.mqtt_protocol!r} is not 5, 3.1.1 or auto")
    if s.mqtt_client not in ("native", "aiomqtt"):
        raise bad("mqtt_client", f"{s.mqtt_client!r} is not native or aiomqtt")
    if s.shared_group and any(c in s.shared_group for c in "/+#"):
        raise bad("shared_group", f"{s.shared_group!r} may not contain / + #")
    for f in fields(Settings):
        lo, hi = f.metadata["range"]
        value = getattr(s, f.name)
        if lo is not None and hi is not None and not lo <= value <= hi:
            raise bad(f.name, f"{value} outside {lo}..{hi}")
    try:
        ZoneInfo(s.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("default_timezone", f"{s.default_timezone!r} is not an IANA time zone") \
            from None
    if bool(s.mqtt_cert_file) != bool(s.mqtt_key_file):
        raise bad("mqtt_key_file" if s.mqtt_cert_file else "mqtt_cert_file",
                  "a client certificate needs both --mqtt-cert-file and --mqtt-key-file")
    try:
        load_can_models(s.can_models)
    except (OSError, ValueError, KeyError) as exc:
        raise bad("can_models", f"cannot load the CAN models file: {exc}") from None
    for key in ("mqtt_ca_file", "mqtt_cert_file", "mqtt_key_file", "api_tokens_file"):
        path = getattr(s, key)
        if path and not os.path.isfile(path):
            raise bad(key, f"{path!r} is not a readable file")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise bad("log_level", f"{s.log_level!r} is not DEBUG, INFO, WARNING or ERROR")
