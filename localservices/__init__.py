"""Real services for the tests and the benchmarks: a Mosquitto started with the project's
config on a free port, throw-away databases on the local PostgreSQL, and the gateway as a
real process. Outside the product: the product never imports it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
PG_ADMIN = os.environ.get("TELEMATICS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``check`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Broker:
    """Mosquitto with deploy/mosquitto/mosquitto.conf, on its own port and data folder."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o777)  # mosquitto drops root privileges to its own user
        text = MOSQUITTO_CONF.read_text()
        text = re.sub(r"^listener 1883.*$", f"listener {self.port} 127.0.0.1", text, flags=re.M)
        text = re.sub(r"^persistence_location .*$", f"persistence_location {self.data}/",
                      text, flags=re.M)
        self.conf = workdir / "mosquitto.conf"
        if os.getuid() == 0:
            # Mosquitto drops root for its own user, which cannot reach pytest's private
            # temporary folders: it would run without saving its persistence file.
            extra_conf = "user root\n" + extra_conf
        self.conf.write_text(text + "\n" + extra_conf)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:<port>"""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_until(self._accepting, 10, f"mosquitto on {self.port}")

    def _accepting(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its persistence file) and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


_server = [PG_ADMIN]  # where create_database makes databases unless told otherwise


def use_server(admin: str) -> None:
    """Make later databases on the server of ``admin`` (benchmarks on another server)."""
    _server[0] = admin


def create_database(prefix: str = "tg_test", admin: str | None = None) -> str:
    """A new empty database on the server of ``admin`` (default: the local one, or the one
    given to ``use_server``); returns its URL."""
    admin = admin or _server[0]
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop a test database, disconnecting whoever is still on it."""
    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def query(url: str, q: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one query and fetch everything."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(q, params).fetchall()


class Gateway:
    """``python -m gateway run`` as a child process."""

    def __init__(self, mqtt_url: str, db_url: str, workdir: Path, **settings: str) -> None:
        self.command = ["-m", "gateway", "run"]  # the Python arguments; a test may change it
        self.port = free_port()
        self.env = {**os.environ, "TELEMATICS_MQTT_URL": mqtt_url, "TELEMATICS_DB_URL": db_url,
                    "TELEMATICS_HTTP": f"127.0.0.1:{self.port}",
                    "TELEMATICS_CLIENT_ID": settings.pop("client_id", f"gw-{uuid.uuid4().hex[:8]}")}
        if "api_tokens" not in settings:
            self.env["TELEMATICS_INSECURE_NO_AUTH"] = "true"
        for key, value in settings.items():
            self.env["TELEMATICS_" + key.upper()] = value
        self.log = workdir / f"gateway-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        """Start and wait until it is subscribed."""
        self.launch()
        self.wait_subscribed(timeout)

    def launch(self) -> None:
        """Start the process (several can start side by side, then wait for each)."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, *self.command], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_subscribed(self, timeout: float = 30) -> None:
        """Wait until the launched process is subscribed."""
        wait_until(self._subscribed, timeout, f"gateway subscribed (log {self.log})")

    def _subscribed(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
        try:
            return bool(self.get("/health").get("broker_connected"))
        except OSError:
            return False

    def get(self, path: str) -> Any:
        """GET a JSON document."""
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
