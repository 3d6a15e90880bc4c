#!/usr/bin/env bash
# Install everything the test suite needs into .venv and run it: lint, types, then pytest.
# Usage: bash scripts/test.sh [pytest args...]   (e.g. -m "not e2e" for the fast part only)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,bench]"

# The end-to-end tests use the real PostgreSQL on 127.0.0.1:5432; start it if it is stopped.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest "$@"
