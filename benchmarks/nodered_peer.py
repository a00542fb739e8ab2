"""Issue 7's optional peer: Node-RED 4 with an mqtt-in -> function (pg pool INSERT) flow
(benchmarks/nodered/flows.json), drained on W1's backlog exactly like the naive baseline and
timed from its own rows. Node-RED and ``pg`` are installed on demand with ``npm ci``.

    python -m benchmarks.nodered_peer [--messages 20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from benchmarks.harness import Rig, peak_rss_mb, proc_cpu
from benchmarks.limits import naive_table
from benchmarks.workloads import W1
from localservices import ROOT, free_port, wait_until

HERE = ROOT / "benchmarks" / "nodered"
PROBE = '{"v": 1, "vin": "PROBE", "t0": 0, "signals": {}}'


def ensure_installed() -> Path:
    """Node-RED's ``red.js``, after ``npm ci`` from the lock file if it is not there yet."""
    red = HERE / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("npm not found: the Node-RED peer needs Node.js >= 18 and npm")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=HERE,
                       check=True, timeout=900)
    return red


class NodeRed:
    """One Node-RED process running the peer flow against ``rig``'s broker and database."""

    def __init__(self, rig: Rig, work: Path) -> None:
        self.rig = rig
        self.userdir = work / f"nodered-{time.monotonic_ns()}"
        self.userdir.mkdir(parents=True)
        self.log = self.userdir / "node-red.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Node-RED; return once the function node's pool is ready."""
        env = {**os.environ, "MQTT_PORT": str(self.rig.broker.port), "DB_URL": self.rig.db,
               "NODE_RED_PORT": str(free_port())}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["node", str(ensure_installed()), "--settings", str(HERE / "settings.js"),
                 "--userDir", str(self.userdir), str(HERE / "flows.json")],
                cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: b"pool ready" in self.log.read_bytes(), 60, "Node-RED's pool")

    def stop(self) -> None:
        """SIGINT (Node-RED closes its flows; the MQTT session stays at the broker)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)

    def create_session(self) -> None:
        """Run until a probe message round-trips (so the subscription exists), then stop."""
        self.start()
        with psycopg.connect(self.rig.db, autocommit=True) as conn:
            def stored() -> bool:
                subprocess.run(["mosquitto_pub", "-p", str(self.rig.broker.port), "-q", "1",
                                "-t", "vehicles/PROBE/telemetry/json", "-m", PROBE], check=True)
                return naive_table(conn)[0] > 0
            wait_until(stored, 60, "Node-RED storing a probe", every=1)
            self.stop()
            conn.execute("TRUNCATE naive")


@dataclass(frozen=True, slots=True)
class PeerRun:
    """What one Node-RED drain gave."""

    rate: float
    cpu_us_per_message: float
    peak_rss_mb: float


def nodered_drain(work: Path, w: W1, *args: str) -> PeerRun:
    """Node-RED on W1's backlog, timed from its rows (first to last insert)."""
    rig = Rig(work, 0)
    peer = NodeRed(rig, work)
    try:
        peer.create_session()
        rig.publish("w1", 1, args)
        peer.start()
        assert peer.proc is not None
        cpu0 = proc_cpu(peer.proc.pid)
        with psycopg.connect(rig.db, autocommit=True) as conn:
            def done() -> bool:
                return naive_table(conn)[0] >= w.messages
            wait_until(done, 1800, f"Node-RED storing {w.messages} messages", every=0.2)
            cpu = proc_cpu(peer.proc.pid) - cpu0
            rss = peak_rss_mb(peer.proc.pid)
            time.sleep(1)  # anything beyond the workload (a duplicate) would show now
            rows, seconds = naive_table(conn)
        assert rows == w.messages, f"Node-RED stored {rows}"
        return PeerRun(w.messages / seconds, cpu / w.messages * 1e6, rss)
    finally:
        peer.stop()
        rig.close()


def main() -> None:
    """Drain W1 with the Node-RED peer alone and print its rate."""
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=20_000)
    a = p.parse_args()
    w = W1(a.messages, base_ms=int(time.time() * 1000) - 3_600_000)
    run = nodered_drain(Path(tempfile.mkdtemp(prefix="bench-")), w,
                        "--messages", str(w.messages), "--base-ms", str(w.base_ms))
    print(f"Node-RED 4 (mqtt in -> function pg pool INSERT): {describe(run)}")


def describe(run: PeerRun) -> str:
    """One line of figures."""
    return (f"{run.rate:,.0f} msg/s, Node-RED CPU {run.cpu_us_per_message:.0f} us/msg"
            f" (from its pool being ready), peak RSS {run.peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
