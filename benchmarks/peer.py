"""The peer: singer-io tap-pipedrive 2.1.0 from PyPI, in its own virtualenv ``benchmarks/.peer-venv``.

``python -m benchmarks.peer`` creates the virtualenv and installs the peer (idempotent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

from benchmarks.peer_entry import WIDENED_TYPES

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peer-venv"
PEER_PACKAGE = "tap-pipedrive==2.1.0"
PEER_ENTRY = HERE / "peer_entry.py"


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def peer_installed() -> bool:
    py = peer_python()
    if not py.exists():
        return False
    probe = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('tap-pipedrive'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "2.1.0"


def ensure_peer(*, quiet: bool = True) -> Path:
    """Create the peer's virtualenv and install tap-pipedrive 2.1.0 into it if needed; return its Python."""
    if peer_installed():
        return peer_python()
    if not peer_python().exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
    cmd = [str(peer_python()), "-m", "pip", "install", PEER_PACKAGE]
    if quiet:
        cmd.insert(4, "--quiet")
    subprocess.run(cmd, check=True)
    return peer_python()


def peer_command(base_url: str, config: Path, catalog: Path | None = None, state: Path | None = None) -> list[str]:
    # -I: ignore PYTHONPATH and the script directory, so our own tap_pipedrive can never shadow the peer
    cmd = [str(peer_python()), "-I", str(PEER_ENTRY), base_url, "--config", str(config)]
    if catalog is not None:
        cmd += ["--catalog", str(catalog)]
    if state is not None:
        cmd += ["--state", str(state)]
    return cmd


def schema_patch_note() -> str:
    """The results note that says which stale entries of the peer's schema ``peer_entry.py`` widened, and to what."""
    fields = "; ".join(f"`{stream}.{name}` also accepts {' or '.join(types)}"
                       for stream, widened in WIDENED_TYPES.items() for name, types in widened.items())
    return (f"The peer ran with stale entries of its schema widened to the types Pipedrive's v2 OpenAPI document "
            f"gives them ({fields}); its requests and per-record work are its own (benchmarks/PEER_NOTES.md).")


def write_peer_config(path: Path, *, api_token: str, start_date: str = "2000-01-01T00:00:00Z") -> Path:
    path.write_text(json.dumps({"api_token": api_token, "start_date": start_date, "request_timeout": 120}))
    return path


def peer_catalog(base_url: str, config: Path, out: Path, streams: list[str]) -> Path:
    """Discover with the peer (it calls the *Fields endpoints) and select only ``streams``."""
    proc = subprocess.run(
        [*peer_command(base_url, config), "--discover"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"peer discovery failed:\n{proc.stderr[-3000:]}")
    catalog = json.loads(proc.stdout)
    select_streams(catalog, streams)
    out.write_text(json.dumps(catalog))
    return out


def select_streams(catalog: dict, streams: list[str]) -> dict:
    """Mark exactly ``streams`` selected (root breadcrumb) in a Singer catalog, in place."""
    for entry in catalog["streams"]:
        wanted = entry["tap_stream_id"] in streams or entry.get("stream") in streams
        root = None
        for meta in entry.get("metadata", []):
            if meta.get("breadcrumb") in ([], ()):
                root = meta
        if root is None:
            root = {"breadcrumb": [], "metadata": {}}
            entry.setdefault("metadata", []).append(root)
        root["metadata"]["selected"] = wanted
    return catalog


if __name__ == "__main__":
    print(ensure_peer(quiet="-v" not in sys.argv))
