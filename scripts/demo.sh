#!/usr/bin/env bash
# The quick start in one command: install, start the emulator with seeded data on 127.0.0.1:$PORT, run
# `meltano run tap-pipedrive target-csv` against it, stop the emulator and show what was written.
# Usage: bash scripts/demo.sh            (port 8765)
#        PORT=18401 bash scripts/demo.sh (any free port; the plugins are pointed at it)
#        OUT=/tmp/pd bash scripts/demo.sh (CSV directory; default output/csv)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8765}
URL="http://127.0.0.1:$PORT"
OUT=${OUT:-output/csv}
LOG=${EMULATOR_LOG:-.emulator.log}

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# install on first use (after a pull that adds dependencies: .venv/bin/pip install -e ".[emulator]")
if ! .venv/bin/python -c "import faker, tap_pipedrive, pipedrive_emulator" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[emulator]"
fi

echo "==> starting pipedrive-emulator on $URL (seed 1)"
.venv/bin/pipedrive-emulator --port "$PORT" --seed 1 --scale 1 >"$LOG" 2>&1 &
EMU=$!
trap 'kill $EMU 2>/dev/null || true; wait $EMU 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
  grep -q '"url"' "$LOG" 2>/dev/null && break
  if ! kill -0 $EMU 2>/dev/null; then
    echo "error: pipedrive-emulator did not start on port $PORT: $(grep -v '^\s*$' "$LOG" | tail -n1) (full log: $LOG)" >&2
    exit 1
  fi
  sleep 0.2
done

# One request before Meltano starts: a dead or wrong address fails here in seconds, not after the tap's retries.
if ! .venv/bin/python - "$URL" <<'PY'
import sys
import urllib.request

request = urllib.request.Request(sys.argv[1] + "/v1/users?limit=1", headers={"x-api-token": "emulator-token"})
try:
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback only
        sys.exit(0 if answer.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
then
  echo "error: the emulator is not reachable at $URL (log: $LOG); is another program on port $PORT?" >&2
  exit 1
fi

# meltano.yml's dev environment names port 8765; these point both plugins at this run's emulator, whatever
# the port, and keep a token from your shell or .env away from the emulator.
export TAP_PIPEDRIVE_API_URL=$URL TARGET_PIPEDRIVE_API_URL=$URL
export TAP_PIPEDRIVE_API_TOKEN=emulator-token TARGET_PIPEDRIVE_API_TOKEN=emulator-token
export TARGET_CSV_OUTPUT_PATH=$OUT
# CSV has no nested values: the tap flattens objects one level into columns (person__name) and writes lists and
# deeper objects as JSON text (target-csv alone would print Python reprs such as [{'value': ..., 'primary': True}])
export TAP_PIPEDRIVE_FLATTENING_ENABLED=true TAP_PIPEDRIVE_FLATTENING_MAX_DEPTH=1

echo "==> meltano install (plugins pinned by plugins/**/*.lock; no Meltano Hub needed)"
bash scripts/meltano.sh install >/dev/null
mkdir -p "$OUT"
echo "==> meltano run --full-refresh tap-pipedrive target-csv (tap-pipedrive -> $URL)"
# --full-refresh: the demo always shows the whole data set, also on a second run
bash scripts/meltano.sh --environment=dev run --no-install --full-refresh tap-pipedrive target-csv

echo
echo "Done. The data is in $OUT/ (one CSV file per stream; rows, header included):"
(cd "$OUT" && wc -l -- *.csv)
echo
echo "Custom fields have readable names and option labels (custom_field_names: name, resolve_option_labels: true);"
echo "nested objects are columns (person__name), lists are JSON. The columns of deals.csv:"
head -n1 "$OUT/deals.csv" | tr ',' '\n' | paste -sd' ' | fold -s -w 110
