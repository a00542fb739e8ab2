#!/usr/bin/env bash
# Builds TimescaleDB from the vendored source (../shared/vendor, when present) into a private
# copy of the machine's PostgreSQL 15 installation, once per machine, cached outside the
# clone. The system PostgreSQL is not touched: the tests start their own server from this
# copy, with the extension preloaded. Prints the copy's bin directory; exits 3 (with a
# notice) when the archive is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.28.3
archive=${TIMESCALEDB_ARCHIVE:-../shared/vendor/timescaledb-$version.tar.gz}
[ -f "$archive" ] || archive=/work/shared/vendor/timescaledb-$version.tar.gz
# outside the clone and readable by the postgres user (the tests run the server as that
# user when they run as root: initdb refuses root)
prefix="${TELEMATICS_BUILD_CACHE:-/var/tmp/telematics-gateway}/pg15-timescaledb-$version"
bin="$prefix/usr/lib/postgresql/15/bin"
if [ -f "$prefix/.built" ]; then echo "$bin"; exit 0; fi
if [ ! -f "$archive" ]; then
  echo "timescaledb: $archive not found; the tests run on partitioned PostgreSQL only" >&2
  exit 3
fi
mkdir -p "$(dirname "$prefix")" && chmod 755 "$(dirname "$prefix")"
rm -rf "$prefix" && mkdir -p "$prefix/usr/lib/postgresql" "$prefix/usr/share/postgresql" \
  "$prefix/usr/include"
cp -a /usr/lib/postgresql/15 "$prefix/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$prefix/usr/share/postgresql/"
cp -a /usr/include/postgresql "$prefix/usr/include/"
work=$(mktemp -d)
tar xzf "$archive" -C "$work"
(cd "$work/timescaledb-$version" \
  && ./bootstrap -DPG_CONFIG="$bin/pg_config" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
       -DWARNINGS_AS_ERRORS=OFF -DLINTER=OFF >"$work/bootstrap.log" 2>&1 \
  && cd build && make -j2 >"$work/make.log" 2>&1 && make install >"$work/install.log" 2>&1) \
  || { echo "timescaledb: build failed, logs in $work" >&2; exit 1; }
rm -rf "$work"
touch "$prefix/.built"
echo "$bin"
