"""What the Meltano end-to-end tests share: the real PostgreSQL and Meltano run from its own venv."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MELTANO = ROOT / "scripts" / "meltano.sh"
#: Meltano's own executable in the venv scripts/meltano.sh creates (for projects outside this repository)
MELTANO_BIN = ROOT / ".meltano" / "meltano-venv" / "bin" / "meltano"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_available() -> bool:
    """Whether the local PostgreSQL answers (database ``test``, trust auth)."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def meltano(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/meltano.sh`` and fail the test with its output tail if it fails."""
    result = subprocess.run(["bash", str(MELTANO), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"meltano {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def installed_meltano_env(*cleared_prefixes: str) -> dict[str, str]:
    """An environment for ``meltano run`` in the dev environment, with ``meltano install`` done.

    Variables starting with ``cleared_prefixes`` are dropped so the developer's own settings cannot leak in.
    Skips the test when PostgreSQL or python3 is missing.
    """
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (database test)")
    if shutil.which("python3") is None:
        pytest.skip("python3 is needed to create Meltano's venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(cleared_prefixes)}
    env["MELTANO_ENVIRONMENT"] = "dev"
    meltano("install", env=env)
    return env


def build_wheel(out: Path) -> Path:
    """Build this repository's wheel into ``out`` and return its path."""
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("pipedrive_singer-*.whl")
    return wheel


def free_port() -> int:
    """A TCP port nobody listens on right now (for programs that take a port number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
