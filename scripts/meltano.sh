#!/usr/bin/env bash
# Run Meltano from its own virtualenv (.meltano/meltano-venv, git-ignored), created on first use.
# Meltano pins SQLAlchemy < 2.1 while singer-sdk pulls 2.1, so it must not share the project's .venv;
# Meltano installs each plugin into .meltano/<type>/<name>/venv itself. psycopg lets Meltano keep its
# system database (state) in PostgreSQL: MELTANO_DATABASE_URI=postgresql+psycopg://... (docs/many-accounts.md).
# Meltano ignores meltano.yml's default_environment in `config`, `select` and `state`; this wrapper selects
# `dev` for every command unless MELTANO_ENVIRONMENT or --environment says otherwise.
# Usage: scripts/meltano.sh install | scripts/meltano.sh run tap-pipedrive target-postgres | ...
set -euo pipefail
cd "$(dirname "$0")/.."
MELTANO_VENV=${MELTANO_VENV:-.meltano/meltano-venv}
MELTANO_VERSION=${MELTANO_VERSION:-4.4.1}
if [ ! -x "$MELTANO_VENV/bin/meltano" ]; then
  "${PYTHON:-python3}" -m venv "$MELTANO_VENV"
  "$MELTANO_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$MELTANO_VENV/bin/python" -m pip install --quiet "meltano==$MELTANO_VERSION" "psycopg[binary]>=3.2"
elif ! "$MELTANO_VENV/bin/python" -c "import psycopg" 2>/dev/null; then
  "$MELTANO_VENV/bin/python" -m pip install --quiet "psycopg[binary]>=3.2"
fi
export PATH="$PWD/$MELTANO_VENV/bin:$PATH"
# `select` rules are written where the environment points: without one they go to the plugin (every
# environment), which is what `meltano select <tap> <stream> <attr>` means; listing needs dev's credentials.
case " $* " in
  *" select "*) case " $* " in *" --list "*) export MELTANO_ENVIRONMENT=${MELTANO_ENVIRONMENT:-dev} ;; esac ;;
  *) export MELTANO_ENVIRONMENT=${MELTANO_ENVIRONMENT:-dev} ;;
esac
exec "$MELTANO_VENV/bin/meltano" "$@"
