#!/usr/bin/env bash
# Screenshot of the HTML report in headless Chromium (Debian: apt-get install chromium).
#   bash scripts/screenshot.sh [reports/index.html] [docs/report.png] [height]
set -euo pipefail
html=${1:-reports/index.html}
out=${2:-docs/report.png}
height=${3:-3000}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1200,"$height" \
  --screenshot="$(realpath -m "$out")" "file://$(realpath "$html")" 2>/dev/null
echo "wrote $out"
