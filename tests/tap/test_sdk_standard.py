"""singer-sdk's standard tap test suite against a small emulator.

The suite's runner syncs once per class, so the emulator must exist when the class is built: it is started
at import time (a daemon thread on a free port) and stopped at interpreter exit.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from pipedrive_emulator.server import Emulator
from tap_pipedrive.tap import TapPipedrive
from tests.tap.conftest import catalog_for

_EMULATOR = Emulator(seed=5, scale=0.05)
_EMULATOR.start()
atexit.register(_EMULATOR.stop)

_CONFIG = {"api_url": _EMULATOR.url, "api_token": _EMULATOR.api_token, "page_size": 10}

TestTapPipedrive = get_tap_test_class(
    tap_class=TapPipedrive,
    config=_CONFIG,
    suite_config=SuiteConfig(max_records_limit=40),
    parse_env_config=False,
    # every stream, the per-parent children (opt-in by default) too
    catalog=catalog_for(TapPipedrive(config=_CONFIG, parse_env_config=False), None),
)
