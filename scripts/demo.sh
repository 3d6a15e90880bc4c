#!/usr/bin/env bash
# One command for the quick start: install, start the emulator with seeded data on 127.0.0.1, run
# `meltano run tap-pipedrive target-csv` against it, stop the emulator and say where the data went.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8765}
OUT=output/csv  # target-csv output_path in meltano.yml

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

echo "==> starting pipedrive-emulator on 127.0.0.1:$PORT (seed 1)"
.venv/bin/pipedrive-emulator --port "$PORT" --seed 1 --scale 1 >.emulator.log 2>&1 &
EMU=$!
trap 'kill $EMU 2>/dev/null || true; wait $EMU 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '"url"' .emulator.log 2>/dev/null && break
  kill -0 $EMU 2>/dev/null || { cat .emulator.log; exit 1; }
  sleep 0.2
done

echo "==> meltano install (plugins pinned by plugins/**/*.lock; no Meltano Hub needed)"
bash scripts/meltano.sh install >/dev/null
mkdir -p "$OUT"
echo "==> meltano run --full-refresh tap-pipedrive target-csv"
bash scripts/meltano.sh --environment=dev run --full-refresh tap-pipedrive target-csv  # the demo always shows the whole data set

echo
echo "Done. The data is in $PWD/$OUT/ (one CSV file per stream; rows, header included):"
(cd "$OUT" && wc -l -- *.csv)
