"""``pipedrive-emulator``: serve the emulator until SIGINT/SIGTERM.

    pipedrive-emulator --port 8765 --seed 1 --scale 1 [--latency-ms 20] [--burst 40] [--daily-budget 60000]
                       [--faults "500:count=3:path=/api/v2/deals,malformed:p=0.01"] [--no-v1-sunset]
                       [--token T] [--sizes deals=50000,persons=50000] [--custom-fields 30]
                       [--oauth-client-id ID --oauth-client-secret S --oauth-refresh-token R]

Prints the URL and the API token on the first line of stdout (JSON) so scripts can read them.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .auth import OAuthSettings
from .faults import parse_spec
from .server import Emulator


def _sizes(text: str) -> dict[str, int]:
    out = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = pair.partition("=")
        out[name] = int(count)
    return out


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="pipedrive-emulator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--sizes", type=_sizes, default=None, help="overrides, e.g. deals=50000,persons=50000")
    p.add_argument("--custom-fields", type=int, default=18, help="custom fields per entity")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--jitter-ms", type=float, default=0)
    p.add_argument("--burst", type=int, default=None, help="requests per rolling 2 s window")
    p.add_argument("--daily-budget", type=int, default=None, help="daily token budget")
    p.add_argument("--faults", default=None, help="fault rules, see pipedrive_emulator.faults")
    p.add_argument("--no-v1-sunset", action="store_true", help="serve legacy v1 entity endpoints")
    p.add_argument("--plan", default="growth", choices=("lite", "growth", "premium", "ultimate"),
                   help="the account's plan: deal installments need growth or above (402 below)")
    p.add_argument("--token", default="emulator-token")
    p.add_argument("--oauth-client-id", default=None)
    p.add_argument("--oauth-client-secret", default="emulator-secret")
    p.add_argument("--oauth-refresh-token", default="emulator-refresh-0")
    p.add_argument("--oauth-ttl", type=int, default=3600, help="access token lifetime (fake-clock seconds)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted."""
    args = parser().parse_args(argv)
    if args.faults:
        parse_spec(args.faults)  # fail fast on a bad spec
    oauth = None
    if args.oauth_client_id:
        oauth = OAuthSettings(args.oauth_client_id, args.oauth_client_secret, args.oauth_refresh_token,
                              args.oauth_ttl)
    emulator = Emulator(seed=args.seed, scale=args.scale, latency_ms=args.latency_ms, burst=args.burst,
                        daily_budget=args.daily_budget, faults=args.faults, v1_sunset=not args.no_v1_sunset,
                        api_token=args.token, oauth=oauth, port=args.port, sizes=args.sizes,
                        custom_fields_per_entity=args.custom_fields, jitter_ms=args.jitter_ms, host=args.host,
                        plan=args.plan)
    url = emulator.start()
    print(json.dumps({"url": url, "api_token": args.token, "seed": args.seed}), flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
