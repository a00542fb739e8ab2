"""The status page, rendered by headless Chromium against a live gateway."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from localservices import ROOT, Broker, Gateway, query, wait_until
from tests.fleet_check import load_truth, run_simulator, wait_for_everything

pytestmark = pytest.mark.live
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=6000"]


def test_status_page_in_chromium(broker: Broker, db_url: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs it)")
    gw = Gateway(broker.url, db_url, tmp_path)
    gw.start()
    try:
        truth_file = tmp_path / "truth.json"
        assert run_simulator(broker.url, truth_file, "--vehicles", "4", "--days", "2",
                             "--seed", "60", "--garbage", "0.01").wait(120) == 0
        truth = load_truth(truth_file)
        wait_for_everything(db_url, truth)
        wait_until(lambda: query(db_url, "SELECT count(*) FROM dirty_hours")[0][0] == 0, 60,
                   "derivations")
        vin = next(iter(truth["vehicles"]))
        url = f"{gw.base}/?vin={vin}"
        profile = tempfile.mkdtemp()
        dom = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
        assert "broker connected" in dom
        assert "malformed" in dom or "oversize" in dom or "vin_mismatch" in dom  # dead letters
        for label in ("active", "declining", "lapsing", "dormant", "not yet derived"):
            if f"<td>{label}</td>" in dom:
                break
        else:
            raise AssertionError("fleet by segment table is empty")
        assert dom.count("<path") >= 2  # odometer and speed charts of the VIN
        shot = tmp_path / "status.png"
        subprocess.run(["bash", str(ROOT / "scripts" / "status_screenshot.sh"), url, str(shot)],
                       check=True, timeout=120, capture_output=True)
        assert shot.stat().st_size > 10_000
    finally:
        gw.stop()
