"""Mutual TLS and passwords to the broker, and the ACL that binds a vehicle to its VIN."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import msgpack
import pytest

from localservices import ROOT, Broker, Gateway, query, wait_until

pytestmark = pytest.mark.live
VIN_A, VIN_B = "WVWZZZ1JZXW000011", "WVWZZZ1JZXW000022"


def make_pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate for the gateway."""
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    for name in ("server", "gateway"):
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout",
            f"{name}.key", "-out", f"{name}.csr")
        (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext")


def test_mutual_tls_passwords_and_vin_acl(tmp_path: Path, db_url: str) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    passwd = tmp_path / "passwd"
    for user, pw in (("gateway", "gw-secret-1"), (VIN_A, "car-a-secret")):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if user == "gateway" else []),
                        str(passwd), user, pw], check=True)
    acl = (ROOT / "deploy" / "mosquitto" / "acl").read_text()
    broker = Broker(tmp_path / "broker", extra_conf=(
        f"cafile {pki}/ca.crt\ncertfile {pki}/server.crt\nkeyfile {pki}/server.key\n"
        f"require_certificate true\npassword_file {passwd}\nacl_file {tmp_path}/acl\n"))
    (tmp_path / "acl").write_text(acl)
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true",
                                                           "allow_anonymous false"))
    broker.start()
    tls = {"mqtt_ca_file": str(pki / "ca.crt"), "mqtt_cert_file": str(pki / "gateway.crt"),
           "mqtt_key_file": str(pki / "gateway.key")}
    url = f"mqtts://gateway:gw-secret-1@127.0.0.1:{broker.port}"
    gw = Gateway(url, db_url, tmp_path, **tls)
    try:
        gw.start()
        t0 = int(time.time() * 1000) - 60_000

        def publish(as_vin: str, password: str, topic_vin: str, seq: int) -> None:
            payload = tmp_path / f"m{seq}.bin"
            payload.write_bytes(msgpack.packb({"v": 1, "vin": topic_vin, "seq": seq, "t0": t0,
                                               "dt": [seq], "signals": {"Vehicle.Speed": [9.0]}}))
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q",
                            "1", "--cafile", str(pki / "ca.crt"), "--cert",
                            str(pki / "gateway.crt"), "--key", str(pki / "gateway.key"),
                            "-u", as_vin, "-P", password, "-t", f"vehicles/{topic_vin}/telemetry",
                            "-f", str(payload)], check=True, timeout=10)

        publish(VIN_A, "car-a-secret", VIN_A, 1)      # its own topic: allowed
        publish(VIN_A, "car-a-secret", VIN_B, 2)      # another car's topic: dropped by the ACL
        wait_until(lambda: query(db_url, "SELECT count(*) FROM samples")[0][0] >= 1, 20,
                   "car A's sample")
        time.sleep(1.5)
        vins = {r[0] for r in query(db_url, "SELECT vin FROM vehicles")}
        assert vins == {VIN_A}
        # without a client certificate the broker refuses the gateway
        gw2 = Gateway(url, db_url, tmp_path, mqtt_ca_file=str(pki / "ca.crt"))
        with pytest.raises((TimeoutError, RuntimeError)):
            gw2.start(timeout=5)
        gw2.stop()
    finally:
        gw.stop()
        broker.stop()
