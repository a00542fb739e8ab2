#!/usr/bin/env bash
# Screenshot of the status page with headless Chromium (Debian package chromium).
#   bash scripts/status_screenshot.sh [URL] [OUT.png]
# e.g. bash scripts/status_screenshot.sh "http://127.0.0.1:8080/?vin=LSVAU2180N2183294" status.png
set -euo pipefail
url=${1:-http://127.0.0.1:8080/}
out=${2:-status.png}
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --window-size=1280,1100 --virtual-time-budget=6000 \
  --screenshot="$out" "$url" 2>/dev/null
echo "$out"
