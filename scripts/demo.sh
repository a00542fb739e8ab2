#!/usr/bin/env bash
# The main job: a Mosquitto with the project's config, the gateway, and the simulator
# publishing a fleet end to end into the local PostgreSQL. Leaves broker and gateway
# running; `bash scripts/demo.sh stop` stops them.
#   VEHICLES=20 DAYS=7 MQTT_PORT=18830 HTTP=127.0.0.1:8080 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=var/demo
mkdir -p "$RUN/mosquitto-data"

stop() {
  for p in gateway mosquitto; do
    if [ -f "$RUN/$p.pid" ] && kill -0 "$(cat "$RUN/$p.pid")" 2>/dev/null; then
      kill "$(cat "$RUN/$p.pid")"; echo "stopped $p"
    fi
    rm -f "$RUN/$p.pid"
  done
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi
stop >/dev/null

bash scripts/setup.sh
MQTT_PORT=${MQTT_PORT:-18830}
HTTP=${HTTP:-127.0.0.1:8080}
DB_URL=${TELEMATICS_DB_URL:-postgresql://postgres@127.0.0.1:5432/telematics}
VEHICLES=${VEHICLES:-20}
DAYS=${DAYS:-7}

sed -e "s|^listener 1883.*|listener $MQTT_PORT 127.0.0.1|" \
    -e "s|^persistence_location .*|persistence_location $PWD/$RUN/mosquitto-data/|" \
    deploy/mosquitto/mosquitto.conf > "$RUN/mosquitto.conf"
chmod 777 "$RUN/mosquitto-data"
mosquitto -c "$RUN/mosquitto.conf" > "$RUN/mosquitto.log" 2>&1 &
echo $! > "$RUN/mosquitto.pid"

TELEMATICS_MQTT_URL=mqtt://127.0.0.1:$MQTT_PORT TELEMATICS_DB_URL=$DB_URL TELEMATICS_HTTP=$HTTP \
  TELEMATICS_CLIENT_ID=telematics-demo .venv/bin/python -m gateway run --insecure-no-auth > "$RUN/gateway.log" 2>&1 &
echo $! > "$RUN/gateway.pid"
for _ in $(seq 1 60); do
  curl -fsS "http://$HTTP/health" 2>/dev/null | grep -q '"broker_connected": true' && break; sleep 0.5
done
curl -fsS "http://$HTTP/health" >/dev/null || { echo "gateway did not start; see $RUN/gateway.log"; exit 1; }

# a mixed fleet: MessagePack, JSON, raw CAN frames (decoded with each model's DBC, so the
# registry comes first) and protobuf records
FLEET=(--vehicles "$VEHICLES" --days "$DAYS" --seed 1 --json-share 0.15 --can-share 0.2 --pb-share 0.15)
# the dealers, the registry and the service books the dealers' systems hold before the run
.venv/bin/python -m simulator dealers --seed 1 > "$RUN/dealers.ndjson"
.venv/bin/python -m simulator registry "${FLEET[@]}" > "$RUN/vehicles.ndjson"
.venv/bin/python -m simulator services "${FLEET[@]}" > "$RUN/services.ndjson"
TELEMATICS_DB_URL=$DB_URL .venv/bin/python -m gateway import-dealers "$RUN/dealers.ndjson"
TELEMATICS_DB_URL=$DB_URL .venv/bin/python -m gateway import-vehicles "$RUN/vehicles.ndjson"
TELEMATICS_DB_URL=$DB_URL .venv/bin/python -m gateway import-services "$RUN/services.ndjson"
.venv/bin/python -m simulator run "${FLEET[@]}" \
  --mqtt-url "mqtt://127.0.0.1:$MQTT_PORT" --truth "$RUN/truth.json" \
  --duplicates 0.02 --reorder 0.02 --gaps 0.002 --garbage 0.002

echo "waiting for the gateway to commit everything..."
expected=$(.venv/bin/python -c "import json;t=json.load(open('$RUN/truth.json'));print(sum(v['messages'] for v in t['vehicles'].values()))")
for _ in $(seq 1 600); do
  got=$(psql "$DB_URL" -tAc "SELECT count(*) FROM ingest_log") || got=0
  [ "$got" -ge "$expected" ] && break; sleep 1
done
# the visits owners made during the run reach the gateway from the dealers' systems
.venv/bin/python -m simulator services "${FLEET[@]}" --truth "$RUN/truth.json" > "$RUN/services-after.ndjson"
TELEMATICS_DB_URL=$DB_URL .venv/bin/python -m gateway import-services "$RUN/services-after.ndjson"
for _ in $(seq 1 120); do
  dirty=$(psql "$DB_URL" -tAc "SELECT count(*) FROM dirty_hours") || dirty=1
  [ "$dirty" -eq 0 ] && break; sleep 1
done
vin=$(psql "$DB_URL" -tAc "SELECT vin FROM vehicles ORDER BY id LIMIT 1")
dealer=$(psql "$DB_URL" -tAc "SELECT dealer_id FROM vehicles WHERE service_status <> 'ok' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
since=$(date -u -d "$DAYS days ago" +%Y-%m-%d)
echo; echo "Worklist of dealer $dealer (vehicles whose items fall due within 30 days):"
curl -fsS "http://$HTTP/v1/dealers/$dealer/worklist?within_days=30" | .venv/bin/python scripts/show_worklist.py
echo; echo "Service conversion by dealer since $since (CSV):"
curl -fsS "http://$HTTP/v1/reports/service-conversion?by=dealer&format=csv&from=$since" | head -8
echo; echo "Dealer visits seen from the cars' positions, and trouble codes reported:"
psql "$DB_URL" -tAc "SELECT count(*) || ' visits by ' || count(DISTINCT vehicle_id) || ' cars; '
  || (SELECT count(*) FROM service_reminders WHERE closed_by = 'dealer_visit')
  || ' reminders resolved by a visit without a service record' FROM dealer_visits"
psql "$DB_URL" -tAc "SELECT code || ': ' || count(*) FILTER (WHERE cleared_at IS NULL)
  || ' cars active, ' || count(*) FILTER (WHERE cleared_at IS NOT NULL) || ' cleared'
  FROM vehicle_dtcs GROUP BY code ORDER BY code"
echo; echo "Owners per activity x maturity cell yesterday, with the strategy of each cell:"
curl -fsS "http://$HTTP/v1/segments/matrix?by=owner" | .venv/bin/python -c '
import json, sys
m = json.load(sys.stdin)
for a, row in m["cells"].items():
    for level, c in row.items():
        if c["count"]:
            print("  %s/%s: %d owners -> %s" % (a, level, c["count"], c["strategy"]))'
owner=$(psql "$DB_URL" -tAc "SELECT owner_id FROM vehicles WHERE owner_id IS NOT NULL ORDER BY vin LIMIT 1")
cat <<MSG

Done: $got of $expected simulated messages committed (by topic:
$(psql "$DB_URL" -tAc "SELECT s || ': ' || n FROM (SELECT regexp_replace(topic, '^vehicles/[^/]+/', '') s, count(*) n FROM ingest_log GROUP BY 1) x ORDER BY 1")).
  psql $DB_URL -c "SELECT count(*) FROM samples"
  curl -s http://$HTTP/health
  curl -s http://$HTTP/metrics | grep telematics_
  curl -s 'http://$HTTP/v1/vehicles/$vin/signals?name=Vehicle.Speed&from=$(date -u -d "$DAYS days ago" +%Y-%m-%d)&limit=20'
  curl -s 'http://$HTTP/v1/dead-letters?limit=5'
  curl -s 'http://$HTTP/v1/vehicles/$vin/profile?window=7&as_of=$(date -u -d yesterday +%Y-%m-%d)'
  curl -s 'http://$HTTP/v1/vehicles/$vin/trips?from=$(date -u -d "$DAYS days ago" +%Y-%m-%d)'
  curl -s 'http://$HTTP/v1/events?limit=5'      # segment and service events
  curl -s 'http://$HTTP/v1/dealers/$dealer/worklist?within_days=30'
  curl -s 'http://$HTTP/v1/reminders?dealer_id=$dealer'
  curl -s 'http://$HTTP/v1/vehicles/$vin/visits'
  curl -s 'http://$HTTP/v1/vehicles/$vin/dtcs'
  curl -s 'http://$HTTP/v1/vehicles/$vin/software'      # head-unit and vehicle versions
  curl -s 'http://$HTTP/v1/insights/features?by=software_version'
  curl -s 'http://$HTTP/v1/owners/$owner'      # the owner's vehicles, cell, lifetime, usage
  curl -s 'http://$HTTP/v1/reports/service-conversion?by=model&from=$since'
  open http://$HTTP/docs for the API
Logs: $RUN/gateway.log, $RUN/mosquitto.log; ground truth: $RUN/truth.json
Broker and gateway keep running; stop them with: bash scripts/demo.sh stop
MSG
