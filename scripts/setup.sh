#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, idempotently:
# Debian packages (Mosquitto, its clients, PostgreSQL, docker-compose for the config check)
# when missing, a virtualenv with the project, a running local PostgreSQL, and Prometheus's
# binaries for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v psql >/dev/null || need+=(postgresql postgresql-client)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(nodejs npm)
# other MQTT brokers for the interoperability tests (each test starts its own instance)
command -v nats-server >/dev/null || need+=(nats-server)
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v ejabberdctl >/dev/null || need+=(ejabberd)
# to build TimescaleDB from the vendored source (scripts/build_timescaledb.sh)
[ -d /usr/include/postgresql/15/server ] || need+=(postgresql-server-dev-15)
command -v cmake >/dev/null || need+=(cmake)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]} (needs root and apt-get)" >&2
    exit 1
  fi
fi

# PostgreSQL on 127.0.0.1:5432 (trust auth for the postgres user, as on Debian test machines).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "setup: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  rm -f .venv/.installed-*; touch "$stamp"
fi
# Real-world DBC files for the tests (the opendbc collection, MIT): only its data files are
# read, so its runtime dependencies are not installed
if ! .venv/bin/python -c "import importlib.metadata as m; m.distribution('opendbc')" 2>/dev/null; then
  .venv/bin/pip install -q --no-deps "opendbc==0.3.1"
fi
# PGlite + TimescaleDB (WASM) for tests/test_timescale.py: TimescaleDB is not packaged here
if [ ! -d tests/timescale/node_modules ]; then
  (cd tests/timescale && npm install --silent --no-audit --no-fund --legacy-peer-deps >/dev/null)
fi
# Prometheus and promtool for tests/test_prometheus.py: the Debian package's binaries only,
# unpacked into a cache outside the clone (installing the package would start a system
# Prometheus; the tests start their own)
prom_dir="${XDG_CACHE_HOME:-$HOME/.cache}/telematics-gateway/prometheus"
if [ ! -x "$prom_dir/usr/bin/prometheus" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get download prometheus >/dev/null; }; })
  mkdir -p "$prom_dir"
  dpkg-deb -x "$tmp"/prometheus_*.deb "$prom_dir"
  rm -rf "$tmp"
fi
# TimescaleDB for the tests: built once per machine from ../shared/vendor into a private
# copy of PostgreSQL 15 (about 5 minutes; skipped with a notice when the archive is absent)
ts_rc=0
bash scripts/build_timescaledb.sh >/dev/null || ts_rc=$?
if [ "$ts_rc" != 0 ] && [ "$ts_rc" != 3 ]; then exit "$ts_rc"; fi
echo "setup: ok"
