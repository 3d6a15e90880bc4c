"""pipedrive_emulator: a faithful local Pipedrive API (v1 and v2) for tests and benchmarks.

See :mod:`pipedrive_emulator.server` for the in-process API and :mod:`pipedrive_emulator.cli` for the
command line; routes come from :mod:`pipedrive_core.catalogue`.
"""

from .auth import OAuthSettings
from .clock import Clock
from .faults import FaultRule
from .server import Emulator, LoggedRequest

__all__ = ["Clock", "Emulator", "FaultRule", "LoggedRequest", "OAuthSettings"]
