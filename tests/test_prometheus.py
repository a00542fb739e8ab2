"""Real Prometheus (Debian's build, unpacked by scripts/setup.sh) with the shipped scrape
config and alerting rules, scraping a live gateway that the simulator feeds: every PromQL
expression of the Grafana dashboards and every alert's signal returns data through
Prometheus's own API, the rules pass ``promtool``, and the dead-letter alert goes pending
when garbage arrives."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from localservices import ROOT, Broker, Gateway, free_port, wait_until
from tests.fleet_check import load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live
DEPLOY = ROOT / "deploy" / "prometheus"
BOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
PROM_BIN = CACHE / "telematics-gateway" / "prometheus" / "usr" / "bin"
COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[-+0-9.e]+\s*$")


def binary(name: str) -> str:
    """Prometheus's binaries: those scripts/setup.sh unpacked, else on the PATH."""
    path = PROM_BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not found: run scripts/setup.sh (it unpacks Debian's prometheus)"
    return found


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_expressions() -> list[str]:
    out = []
    for board in BOARDS:
        for panel in json.loads(board.read_text())["panels"]:
            if panel["datasource"]["uid"].lower().startswith("prom"):
                out += [t["expr"] for t in panel["targets"]]
    return out


def signals(expr: str) -> list[str]:
    """What an alert watches: each side of an ``and``, without its threshold."""
    return [COMPARISON.sub("", part) for part in expr.split(" and ")]


def test_promtool_accepts_the_rules_and_the_config() -> None:
    for args in (["check", "rules", str(DEPLOY / "alerts.yml")],
                 ["check", "config", str(DEPLOY / "prometheus.yml")]):
        done = subprocess.run([binary("promtool"), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_names_metrics_the_gateway_exports() -> None:
    assert {r["alert"] for r in rules()} >= {
        "TelematicsIngestStalled", "TelematicsDeadLetterRate", "TelematicsLagHigh",
        "TelematicsBrokerDisconnected", "TelematicsDerivationErrors"}
    for rule in rules():
        assert signals(rule["expr"]) and all(signals(rule["expr"])), rule


class Prometheus:
    """Our own Prometheus on a free port, scraping one gateway every second."""

    def __init__(self, workdir: Path, target: str) -> None:
        conf = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
        conf["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
        conf["scrape_configs"][0]["static_configs"] = [{"targets": [target]}]
        shutil.copy(DEPLOY / "alerts.yml", workdir / "alerts.yml")
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(conf))
        self.port = free_port()
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [binary("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def has_data(self, expr: str) -> bool:
        try:
            return bool(self.api("query", query=expr)["result"])
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


@pytest.mark.timeout(600)
def test_dashboards_and_alerts_through_a_real_prometheus(broker: Broker, db_url: str,
                                                         tmp_path: Path) -> None:
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    prom = Prometheus(tmp_path, f"127.0.0.1:{gw.port}")
    try:
        wait_until(lambda: prom.has_data('up{job="telematics-gateway"} == 1'), 60,
                   "Prometheus scraping the gateway")
        truth_file = tmp_path / "truth.json"
        assert run_simulator(broker.url, truth_file, "--vehicles", "4", "--days", "1",
                             "--seed", "61", "--garbage", "0.05").wait(180) == 0
        wait_for_everything(db_url, load_truth(truth_file))
        time.sleep(3)  # a few more scrapes after the last commit: rates over the traffic
        missing = [e for e in dashboard_expressions() if not prom.has_data(e)]
        assert missing == [], "dashboard expressions without data"
        for rule in rules():
            for signal in signals(rule["expr"]):
                wait_until(_has(prom, signal), 30, f"{rule['alert']}: {signal}")
        assert prom.has_data(rules_by_name()["TelematicsDeadLetterRate"])  # it holds now

        def pending(name: str) -> bool:
            groups = prom.api("rules", type="alert")["groups"]
            return any(r["name"] == name and r["state"] in ("pending", "firing")
                       for g in groups for r in g["rules"])
        wait_until(lambda: pending("TelematicsDeadLetterRate"), 30, "dead-letter alert pending")
        assert not pending("TelematicsBrokerDisconnected")
        assert not pending("TelematicsGatewayDown")
        broker.stop()
        wait_until(lambda: prom.has_data("telematics_broker_connected == 0"), 60,
                   "the gateway reports the broker gone")
        wait_until(lambda: pending("TelematicsBrokerDisconnected"), 30, "broker alert pending")
    finally:
        prom.stop()
        gw.stop()


def _has(prom: Prometheus, expr: str) -> Callable[[], bool]:
    return lambda: prom.has_data(expr)


def rules_by_name() -> dict[str, str]:
    return {r["alert"]: r["expr"] for r in rules()}
