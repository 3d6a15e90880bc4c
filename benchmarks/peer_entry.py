"""Entry point for the peer (singer-io tap-pipedrive 2.1.0), run with the peer's own virtualenv Python.

tap-pipedrive 2.1.0 hard-codes ``BASE_URL = "https://api.pipedrive.com"`` (``tap_pipedrive/config.py``,
imported by name into ``tap_pipedrive/tap.py``) and has no setting for it, so this wrapper points that one
module global at the emulator and then calls the peer's own ``main()`` unchanged.

Usage: ``<peer-venv>/bin/python benchmarks/peer_entry.py http://127.0.0.1:PORT --config c.json --catalog k.json``
Only the standard library and the peer are imported here (this file runs outside the project venv).
"""

import sys


def main() -> None:
    base_url = sys.argv[1].rstrip("/")
    sys.argv = ["tap-pipedrive", *sys.argv[2:]]
    import tap_pipedrive.tap as peer_tap  # noqa: PLC0415 - after argv is set

    peer_tap.BASE_URL = base_url
    from tap_pipedrive.cli import main as peer_main  # noqa: PLC0415

    peer_main()


if __name__ == "__main__":
    main()
