"""Other MQTT brokers for interoperability tests, each started privately on free ports
from the machine's packages: the NATS server (MQTT 3.1.1 backed by JetStream) and a
RabbitMQ node with its MQTT plugin (3.1.1). The system's own services are never touched."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from localservices import free_port, wait_until


def _accepting(port: int) -> bool:
    import socket
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop_node(proc: subprocess.Popen[bytes] | None, stop: list[str],
               env: dict[str, str] | None) -> None:
    """Stop an Erlang node with its control command, killing its process group if it
    does not end within a minute."""
    if proc and proc.poll() is None:
        subprocess.run(stop, env=env, capture_output=True, timeout=60, check=False)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    time.sleep(0.5)


class NatsBroker:
    """``nats-server`` with JetStream (its store kept across restarts) and MQTT."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "nats.conf").write_text(
            f"server_name: telematics_test\nlisten: 127.0.0.1:{free_port()}\n"
            f"jetstream {{ store_dir: \"{self.dir / 'js'}\" }}\n"
            f"mqtt {{ listen: 127.0.0.1:{self.port} }}\n")

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:<port>"""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait until MQTT accepts connections."""
        with open(self.dir / "nats.log", "ab") as log:
            self.proc = subprocess.Popen(["nats-server", "-c", str(self.dir / "nats.conf")],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: _accepting(self.port), 30, "nats-server MQTT listener")

    def stop(self) -> None:
        """SIGTERM and wait (JetStream keeps the sessions on disk)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


class RabbitBroker:
    """A private RabbitMQ node (own name, ports, data and log folders) with the MQTT
    plugin, anonymous MQTT logins as guest. Debian's ``rabbitmq-server`` runs the node as
    the ``rabbitmq`` user, so its folder lives in /tmp, owned by that user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="telematics-rabbit-"))
        self.port = free_port()
        self.node = f"telematics-test-{uuid.uuid4().hex[:6]}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None
        (self.dir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{free_port()}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\nmqtt.default_user = guest\n"
            "mqtt.default_pass = guest\nloopback_users = none\n"
            "management.tcp.port = 0\n")
        account = pwd.getpwnam("rabbitmq")
        for path in (self.dir, *self.dir.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        self.env = {**os.environ, "RABBITMQ_NODENAME": self.node,
                    "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                    "RABBITMQ_DIST_PORT": str(free_port()),
                    "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.dir / "log"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
                    "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
                    "RABBITMQ_PID_FILE": str(self.dir / "rabbit.pid")}

    @staticmethod
    def available() -> bool:
        """Whether the RabbitMQ server package is installed."""
        return shutil.which("rabbitmq-server") is not None

    @property
    def url(self) -> str:
        """mqtt://127.0.0.1:<port>"""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the node and wait until MQTT accepts connections (about 10 s)."""
        with open(self.dir / "rabbit.out", "ab") as log:
            self.proc = subprocess.Popen(["rabbitmq-server"], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.dir)
        wait_until(lambda: _accepting(self.port), 120, "RabbitMQ MQTT listener", every=0.5)

    def stop(self) -> None:
        """Stop the node (its queues of durable sessions stay on disk)."""
        _stop_node(self.proc, ["rabbitmqctl", "-n", self.node, "stop"], self.env)

    def remove(self) -> None:
        """Delete the node's folder (after the last stop)."""
        shutil.rmtree(self.dir, ignore_errors=True)


class EjabberdBroker:
    """A private ejabberd node serving only MQTT 5 (mod_mqtt), anonymous logins. Debian's
    ``ejabberdctl`` runs the node as the ``ejabberd`` user, so its folder lives in /tmp,
    owned by that user."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="telematics-ejabberd-"))
        self.port = free_port()
        self.node = f"telematics-test-{uuid.uuid4().hex[:6]}@localhost"
        (self.dir / "ejabberd.yml").write_text(
            "hosts:\n  - localhost\nloglevel: warning\nauth_method: [anonymous]\n"
            "anonymous_protocol: login_anon\nlisten:\n  -\n"
            f"    port: {self.port}\n    ip: \"127.0.0.1\"\n    module: mod_mqtt\n"
            "    backlog: 1000\nmodules:\n  mod_mqtt:\n    max_queue: unlimited\n"
            "    session_expiry: 604800\n")
        (self.dir / "ejabberdctl.cfg").write_text("")  # not the system's
        for sub in ("logs", "spool"):
            (self.dir / sub).mkdir()
        account = pwd.getpwnam("ejabberd")
        for path in (self.dir, *self.dir.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether the ejabberd package is installed."""
        return shutil.which("ejabberdctl") is not None

    @property
    def url(self) -> str:
        """mqtt://user:password@127.0.0.1:<port> (anonymous logins still need a user name
        in ejabberd; any name and password are accepted)"""
        return f"mqtt://telematics:anonymous@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> list[str]:
        return ["ejabberdctl", "--node", self.node, "--config-dir", str(self.dir),
                "--ctl-config", str(self.dir / "ejabberdctl.cfg"),
                "--config", str(self.dir / "ejabberd.yml"),
                "--logs", str(self.dir / "logs"), "--spool", str(self.dir / "spool"), *args]

    def start(self) -> None:
        """Start the node in the foreground and wait until MQTT accepts connections."""
        with open(self.dir / "ejabberd.out", "ab") as log:
            self.proc = subprocess.Popen(self._ctl("foreground"), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         cwd=self.dir)
        wait_until(lambda: _accepting(self.port), 120, "ejabberd MQTT listener", every=0.5)

    def stop(self) -> None:
        """Stop the node."""
        _stop_node(self.proc, self._ctl("stop"), None)

    def remove(self) -> None:
        """Delete the node's folder (after the last stop)."""
        shutil.rmtree(self.dir, ignore_errors=True)
