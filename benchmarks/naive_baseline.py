"""The baseline a typical developer writes: paho on_message -> json.loads -> one INSERT per
message, autocommit. Kept as a reference for benchmarks/run.py; not production code.

    python -m benchmarks.naive_baseline MQTT_PORT DB_URL EXPECTED
"""

from __future__ import annotations

import json
import sys
import threading

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion


def main() -> None:
    """Subscribe (persistent session), insert every message, exit after EXPECTED."""
    port, db_url, expected = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    db = psycopg.connect(db_url, autocommit=True)
    # ``at`` only lets the benchmark time the drain from the rows, as it does for ours
    db.execute("CREATE TABLE IF NOT EXISTS naive (vin text, ts bigint, data jsonb,"
               " at timestamptz DEFAULT clock_timestamp())")
    done = threading.Event()
    seen = 0

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal seen
        seen += 1
        try:
            doc = json.loads(msg.payload)
            db.execute("INSERT INTO naive VALUES (%s, %s, %s)",
                       (doc["vin"], doc["t0"], json.dumps(doc["signals"])))
        except Exception:  # noqa: S110 - what the naive version does
            pass
        if seen >= expected:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-baseline",
                         clean_session=False)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("vehicles/+/telemetry/json", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(2 if expected == 0 else 1800)  # 0: only create the session
    client.loop_stop()


if __name__ == "__main__":
    main()
